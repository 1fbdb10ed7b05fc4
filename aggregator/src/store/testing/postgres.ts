// A throwaway Postgres server for tests and benchmarks: Debian's binaries (apt-get install postgresql), a fresh
// cluster in a temp dir on a free loopback port, removed on close(). Postgres refuses to run as root, so as root the
// binaries run as the `postgres` user in a dir it owns. Set VIGIL_TEST_PG_URL to use an existing server instead
// (then stop/start are unavailable; each createDatabase() makes a database there, dropped on close()).
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

const run = promisify(execFile);

/** Where Debian puts the server binaries; VIGIL_PG_BIN overrides. */
export const PG_BIN = process.env.VIGIL_PG_BIN ?? '/usr/lib/postgresql/15/bin';
export const PG_INSTALL_HINT =
  'apt-get install postgresql (deploy/install-test-deps.sh), or set VIGIL_TEST_PG_URL';

export interface TestPostgres {
  /** URL of the server's `postgres` database (superuser, no password). */
  readonly url: string;
  /** Creates a fresh empty database and returns its URL. */
  createDatabase(): Promise<string>;
  /** Stops the server (fast shutdown); connections fail until start(). */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  start(): Promise<void>;
  /** Stops the server and removes its files (or drops the databases made on an external server). Safe twice. */
  close(): Promise<void>;
}

export interface TestPostgresOptions {
  /** Keep fsync and synchronous commit on, as production does (benchmarks). Default off: tests need no durability. */
  durable?: boolean;
  /**
   * Keep the cluster in this directory instead of a temp one: made (initdb) only when it holds none yet, and left in
   * place by close(), which stops the server cleanly. Benchmarks reuse a seeded database this way.
   */
  dir?: string;
  /** Server settings passed as `-c name=value` (e.g. a benchmark's shared_buffers). */
  settings?: Readonly<Record<string, string>>;
  /**
   * An executable pg_ctl starts in place of the server binary (its -p), with the server's arguments: a wrapper that
   * runs the server under a profiler (bench/postgres-instructions.ts).
   */
  executable?: string;
}

export function postgresAvailable(): boolean {
  return externalUrl() !== undefined || existsSync(join(PG_BIN, 'postgres'));
}

function externalUrl(): string | undefined {
  const u = process.env.VIGIL_TEST_PG_URL;
  return u === undefined || u === '' ? undefined : u;
}

export async function startTestPostgres(options: TestPostgresOptions = {}): Promise<TestPostgres> {
  const external = externalUrl();
  return external !== undefined ? new ExternalPostgres(external) : LocalPostgres.create(options);
}

function databaseUrl(serverUrl: string, database: string): string {
  const u = new URL(serverUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

async function adminQuery(serverUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function newDatabaseName(): string {
  return `vigil_test_${randomBytes(6).toString('hex')}`;
}

class ExternalPostgres implements TestPostgres {
  private readonly databases: string[] = [];
  constructor(readonly url: string) {}

  async createDatabase(): Promise<string> {
    const name = newDatabaseName();
    await adminQuery(this.url, `CREATE DATABASE ${name}`);
    this.databases.push(name);
    return databaseUrl(this.url, name);
  }

  stop(): Promise<void> {
    return Promise.reject(new Error('stop() needs the harness-managed server: unset VIGIL_TEST_PG_URL'));
  }

  start(): Promise<void> {
    return Promise.reject(new Error('start() needs the harness-managed server: unset VIGIL_TEST_PG_URL'));
  }

  async close(): Promise<void> {
    for (const name of this.databases.splice(0)) {
      await adminQuery(this.url, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  }
}

class LocalPostgres implements TestPostgres {
  private running = false;
  private closed = false;
  private readonly onExit = (): void => this.killSync();

  private constructor(
    private readonly dir: string,
    private readonly port: number,
    private readonly durable: boolean,
    /** The cluster outlives close() (options.dir). */
    private readonly kept: boolean,
    private readonly settings: Readonly<Record<string, string>>,
    private readonly executable: string | undefined,
  ) {}

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  private get data(): string {
    return join(this.dir, 'data');
  }

  static async create(options: TestPostgresOptions): Promise<LocalPostgres> {
    const kept = options.dir !== undefined;
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'vigil-pg-'));
    try {
      mkdirSync(dir, { recursive: true });
      if (isRoot()) {
        const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
        const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
        chownSync(dir, uid, gid);
      }
      if (!existsSync(join(dir, 'data', 'PG_VERSION'))) {
        rmSync(join(dir, 'data'), { recursive: true, force: true });
        await pgCommand('initdb', [
          '-D',
          join(dir, 'data'),
          '-U',
          'postgres',
          '-A',
          'trust',
          '-E',
          'UTF8',
          '--locale=C',
          '--no-sync',
        ]);
      }
      // A free port can be taken between probing and binding (other test processes): try a few.
      for (let attempt = 1; ; attempt++) {
        const server = new LocalPostgres(
          dir,
          await freePort(),
          options.durable ?? false,
          kept,
          options.settings ?? {},
          options.executable,
        );
        try {
          await server.start();
          return server;
        } catch (err) {
          if (attempt >= 3) throw err;
        }
      }
    } catch (err) {
      if (!kept) rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  async createDatabase(): Promise<string> {
    const name = newDatabaseName();
    await adminQuery(this.url, `CREATE DATABASE ${name}`);
    return databaseUrl(this.url, name);
  }

  async start(): Promise<void> {
    if (this.closed) throw new Error('the test Postgres was closed');
    const settings = [
      `-p ${this.port}`,
      `-k ${this.dir}`,
      '-c listen_addresses=127.0.0.1',
      '-c max_connections=200',
      ...(this.durable ? [] : ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off']),
      ...Object.entries(this.settings).map(([name, value]) => `-c ${name}=${value}`),
    ];
    await pgCommand('pg_ctl', [
      ...(this.executable === undefined ? [] : ['-p', this.executable]),
      '-D',
      this.data,
      '-l',
      join(this.dir, 'server.log'),
      '-o',
      settings.join(' '),
      '-w',
      '-t',
      '60',
      'start',
    ]);
    if (!this.running) process.on('exit', this.onExit);
    this.running = true;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    await pgCommand('pg_ctl', ['-D', this.data, '-m', 'fast', '-w', 'stop']);
    this.running = false;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.running) {
      // A kept cluster is shut down cleanly, so its next start needs no recovery.
      await pgCommand('pg_ctl', [
        '-D',
        this.data,
        '-m',
        this.kept ? 'fast' : 'immediate',
        '-w',
        'stop',
      ]).catch(() => undefined);
      this.running = false;
    }
    process.off('exit', this.onExit);
    if (!this.kept) rmSync(this.dir, { recursive: true, force: true });
  }

  /** Last resort when the test process exits without close(): never leave a server behind. */
  private killSync(): void {
    if (!this.running) return;
    try {
      execFileSync(...pgArgv('pg_ctl', ['-D', this.data, '-m', 'immediate', '-w', 'stop']), {
        stdio: 'ignore',
      });
    } catch {
      // Already gone.
    }
    if (!this.kept) rmSync(this.dir, { recursive: true, force: true });
  }
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

function pgArgv(tool: string, args: string[]): [string, string[]] {
  const bin = join(PG_BIN, tool);
  return isRoot() ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
}

async function pgCommand(tool: string, args: string[]): Promise<void> {
  const [cmd, argv] = pgArgv(tool, args);
  try {
    await run(cmd, argv, { timeout: 90_000 });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${tool} failed: ${(e.stderr ?? '').trim() || (e.stdout ?? '').trim() || e.message}`);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
