// What the agent does with the aggregator's pushes. A model push is checked against its sha256 and written atomically
// to <data-dir>/models/<name>/<version>.<format>, and models/manifest.json records the current version of each
// model (reported in every heartbeat as model_versions; a global model is checked and swapped into the detector by
// onModel before it is stored, and served again from there at the next start: fl/global-model.ts). A config push goes
// to onConfig (operator feedback for federated learning: fl/feedback.ts), refused without it; a scenario push goes to
// the live simulation.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PbModelPush, PbScenarioPush } from '@vigil/proto/link';
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

export interface PushHandlerOptions {
  /** Takes the demo's scenario pushes (an agent on live simulated traffic); without it they are refused. */
  onScenario?: (s: PbScenarioPush) => Promise<void>;
  /**
   * Called with a model whose sha256 matched, before it is stored: puts it into service (global-model.ts); when it
   * rejects, the push is refused with its reason and the model is not stored.
   */
  onModel?: (m: PbModelPush) => Promise<void>;
  /** Takes config pushes (their settings_json; operator feedback for federated learning); without it they are refused. */
  onConfig?: (settingsJson: string) => Promise<void>;
}

export function pushHandler(dataDir: string, o: PushHandlerOptions = {}): (p: Push) => Promise<void> {
  const { onScenario, onModel, onConfig } = o;
  return async (p) => {
    if ('config' in p) {
      if (onConfig === undefined) throw new Error('this agent takes no configuration pushes');
      return onConfig(p.config.settings_json);
    }
    if ('scenario' in p) {
      if (onScenario === undefined)
        throw new Error('scenarios need live simulated traffic: this agent does not run with --sim');
      return onScenario(p.scenario);
    }
    const m = p.model;
    if (!SAFE.test(m.name) || !SAFE.test(m.version) || !/^[a-z0-9-]{1,32}$/.test(m.format)) {
      throw new Error('model name, version or format has characters a file name cannot take');
    }
    const digest = createHash('sha256').update(m.payload).digest('hex');
    if (digest !== m.sha256.toLowerCase()) {
      throw new Error(`sha256 mismatch: payload is ${digest}, push says ${m.sha256}`);
    }
    await onModel?.(m);
    const dir = join(dataDir, 'models', m.name);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${m.version}.${m.format}`);
    writeFileSync(`${file}.tmp`, m.payload);
    renameSync(`${file}.tmp`, file);
    const manifest = { ...modelVersions(dataDir), [m.name]: m.version };
    writeFileSync(`${manifestPath(dataDir)}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
    renameSync(`${manifestPath(dataDir)}.tmp`, manifestPath(dataDir));
  };
}
