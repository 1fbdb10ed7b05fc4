// What the agent does with the aggregator's pushes. A model push is checked against its sha256 and written atomically
// to <data-dir>/models/<name>/<version>.<format>, and models/manifest.json records the current version of each
// model (reported in every heartbeat as model_versions; the FL issue loads models from there). A config push is
// refused until the agent has settings that may change at run time; a scenario push goes to the live simulation.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PbScenarioPush } from '@vigil/proto/link';
import type { Push } from './client.js';

const SAFE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function manifestPath(dataDir: string): string {
  return join(dataDir, 'models', 'manifest.json');
}

/** The current version of each model the aggregator pushed (empty before any). */
export function modelVersions(dataDir: string): Record<string, string> {
  try {
    return JSON.parse(readFileSync(manifestPath(dataDir), 'utf8')) as Record<string, string>;
  } catch {
    return {};
  }
}

/** `onScenario` takes the demo's scenario pushes (an agent on live simulated traffic); without it they are refused. */
export function pushHandler(
  dataDir: string,
  onScenario?: (s: PbScenarioPush) => Promise<void>,
): (p: Push) => Promise<void> {
  return (p) => {
    if ('config' in p) return Promise.reject(new Error('this agent takes no configuration pushes yet'));
    if ('scenario' in p) {
      return onScenario !== undefined
        ? onScenario(p.scenario)
        : Promise.reject(
            new Error('scenarios need live simulated traffic: this agent does not run with --sim'),
          );
    }
    const m = p.model;
    if (!SAFE.test(m.name) || !SAFE.test(m.version) || !/^[a-z0-9]{1,16}$/.test(m.format)) {
      return Promise.reject(
        new Error('model name, version or format has characters a file name cannot take'),
      );
    }
    const digest = createHash('sha256').update(m.payload).digest('hex');
    if (digest !== m.sha256.toLowerCase()) {
      return Promise.reject(new Error(`sha256 mismatch: payload is ${digest}, push says ${m.sha256}`));
    }
    const dir = join(dataDir, 'models', m.name);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${m.version}.${m.format}`);
    writeFileSync(`${file}.tmp`, m.payload);
    renameSync(`${file}.tmp`, file);
    const manifest = { ...modelVersions(dataDir), [m.name]: m.version };
    writeFileSync(`${manifestPath(dataDir)}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
    renameSync(`${manifestPath(dataDir)}.tmp`, manifestPath(dataDir));
    return Promise.resolve();
  };
}
