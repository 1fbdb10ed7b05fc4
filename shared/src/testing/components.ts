// Tests talk to real components (Postgres, Neo4j, Mosquitto, tshark, flwr). Locally a missing component skips the
// test that needs it, with the reason; under CI (CI=true) a missing component fails the run instead.
import { execFileSync } from 'node:child_process';

export const IN_CI = process.env.CI === 'true';

/**
 * Decides whether a test that needs `component` runs. Returns true when it is available. When it is not:
 * under CI throws (an integration test may not skip there); elsewhere returns false so the caller can skip.
 */
export function needComponent(component: string, available: boolean, howToInstall: string): boolean {
  if (available) return true;
  const message = `${component} is not available (${howToInstall})`;
  if (IN_CI) throw new Error(`${message}; under CI=true this test may not skip`);
  process.stderr.write(`skipping: ${message}\n`);
  return false;
}

/** True when `command` is on the PATH (or an executable path). */
export function hasCommand(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v "$1"`, 'sh', command], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * The Python of the test oracles' venv (flwr, dp-accounting), made or brought up to date by deploy/python-venv.sh;
 * '' when python3 is missing and the test may skip (needComponent: under CI it throws). The first run installs the
 * pinned packages, so call it from a beforeAll with a long timeout.
 */
export function oraclePython(): string {
  if (!needComponent('python3', hasCommand('python3'), 'apt-get install python3-venv')) return '';
  const script = new URL('../../../deploy/python-venv.sh', import.meta.url).pathname;
  return execFileSync('bash', [script], { encoding: 'utf8', timeout: 590_000 }).trim();
}
