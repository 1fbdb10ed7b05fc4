// The global-model registry: every model a round produces is stored as a new version (serialized arrays with their
// sha256) and becomes the active one; a rollback makes an older version active again. The next round starts from the
// active version, and the model publisher pushes whichever version is active to the agents.
import { systemClock, type Clock } from '@vigil/shared';
import type { ModelVersion, Store } from '../store/types.js';
import {
  ARRAYS_FORMAT,
  deserializeModel,
  parameterCount,
  serializeArrays,
  sha256Hex,
  type ModelMeta,
} from './arrays.js';
import type { Arrays } from './transport.js';

/** The registry name of the federated global model. */
export const GLOBAL_MODEL = 'fl-global';
/** The registry name of the federated Layer 1b (the LSTM autoencoder). */
export const GLOBAL_L1B_MODEL = 'fl-global-l1b';

export class UnknownModelVersionError extends Error {
  override readonly name = 'UnknownModelVersionError';
}

/** A version stored without a description (before session 3 of issue 9): agents cannot check it, so they refuse it. */
export class UndescribedModelError extends Error {
  override readonly name = 'UndescribedModelError';
}

/** Why agents will refuse this stored payload before even looking at its weights; null when it is described. */
export function undescribed(version: number, payload: Uint8Array): string | null {
  if (deserializeModel(payload).meta.kind !== undefined) return null;
  return `model version ${version} was stored before models carried a description (kind, feature schemas), so agents cannot check what it was trained on and refuse to serve it`;
}

/** How `got` (a stored version's description) differs from what this build trains (null: it does not, or no check). */
export function otherModel(want: ModelMeta | undefined, got: ModelMeta): string | null {
  if (want === undefined) return null;
  const k = Object.keys(want).find((key) => got[key] !== want[key]);
  return k === undefined ? null : `its ${k} is ${got[k] ?? 'not recorded'}, this build's ${want[k]}`;
}

export class ModelRegistry {
  private readonly clock: Clock;
  constructor(
    private readonly store: Store,
    clock?: Clock,
  ) {
    this.clock = clock ?? systemClock;
  }

  async save(o: {
    name: string;
    arrays: Arrays;
    roundId: number | null;
    accuracy: number | null;
    /** What the model is (kind, feature schemas): the agents check it before serving the model. */
    meta?: ModelMeta | undefined;
  }): Promise<ModelVersion> {
    const payload = serializeArrays(o.arrays, o.meta);
    return this.store.addModelVersion({
      name: o.name,
      round_id: o.roundId,
      created_at: new Date(this.clock.now()).toISOString(),
      sha256: sha256Hex(payload),
      format: ARRAYS_FORMAT,
      payload,
      parameters: parameterCount(o.arrays),
      model_accuracy: o.accuracy,
    });
  }

  /** The version's bytes, checked against its recorded sha256. */
  async payload(version: number): Promise<{ model: ModelVersion; payload: Uint8Array }> {
    const model = await this.store.getModelVersion(version);
    const payload = model === null ? null : await this.store.modelPayload(version);
    if (model === null || payload === null) throw new UnknownModelVersionError(`no model version ${version}`);
    if (sha256Hex(payload) !== model.sha256)
      throw new Error(`model version ${version} is corrupt: its bytes do not match its sha256`);
    return { model, payload };
  }

  /** The active version of `name` and its arrays; null when none was stored. */
  async active(name: string): Promise<{ model: ModelVersion; arrays: Arrays; meta: ModelMeta } | null> {
    const model = await this.store.activeModelVersion(name);
    if (model === null) return null;
    const { payload } = await this.payload(model.version);
    const { arrays, meta } = deserializeModel(payload);
    return { model, arrays, meta };
  }

  /** Makes `version` active again; refuses an undescribed version (agents would refuse it), saying why. */
  async rollback(version: number): Promise<ModelVersion> {
    const { payload } = await this.payload(version);
    const why = undescribed(version, payload);
    if (why !== null)
      throw new UndescribedModelError(
        `${why}; roll back to a version a round made since (see vigil models list), or run a round`,
      );
    const model = await this.store.activateModelVersion(version, new Date(this.clock.now()).toISOString());
    if (model === null) throw new UnknownModelVersionError(`no model version ${version}`);
    return model;
  }
}
