// Starts a real Neo4j 5.26 for tests and benchmarks through deploy/neo4j.sh (Java launcher from Maven Central
// artifacts, Bolt on a free loopback port, auth off, data in a temporary directory) and stops it on teardown.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { hasCommand } from '@vigil/shared/testing';

/** deploy/neo4j.sh; the same depth from src/testing and dist/testing. */
export const NEO4J_SCRIPT = fileURLToPath(new URL('../../../deploy/neo4j.sh', import.meta.url));
export const NEO4J_HOW_TO_INSTALL =
  'needs java 17 and mvn: apt-get install -y openjdk-17-jdk-headless maven; deploy/install-test-deps.sh does it';

export function neo4jAvailable(): boolean {
  return hasCommand('java') && hasCommand('mvn');
}

export interface TestNeo4j {
  url: string;
  /** Milliseconds from spawn to the ready line (includes a launcher build if one was needed). */
  startMs: number;
  stop(): Promise<void>;
}

export async function startTestNeo4j(timeoutMs = 170_000): Promise<TestNeo4j> {
  const t0 = performance.now();
  const child = spawn('bash', [NEO4J_SCRIPT, 'run', '0', '--stop-on-eof'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`Neo4j did not start within ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /VIGIL_NEO4J_READY (bolt:\/\/\S+)/.exec(out);
      if (m?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Neo4j launcher exited with ${code} before ready: ${stderr}`));
    });
  });
  const startMs = performance.now() - t0;
  return { url, startMs, stop: () => stopChild(child) };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.stdin?.end(); // with --stop-on-eof the launcher shuts down cleanly on stdin EOF
  });
}
