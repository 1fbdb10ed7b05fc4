// CPU time of a local Postgres server, for the benchmarks that report server CPU per alert beside their own.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** CPU seconds used so far by a local Postgres server: its postmaster and every process it forked. */
export type ServerCpu = () => number;

/**
 * Reads the server's process tree from /proc, found through its data directory's postmaster.pid. Null when the
 * server is not local or the role may not read data_directory (then only wall time and client CPU are reported).
 */
export async function postgresCpu(url: string): Promise<ServerCpu | null> {
  const pids = await postgresPids(url);
  if (pids === null) return null;
  return () => {
    let ticks = 0;
    for (const pid of pids()) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        ticks += Number(f[11]) + Number(f[12]);
      } catch {
        // The process ended between listing and reading.
      }
    }
    return ticks / 100; // USER_HZ
  };
}

/**
 * The process ids of a local Postgres server as they are now: its postmaster and every process it forked (backends,
 * WAL writer, checkpointer...). Null as for postgresCpu.
 */
export async function postgresPids(url: string): Promise<(() => number[]) | null> {
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const dir = (await client.query<{ data_directory: string }>('SHOW data_directory')).rows[0]
      ?.data_directory;
    const pm = Number(readFileSync(join(dir ?? '', 'postmaster.pid'), 'utf8').split('\n')[0]);
    return () => {
      const pids: number[] = [];
      for (const pid of readdirSync('/proc')) {
        if (!/^\d+$/.test(pid)) continue;
        try {
          const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
          const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          if (Number(pid) === pm || Number(f[1]) === pm) pids.push(Number(pid));
        } catch {
          // The process ended between listing and reading.
        }
      }
      return pids;
    };
  } catch {
    return null;
  } finally {
    await client.end();
  }
}
