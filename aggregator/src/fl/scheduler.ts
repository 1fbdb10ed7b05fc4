// Starts a federated round every interval (`vigil serve --fl-schedule`). A tick while a round runs is skipped; a round
// that cannot start (too few clients, no model) is logged and tried again at the next tick.
import {
  NotEnoughClientsError,
  RoundInProgressError,
  type RoundEngine,
  type RoundSettings,
} from './engine.js';

export interface RoundSchedulerOptions {
  engine: Pick<RoundEngine, 'start' | 'inProgress'>;
  intervalMs: number;
  settings?: Partial<RoundSettings>;
  log?: (line: string) => void;
}

export class RoundScheduler {
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> = Promise.resolve();
  private readonly log: (line: string) => void;
  /** Rounds this scheduler started. */
  started = 0;

  constructor(private readonly o: RoundSchedulerOptions) {
    if (!(o.intervalMs > 0)) throw new RangeError(`the round interval must be > 0 ms, got ${o.intervalMs}`);
    this.log = o.log ?? ((line) => process.stderr.write(`vigil fl: ${line}\n`));
  }

  private async tick(): Promise<void> {
    if (this.o.engine.inProgress) {
      this.log('scheduled round skipped: a round is still in progress');
      return;
    }
    try {
      const { round } = await this.o.engine.start(this.o.settings);
      this.started++;
      this.log(`scheduled round ${round.round_number} started (id ${round.id})`);
    } catch (err) {
      if (err instanceof NotEnoughClientsError || err instanceof RoundInProgressError)
        this.log(`scheduled round not started: ${err.message}`);
      else this.log(`scheduled round failed to start: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => {
      this.ticking = this.ticking.then(() => this.tick());
    }, this.o.intervalMs);
  }

  /** Stops starting rounds (a running round goes on; the engine's shutdown ends it). */
  async shutdown(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.ticking;
  }
}
