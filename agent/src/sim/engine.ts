// Discrete-event engine of the simulator. Actors are tasks scheduled at simulated times; a task emits the frames of
// one exchange (at its own time and a little later) and schedules its next run. Frames wait in a time-ordered heap
// and are released only once no task can still emit an earlier one, so the output is strictly ordered by time
// (ties in emission order) while generation stays streaming: memory holds only the next few milliseconds.
import type { FrameSink, Label } from './net.js';

export interface SimFrame {
  /** Simulated time, microseconds since the Unix epoch. */
  tUs: number;
  data: Buffer;
  /** The attack and ATT&CK technique the frame belongs to; undefined for normal traffic. */
  label: Label | undefined;
}

interface Timed {
  t: number;
  seq: number;
}

class Heap<T extends Timed> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(x: T): void {
    const a = this.items;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(x, a[p]!)) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = x;
  }

  pop(): T | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (top === undefined || last === undefined || a.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const c = r < a.length && before(a[r]!, a[l]!) ? r : l;
      if (!before(a[c]!, last)) break;
      a[i] = a[c]!;
      i = c;
    }
    a[i] = last;
    return top;
  }
}

function before(a: Timed, b: Timed): boolean {
  return a.t < b.t || (a.t === b.t && a.seq < b.seq);
}

interface Task extends Timed {
  run: (tUs: number) => void;
}

interface PendingFrame extends Timed, SimFrame {}

export class Engine implements FrameSink {
  private readonly tasks = new Heap<Task>();
  private readonly frames = new Heap<PendingFrame>();
  private seq = 0;
  private current: number;

  /** `endUs`: nothing at or after it runs or is released (undefined: run forever). */
  constructor(
    startUs: number,
    readonly endUs: number | undefined,
  ) {
    this.current = startUs;
  }

  /** The time of the task being run, or of the last one. */
  get nowUs(): number {
    return this.current;
  }

  /** Runs `run` at simulated time tUs (not earlier than now). */
  at(tUs: number, run: (tUs: number) => void): void {
    const t = Math.max(Math.round(tUs), this.current);
    if (this.endUs !== undefined && t >= this.endUs) return;
    this.tasks.push({ t, seq: this.seq++, run });
  }

  emit(tUs: number, data: Buffer, label: Label | undefined): void {
    const t = Math.max(Math.round(tUs), this.current);
    if (this.endUs !== undefined && t >= this.endUs) return;
    this.frames.push({ t, seq: this.seq++, tUs: t, data, label });
  }

  /** The next frame in time order, or undefined when the simulation has ended. */
  next(): SimFrame | undefined {
    for (;;) {
      const f = this.frames.peek();
      const task = this.tasks.peek();
      if (f !== undefined && (task === undefined || f.t <= task.t)) {
        this.frames.pop();
        return { tUs: f.tUs, data: f.data, label: f.label };
      }
      if (task === undefined) return undefined;
      this.tasks.pop();
      this.current = task.t;
      task.run(task.t);
    }
  }
}
