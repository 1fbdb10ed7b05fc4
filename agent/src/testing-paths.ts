// Where the shared test captures live: ../shared/pcaps beside the repository root (resolved from this file, not
// from the working directory).
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is agent/src/testing-paths.ts or agent/dist/testing-paths.js). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHARED_PCAPS = join(REPO_ROOT, '..', 'shared', 'pcaps');

/** The shared captures (absolute paths, sorted), or [] when the directory is absent. */
export function sharedCaptures(): string[] {
  if (!existsSync(SHARED_PCAPS)) return [];
  return readdirSync(SHARED_PCAPS)
    .filter((f) => f.endsWith('.pcap') || f.endsWith('.pcapng'))
    .sort()
    .map((f) => join(SHARED_PCAPS, f));
}
