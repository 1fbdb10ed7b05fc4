// Discrete-event engine of the simulator. Actors are tasks scheduled at simulated times; a task emits the frames of
// one exchange (at its own time and a little later) and schedules its next run. Frames wait in a time-ordered heap
// and are released only once no task can still emit an earlier one, so the output is strictly ordered by time
// (ties in emission order) while generation stays streaming: memory holds only the next few milliseconds.
// Work can be grouped (an injected attack): what a grouped task schedules or emits joins its group, and cancelling
// the group drops its pending tasks and frames, so a live simulation can stop an attack midway.
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
  group: number;
}

interface PendingFrame extends Timed, SimFrame {
  group: number;
}

/** The group of ungrouped work (never cancelled). */
const NO_GROUP = 0;

export class Engine implements FrameSink {
  private readonly tasks = new Heap<Task>();
  private readonly frames = new Heap<PendingFrame>();
  private seq = 0;
  private current: number;
  private group = NO_GROUP;
  private nextGroup = NO_GROUP + 1;
  private readonly cancelled = new Set<number>();

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

  /** A new group for `at(..., group)`: everything its tasks schedule or emit belongs to it. */
  newGroup(): number {
    return this.nextGroup++;
  }

  /** Drops the group's pending tasks and frames; it schedules and emits nothing more. */
  cancel(group: number): void {
    if (group !== NO_GROUP) this.cancelled.add(group);
  }

  /** Runs `run` at simulated time tUs (not earlier than now), in the group of the running task unless given. */
  at(tUs: number, run: (tUs: number) => void, group = this.group): void {
    const t = Math.max(Math.round(tUs), this.current);
    if (this.endUs !== undefined && t >= this.endUs) return;
    if (this.cancelled.has(group)) return;
    this.tasks.push({ t, seq: this.seq++, run, group });
  }

  emit(tUs: number, data: Buffer, label: Label | undefined): void {
    const t = Math.max(Math.round(tUs), this.current);
    if (this.endUs !== undefined && t >= this.endUs) return;
    if (this.cancelled.has(this.group)) return;
    this.frames.push({ t, seq: this.seq++, tUs: t, data, label, group: this.group });
  }

  /** The next frame in time order, or undefined when the simulation has ended. */
  next(): SimFrame | undefined {
    for (;;) {
      const f = this.frames.peek();
      const task = this.tasks.peek();
      if (f !== undefined && (task === undefined || f.t <= task.t)) {
        this.frames.pop();
        if (this.cancelled.has(f.group)) continue;
        return { tUs: f.tUs, data: f.data, label: f.label };
      }
      if (task === undefined) return undefined;
      this.tasks.pop();
      if (this.cancelled.has(task.group)) continue;
      this.current = task.t;
      this.group = task.group;
      task.run(task.t);
      this.group = NO_GROUP;
    }
  }
}
