// The product's federated rounds train two models: Layer 2 (the classifier) and Layer 1b (the LSTM autoencoder). Each
// has its own RoundEngine (own registry name, own global model, own train messages naming it in their config) over the
// same Fleet transport, strategy and privacy ledger; a RoundSeries starts them one after another, so a trigger or a
// scheduled tick runs a Layer 2 round and then a Layer 1b round, and the agents never train both at once.
import { RoundInProgressError, type RoundEngine, type RoundHandle, type RoundSettings } from './engine.js';

export type SeriesEngine = Pick<RoundEngine, 'start' | 'inProgress' | 'shutdown' | 'model'>;

export class RoundSeries {
  private chain: Promise<void> | null = null;
  private stopping = false;
  private readonly log: (line: string) => void;

  constructor(
    private readonly engines: readonly SeriesEngine[],
    log?: (line: string) => void,
  ) {
    if (engines.length === 0) throw new Error('RoundSeries: no engines');
    this.log = log ?? ((line) => process.stderr.write(`vigil fl: ${line}\n`));
  }

  get inProgress(): boolean {
    return this.chain !== null || this.engines.some((e) => e.inProgress);
  }

  /**
   * Starts the first engine's round and resolves with it (as RoundEngine.start does, with its errors); the other
   * engines' rounds follow once it has ended, each with the same settings. A later round that cannot start is logged.
   */
  async start(over: Partial<RoundSettings> = {}): Promise<RoundHandle> {
    if (this.inProgress) throw new RoundInProgressError('a federated round is already in progress');
    const [first, ...rest] = this.engines;
    const handle = await first!.start(over);
    this.chain = (async () => {
      await handle.done;
      for (const e of rest) {
        if (this.stopping) return;
        try {
          const h = await e.start(over);
          // (a shutdown while it was starting found no round to end)
          if (this.stopping) await e.shutdown();
          await h.done;
        } catch (err) {
          const why = err instanceof Error ? err.message : String(err);
          this.log(`the ${e.model} round did not start: ${why}`);
        }
      }
    })().finally(() => {
      this.chain = null;
    });
    return handle;
  }

  /** Ends the running round and starts no more; safe to call twice. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    for (const e of this.engines) await e.shutdown();
    await this.chain;
  }
}
