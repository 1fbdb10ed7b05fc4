import { describe, expect, it } from 'vitest';
import { FlowTable } from './flow-table.js';
import { PacketView } from './types.js';

function view(src: number, dst: number, sport: number, dport: number): PacketView {
  const p = new PacketView();
  p.ipVersion = 4;
  p.ipProto = 6;
  p.src4 = src;
  p.dst4 = dst;
  p.sport = sport;
  p.dport = dport;
  return p;
}

describe('FlowTable', () => {
  it('maps both directions of a connection to one flow and tells them apart', () => {
    const t = new FlowTable({ maxFlows: 8, idleTimeoutMs: 1000 });
    const a = t.lookup(view(1, 2, 1000, 502), 0);
    const dirA = t.dir;
    const b = t.lookup(view(2, 1, 502, 1000), 0);
    expect(b).toBe(a);
    expect(t.dir).toBe(dirA ^ 1);
    expect(t.lookup(view(1, 2, 1001, 502), 0)).not.toBe(a);
  });

  it('finds a flow again packet after packet, and makes a new one once the flow it found last was expired', () => {
    const t = new FlowTable({ maxFlows: 4, idleTimeoutMs: 10 });
    const id = t.lookup(view(1, 2, 1000, 502), 0);
    expect(t.lookup(view(2, 1, 502, 1000), 1)).toBe(id);
    expect([t.created, t.dir]).toEqual([false, 1]);
    expect(t.lookup(view(1, 2, 1000, 502), 2)).toBe(id);
    expect([t.created, t.dir]).toEqual([false, 0]);
    t.expire(20);
    expect(t.size).toBe(0);
    t.lookup(view(1, 2, 1000, 502), 20);
    expect([t.created, t.size]).toEqual([true, 1]);
    // A full table evicts the least recently used flow, even when it was the one found last.
    const small = new FlowTable({ maxFlows: 1, idleTimeoutMs: 1000 });
    small.lookup(view(1, 2, 1000, 502), 0);
    small.lookup(view(3, 4, 1000, 502), 1);
    small.lookup(view(1, 2, 1000, 502), 2);
    expect([small.created, small.stats.evictedFull]).toEqual([true, 2]);
  });

  it('agrees with a Map model through a long random run of inserts, evictions and expiries', () => {
    // Seeded LCG so that the run is reproducible.
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const max = 64;
    const model = new Map<string, number>();
    const idOf = new Map<number, string>();
    const t = new FlowTable({
      maxFlows: max,
      idleTimeoutMs: 50,
      onEvict: (id) => {
        const key = idOf.get(id);
        if (key === undefined) throw new Error(`evicted unknown flow ${id}`);
        model.delete(key);
        idOf.delete(id);
      },
    });
    let now = 0;
    for (let i = 0; i < 50_000; i++) {
      now += rnd(3);
      const s = rnd(40);
      const d = rnd(40);
      const sp = rnd(3);
      const key = s < d || (s === d && sp <= 502) ? `${s}:${sp}-${d}:502` : `${d}:502-${s}:${sp}`;
      t.expire(now, 100);
      const id = t.lookup(view(s, d, sp, 502), now);
      const known = model.get(key);
      if (known === undefined) {
        expect(t.created).toBe(true);
        model.set(key, id);
        idOf.set(id, key);
      } else {
        expect(t.created).toBe(false);
        expect(id).toBe(known);
      }
      expect(t.size).toBe(model.size);
    }
    expect(t.stats.evictedFull + t.stats.expiredIdle).toBeGreaterThan(0);
  });

  it('keeps finding every flow while its hash index grows, and frees them all by expiry', () => {
    const t = new FlowTable({ maxFlows: 10_000, idleTimeoutMs: 1000 });
    const ids = new Map<number, number>();
    // 9,000 flows: the index doubles from its initial size several times on the way.
    for (let i = 0; i < 9000; i++) {
      const id = t.lookup(view(i, 100_000 + (i % 7), 1024 + (i % 50), 502), 0);
      expect(t.created).toBe(true);
      ids.set(i, id);
    }
    expect(new Set(ids.values()).size).toBe(9000);
    for (let i = 8999; i >= 0; i -= 7) {
      expect(t.lookup(view(100_000 + (i % 7), i, 502, 1024 + (i % 50)), 1)).toBe(ids.get(i));
      expect([t.created, t.dir]).toEqual([false, 1]);
    }
    for (let k = 0; k < 3000; k++) t.expire(5000, 4);
    expect(t.size).toBe(0);
    expect(t.stats.expiredIdle).toBe(9000);
    expect(t.lookup(view(1, 100_001, 1025, 502), 6000)).toBeGreaterThanOrEqual(0);
    expect([t.created, t.size]).toEqual([true, 1]);
  });
});
