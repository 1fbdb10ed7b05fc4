// Real processes for the link drills: `vigil` and `vigil-agent` from their bin scripts (built dist), with their
// output collected line by line so a test can wait for what a process says.
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { spawnNode } from '../../node-process.js';

export const VIGIL = fileURLToPath(new URL('../../../bin/vigil.js', import.meta.url));
export const VIGIL_AGENT = fileURLToPath(new URL('../../../../agent/bin/vigil-agent.js', import.meta.url));

export interface Proc {
  child: ChildProcess;
  lines: string[];
  /** Resolves with the first line (stdout or stderr) matching, rejects after timeoutMs or when the process exits. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<string>;
  exited: Promise<number | null>;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

export function start(script: string, args: string[]): Proc {
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const p = spawnNode(script, args, (line) => {
    lines.push(line);
    for (const w of [...waiters]) w();
  });
  const { child } = p;
  const exited = p.exited.then((code) => {
    for (const w of [...waiters]) w();
    return code;
  });
  const proc: Proc = {
    child,
    lines,
    exited,
    waitFor: (pattern, timeoutMs) =>
      new Promise<string>((resolve, reject) => {
        const check = (): void => {
          const hit = lines.find((l) => pattern.test(l));
          if (hit !== undefined) {
            done();
            resolve(hit);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(new Error(`process exited before printing ${String(pattern)}:\n${lines.join('\n')}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(`no line matching ${String(pattern)} within ${timeoutMs} ms:\n${lines.join('\n')}`),
          );
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      }),
    kill9: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    stop: () => p.stop(10_000),
  };
  return proc;
}

/** Runs a command to its end; resolves with its exit code and output lines. */
export async function runToEnd(
  script: string,
  args: string[],
): Promise<{ code: number | null; lines: string[] }> {
  const p = start(script, args);
  const code = await p.exited;
  return { code, lines: p.lines };
}

/** A TCP port free on 127.0.0.1 at the time of asking. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Enrolls an agent the way an operator does, with both programs: `vigil enroll create` prints a token, `vigil-agent
 * enroll` trades it for a certificate. Resolves with the agent's output lines; rejects when either fails.
 */
export async function enrollAgentProcess(o: {
  aggDir: string;
  grpcPort: number;
  facility: string;
  agentDir: string;
}): Promise<string[]> {
  const created = await runToEnd(VIGIL, [
    'enroll',
    'create',
    '--facility',
    o.facility,
    '--data-dir',
    o.aggDir,
  ]);
  if (created.code !== 0) throw new Error(`vigil enroll create failed:\n${created.lines.join('\n')}`);
  const token = created.lines.filter((l) => l.trim() !== '').at(-1) ?? '';
  const enrolled = await runToEnd(VIGIL_AGENT, [
    'enroll',
    '--aggregator',
    `127.0.0.1:${o.grpcPort}`,
    '--token',
    token,
    '--data-dir',
    o.agentDir,
  ]);
  if (enrolled.code !== 0) throw new Error(`vigil-agent enroll failed:\n${enrolled.lines.join('\n')}`);
  return enrolled.lines;
}
