// The capture ring follower: synthetic rings written the way dumpcap writes them (files appear, grow, close, and are
// replaced), and a real dumpcap ring on loopback.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hasCommand, needComponent } from '@vigil/shared/testing';
import { tcpFrame } from '../testing/frames.js';
import { pcapHeader, pcapRecord } from './pcap-writer.js';
import { RingFollower } from './ring.js';
import type { CaptureError } from './types.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-ring-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A record whose frame carries `n` as its TCP source port, so the order of what was read can be checked. */
function rec(n: number): Buffer {
  return pcapRecord(1_700_000_000 + n, 0, tcpFrame({ sport: n, dport: 502, payload: Buffer.from('x') }));
}

function ringName(num: number, stamp = '20261122114500'): string {
  return `eth1_${String(num).padStart(5, '0')}_${stamp}.pcap`;
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}

function follow(from: 'now' | 'start'): {
  ring: RingFollower;
  seen: number[];
  frames: number[];
  errors: CaptureError[];
} {
  const seen: number[] = [];
  const frames: number[] = [];
  const errors: CaptureError[] = [];
  const ring = new RingFollower(
    { path: join(dir, 'eth1.pcap'), pollMs: 10, from },
    {
      // The source port is at Ethernet 14 + IPv4 20.
      onPacket: (p) => {
        seen.push(p.buf.readUInt16BE(p.off + 34));
        frames.push(p.frame);
      },
      onError: (e) => errors.push(e),
    },
  );
  return { ring, seen, frames, errors };
}

describe('RingFollower', () => {
  it('reads a growing file, record halves included, and moves on to the next file in ring order', async () => {
    writeFileSync(join(dir, ringName(1)), Buffer.concat([pcapHeader(), rec(1)]));
    writeFileSync(join(dir, 'unrelated_00009_20261122114500.pcap'), Buffer.concat([pcapHeader(), rec(99)]));
    const { ring, seen, frames, errors } = follow('start');
    try {
      await ring.start();
      await until(() => seen.length === 1);
      const r2 = rec(2);
      appendFileSync(join(dir, ringName(1)), r2.subarray(0, 20));
      await new Promise((r) => setTimeout(r, 50));
      expect(seen).toEqual([1]);
      appendFileSync(join(dir, ringName(1)), r2.subarray(20));
      await until(() => seen.length === 2);
      // The helper closes file 1 and opens file 2; file 1 gets no more bytes.
      writeFileSync(join(dir, ringName(2)), Buffer.concat([pcapHeader(), rec(3), rec(4)]));
      await until(() => seen.length === 4);
      expect(seen).toEqual([1, 2, 3, 4]);
      expect(frames).toEqual([1, 2, 3, 4]);
      expect(errors).toEqual([]);
      expect(ring.stats()).toMatchObject({
        files: 2,
        missedFiles: 0,
        frames: 4,
        current: join(dir, ringName(2)),
      });
    } finally {
      await ring.shutdown();
    }
  });

  it('starting now skips what the newest file already holds and reads what comes after', async () => {
    writeFileSync(join(dir, ringName(1)), Buffer.concat([pcapHeader(), rec(1)]));
    writeFileSync(join(dir, ringName(2)), Buffer.concat([pcapHeader(), rec(2)]));
    const { ring, seen, errors } = follow('now');
    try {
      await ring.start();
      appendFileSync(join(dir, ringName(2)), rec(3));
      await until(() => seen.length === 1);
      writeFileSync(join(dir, ringName(3)), Buffer.concat([pcapHeader(), rec(4)]));
      await until(() => seen.length === 2);
      expect(seen).toEqual([3, 4]);
      expect(errors).toEqual([]);
    } finally {
      await ring.shutdown();
    }
  });

  it('counts and names files replaced before they were read, and follows a restarted helper', async () => {
    writeFileSync(join(dir, ringName(1)), Buffer.concat([pcapHeader(), rec(1)]));
    const { ring, seen, errors } = follow('start');
    try {
      await ring.start();
      await until(() => seen.length === 1);
      // The reader fell behind: files 2 and 3 were written and already deleted when 4 is seen.
      writeFileSync(join(dir, ringName(4)), Buffer.concat([pcapHeader(), rec(4)]));
      await until(() => seen.length === 2);
      // The helper restarts: numbering from 1 again with a later stamp; a stale file of the old run is left behind.
      unlinkSync(join(dir, ringName(1)));
      writeFileSync(join(dir, ringName(1, '20261122120000')), Buffer.concat([pcapHeader(), rec(5)]));
      await until(() => seen.length === 3);
      expect(seen).toEqual([1, 4, 5]);
      expect(errors.map((e) => [e.reason, e.file])).toEqual([['ring_file_missed', join(dir, ringName(4))]]);
      expect(errors[0]?.message).toMatch(/2 ring file\(s\) before it were replaced/);
      expect(ring.stats()).toMatchObject({ files: 3, missedFiles: 2 });
    } finally {
      await ring.shutdown();
    }
  });

  it('reports a file cut short and still reads the next one, and refuses an unreadable directory', async () => {
    writeFileSync(join(dir, ringName(1)), Buffer.concat([pcapHeader(), rec(1), rec(2).subarray(0, 30)]));
    const { ring, seen, errors } = follow('start');
    try {
      await ring.start();
      writeFileSync(join(dir, ringName(2)), Buffer.concat([pcapHeader(), rec(3)]));
      await until(() => seen.length === 2);
      expect(seen).toEqual([1, 3]);
      expect(errors.map((e) => e.reason)).toEqual(['truncated']);
      expect(errors[0]?.file).toBe(join(dir, ringName(1)));
    } finally {
      await ring.shutdown();
    }
    const missing = new RingFollower({ path: join(dir, 'nope', 'eth1.pcapng') }, { onPacket: () => {} });
    await expect(missing.start()).rejects.toThrow(/cannot read the capture ring directory .*nope/);
  });

  const root = process.getuid?.() === 0;
  const available = needComponent(
    'dumpcap with capture rights',
    hasCommand('dumpcap') && root,
    'apt-get install tshark; capturing needs root or cap_net_raw on dumpcap',
  );
  it.skipIf(!available)(
    'follows a real dumpcap ring on loopback across file switches, every datagram once and in order',
    async () => {
      const port = 41_000 + (process.pid % 20_000);
      const seen: number[] = [];
      const errors: CaptureError[] = [];
      const helper = spawn(
        'dumpcap',
        ['-q', '-i', 'lo', '-f', `udp dst port ${port}`, '-b', 'filesize:4', '-b', 'files:50', '-g'].concat([
          '-w',
          join(dir, 'lo.pcapng'),
        ]),
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      helper.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const ring = new RingFollower(
        { path: join(dir, 'lo.pcapng'), pollMs: 20, from: 'start' },
        {
          // Ethernet 14 + IPv4 20 + UDP 8: the datagram's first 4 bytes carry its sequence number.
          onPacket: (p) => seen.push(p.buf.readUInt32BE(p.off + 42)),
          onError: (e) => errors.push(e),
        },
      );
      const sock = createSocket('udp4');
      try {
        await until(() => stderr.includes('File:'), 10_000);
        await ring.start();
        const total = 400;
        for (let i = 1; i <= total; i++) {
          const b = Buffer.alloc(200);
          b.writeUInt32BE(i);
          sock.send(b, port, '127.0.0.1');
          if (i % 50 === 0) await new Promise((r) => setTimeout(r, 20));
        }
        await until(() => seen.length >= total, 20_000);
        expect(seen).toEqual(Array.from({ length: total }, (_, i) => i + 1));
        expect(errors).toEqual([]);
        // 400 datagrams of ~250 bytes on the wire in 4 kB files: the ring switched files many times.
        expect(readdirSync(dir).length).toBeGreaterThan(10);
        expect(ring.stats().files).toBe(readdirSync(dir).length);
      } finally {
        sock.close();
        await ring.shutdown();
        helper.kill('SIGTERM');
        await once(helper, 'exit');
      }
    },
    60_000,
  );
});
