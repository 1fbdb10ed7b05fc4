// A Node script run as a child process (the demo's agents, the tests' `vigil` and `vigil-agent`): its stdout and
// stderr handed over line by line as they come, its exit as a promise, and a stop that asks it to end (SIGTERM) and
// kills it after a grace period.
import { spawn, type ChildProcess } from 'node:child_process';

export interface NodeProcess {
  readonly child: ChildProcess;
  /** The exit code (null when killed by a signal or when it could not start). */
  readonly exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs: number): Promise<void>;
}

/**
 * Starts `node script ...args`. Every complete line of its output goes to `onLine` (a line it could not start with
 * says why, and `exited` resolves null).
 */
export function spawnNode(
  script: string,
  args: readonly string[],
  onLine: (line: string) => void,
): NodeProcess {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const relay = (stream: NodeJS.ReadableStream | null): void => {
    let rest = '';
    stream?.on('data', (b: Buffer) => {
      const parts = (rest + b.toString('utf8')).split('\n');
      rest = parts.pop() ?? '';
      for (const p of parts) onLine(p);
    });
  };
  relay(child.stdout);
  relay(child.stderr);
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', (err) => {
      onLine(`cannot start ${script}: ${err.message}`);
      resolve(null);
    });
    child.once('exit', (code) => resolve(code));
  });
  return {
    child,
    exited,
    stop: async (graceMs) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
