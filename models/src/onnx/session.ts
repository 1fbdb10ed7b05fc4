// An ONNX Runtime session whose model can be replaced while it serves (a new model version after training or a
// federated round). swap() builds the new session from the new bytes FIRST (a bad model leaves the old one serving),
// then switches the pointer in one assignment; runs already started finish on the session they started on, and a
// retired session is released when its last run finishes.
import { InferenceSession, Tensor } from 'onnxruntime-node';

interface Entry {
  session: InferenceSession;
  version: number;
  inflight: number;
  retired: boolean;
}

export class SwappableSession {
  private current: Entry;
  private swapping: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    session: InferenceSession,
    private readonly options: InferenceSession.SessionOptions,
  ) {
    this.current = { session, version: 1, inflight: 0, retired: false };
  }

  /** `options` (ONNX Runtime's session options) hold for every model this session serves, swapped ones too. */
  static async create(
    model: Uint8Array,
    options: InferenceSession.SessionOptions = {},
  ): Promise<SwappableSession> {
    return new SwappableSession(await InferenceSession.create(model, options), options);
  }

  /** 1 for the first model, +1 per successful swap. */
  get version(): number {
    return this.current.version;
  }

  get inputNames(): readonly string[] {
    return this.current.session.inputNames;
  }

  /** Runs the current model; the whole run uses the session current at the call. */
  async run(feeds: Record<string, Tensor>): Promise<InferenceSession.OnnxValueMapType> {
    if (this.closed) throw new Error('session is closed');
    const e = this.current;
    e.inflight++;
    try {
      return await e.session.run(feeds);
    } finally {
      e.inflight--;
      if (e.retired && e.inflight === 0) await e.session.release();
    }
  }

  /** Runs a batch of rows (row-major Float32Array) with shape [rows, ...rowShape] through input `input`. */
  async runRows(
    input: string,
    data: Float32Array,
    rowShape: readonly number[],
    outputs: readonly string[],
  ): Promise<{ version: number; outputs: Float32Array[] }> {
    const per = rowShape.reduce((a, b) => a * b, 1);
    if (per <= 0 || data.length % per !== 0) throw new Error('runRows: data does not fit the row shape');
    const version = this.current.version;
    const res = await this.run({ [input]: new Tensor('float32', data, [data.length / per, ...rowShape]) });
    return {
      version,
      outputs: outputs.map((name) => {
        const t = res[name];
        if (!t) throw new Error(`runRows: model has no output ${name}`);
        return t.data as Float32Array;
      }),
    };
  }

  /** Replaces the model. Resolves once new runs use it; rejects (old model still serving) when it does not load. */
  swap(model: Uint8Array): Promise<number> {
    const next = this.swapping.then(async () => {
      if (this.closed) throw new Error('session is closed');
      const session = await InferenceSession.create(model, this.options);
      const old = this.current;
      this.current = { session, version: old.version + 1, inflight: 0, retired: false };
      old.retired = true;
      if (old.inflight === 0) await old.session.release();
      return this.current.version;
    });
    this.swapping = next.catch(() => undefined);
    return next;
  }

  /** Releases the session once in-flight runs finish. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.swapping;
    const e = this.current;
    e.retired = true;
    if (e.inflight === 0) await e.session.release();
  }
}
