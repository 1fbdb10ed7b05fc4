// Hands the active global model to the agents over the link's model-push channel. It polls the registry, so a new
// version from a round and a rollback made by another process (`vigil models rollback`) are pushed the same way; a
// facility that had no agent connected is tried again on the next poll.
import type { PbModelPush } from '@vigil/proto/link';
import type { ModelVersion, Store } from '../store/types.js';
import { deserializeModel, type ModelMeta } from './arrays.js';
import { GLOBAL_MODEL, ModelRegistry, otherModel, undescribed } from './registry.js';

/** What the publisher needs of the link (LinkServer.push). */
export interface ModelPushTarget {
  push(
    facilityId: string,
    push: { model: Omit<PbModelPush, 'push_id'> },
    timeoutMs?: number,
  ): Promise<{ accepted: boolean; error: string }[]>;
}

export interface ModelPublisherOptions {
  store: Store;
  link: ModelPushTarget;
  name?: string;
  /** How often the registry is read, ms. */
  intervalMs?: number;
  /** How long an agent has to accept a push, ms. */
  pushTimeoutMs?: number;
  log?: (line: string) => void;
  /**
   * What this build's agents serve under this name (kind, feature schemas, inputs). After an upgrade that changed the
   * model, the active version is the old model until the first round stores this one: agents would refuse it.
   */
  modelMeta?: ModelMeta;
}

/** A version as last activated: a rollback to an older version is a new activation, so it is pushed again. */
function key(m: ModelVersion): string {
  return `${m.version}@${m.activated_at}`;
}

export class ModelPublisher {
  private readonly registry: ModelRegistry;
  private readonly name: string;
  private readonly log: (line: string) => void;
  private readonly delivered = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: ModelPublisherOptions) {
    this.registry = new ModelRegistry(o.store);
    this.name = o.name ?? GLOBAL_MODEL;
    this.log = o.log ?? ((line) => process.stderr.write(`vigil fl: ${line}\n`));
  }

  /**
   * Pushes the active version to every facility (not revoked) whose agents have not answered it yet. Returns the
   * facilities whose agents accepted it in this call.
   */
  async publish(): Promise<string[]> {
    const active = await this.o.store.activeModelVersion(this.name);
    if (active === null) return [];
    const k = key(active);
    const facilities = (await this.o.store.listFacilities()).filter(
      (f) => f.revoked_at === null && this.delivered.get(f.id) !== k,
    );
    if (facilities.length === 0) return [];
    const { payload } = await this.registry.payload(active.version);
    // (the active version of a store from before models were described, or another model than this build's agents
    // serve): pushing it would only be refused
    const undescribedWhy = undescribed(active.version, payload);
    const otherWhy =
      undescribedWhy === null ? otherModel(this.o.modelMeta, deserializeModel(payload).meta) : null;
    if (undescribedWhy !== null || otherWhy !== null) {
      for (const f of facilities) this.delivered.set(f.id, k);
      this.log(
        undescribedWhy !== null
          ? `model ${active.name} v${active.version} not pushed: ${undescribedWhy}; the next round stores a described version`
          : `model ${active.name} v${active.version} not pushed: it is another model than this build's agents serve (${otherWhy}); the next round stores this build's model`,
      );
      return [];
    }
    const model = {
      name: active.name,
      version: String(active.version),
      payload: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
      sha256: active.sha256,
      format: active.format,
    };
    const accepted: string[] = [];
    for (const f of facilities) {
      const answers = await this.o.link.push(f.id, { model }, this.o.pushTimeoutMs ?? 30_000);
      // A facility with no agent connected is tried again on the next poll; one whose agents answered (accepting or
      // refusing) is not asked again until another version becomes active, so a refusal is logged once.
      if (answers.length > 0) this.delivered.set(f.id, k);
      if (answers.some((a) => a.accepted)) {
        accepted.push(f.id);
        this.log(`model ${active.name} v${active.version} accepted by ${f.id}`);
      }
      for (const a of answers)
        if (!a.accepted)
          this.log(`model ${active.name} v${active.version} refused by an agent of ${f.id}: ${a.error}`);
    }
    return accepted;
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => {
      this.polling = this.polling
        .then(() => this.publish())
        .catch((err: unknown) =>
          this.log(`model push failed: ${err instanceof Error ? err.message : String(err)}`),
        );
    }, this.o.intervalMs ?? 2000);
  }

  async shutdown(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.polling;
  }
}
