import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NetworkMetrics } from '@vigil/shared';
import type { PbAlert, PbAssetChange } from '@vigil/proto/link';
import { needComponent } from '@vigil/shared/testing';
import { PacketClock } from '../capture/packet-clock.js';
import { replayCapture, replayDetect } from '../detect/replay.js';
import { Outbox } from '../outbox/outbox.js';
import { SHARED_PCAPS, sharedCaptures } from '../testing-paths.js';
import { PipelineFeed } from './feed.js';
import { decodeEntries } from '../testing/outbox.js';

const FAKE = join(SHARED_PCAPS, 'lemay_send_a_fake_command_modbus_6RTU_with_operate.pcap');

describe('PipelineFeed', () => {
  const have = needComponent('shared captures', sharedCaptures().length > 0, 'expected at ../shared/pcaps');
  let dir: string;
  let outbox: Outbox;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-feed-'));
    outbox = new Outbox({ path: join(dir, 'outbox.db'), maxBytes: 8 << 20 });
  });
  afterEach(() => {
    outbox.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(!have)(
    "puts the pipeline's alerts into the outbox and hands each second with traffic and each new host to the link once",
    async () => {
      const rows: NetworkMetrics[] = [];
      const changes: PbAssetChange[] = [];
      let notified = 0;
      const clock = new PacketClock();
      const feed = new PipelineFeed({
        facility: 'lemay',
        clock,
        outbox,
        link: {
          notify: () => notified++,
          sendAggregates: (r) => rows.push(...r),
          sendInventory: (c) => changes.push(...c),
        },
        learnMs: 280_000,
        waitWhenFull: true,
        log: () => undefined,
      });
      const expected: string[] = [];
      await replayDetect({
        file: FAKE,
        facility: 'lemay',
        learnMinutes: 280 / 60,
        onAlert: (a) => {
          expected.push(`${a.attack_type}@${a.timestamp}`);
        },
      });

      await replayCapture(FAKE, feed.engine, clock, {
        handle: (p) => feed.handle(p),
        afterChunk: () => feed.flush(),
      });
      feed.sendLast();
      const changesAfterEnd = changes.length;
      feed.sendLast();

      const queued = decodeEntries(outbox.peek(0, 100)) as (PbAlert & { first_seen?: string })[];
      expect(expected.length).toBeGreaterThan(0);
      expect(queued.map((a) => `${a.attack_type}@${a.timestamp}`)).toEqual(expected);
      expect(queued.every((a) => a.first_seen === undefined)).toBe(true);
      expect(notified).toBeGreaterThan(0);
      // 670 s with a polling round every 10 s: 89 seconds carry traffic, each sent once, in order.
      expect(rows).toHaveLength(89);
      const times = rows.map((r) => Date.parse(r.time));
      expect(times).toEqual([...times].sort((a, b) => a - b));
      expect(new Set(times).size).toBe(89);
      expect(rows.every((r) => r.packets_per_sec > 0)).toBe(true);
      expect(rows.filter((r) => r.protocol_distribution.modbus !== undefined).length).toBeGreaterThan(60);
      // Six RTUs answer Modbus: each shows as a PLC, every host once, and nothing is re-sent when nothing changed.
      expect(changes.filter((c) => c.role === 'plc')).toHaveLength(6);
      expect(changes.every((c) => c.change === 'added')).toBe(true);
      expect(new Set(changes.map((c) => c.address)).size).toBe(changes.length);
      expect(changes.length).toBe(changesAfterEnd);
      const health = feed.health({ m: '1' });
      expect(health.capture_drops).toBe(0);
      expect(health.model_versions).toEqual({ m: '1' });
      // What the capture tool reports lost before the reader (kernel drops) counts as capture drops too.
      feed.droppedByCapture = () => 7;
      expect(feed.health({}).capture_drops).toBe(7);
    },
  );
});
