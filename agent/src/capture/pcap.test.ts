import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasCommand, needComponent } from '@vigil/shared/testing';
import { sharedCaptures } from '../testing-paths.js';
import { tcpFrame } from '../testing/frames.js';
import { CaptureParser, type CaptureStats } from './pcap.js';
import { pcapHeader, pcapRecord, type PcapFormat } from './pcap-writer.js';
import { readCaptureFile } from './source.js';
import { LinkType, type RawPacket } from './types.js';

interface Seen {
  frame: number;
  tsSec: number;
  tsNsec: number;
  linkType: number;
  data: string;
  origLen: number;
}

function parse(chunks: Buffer[], file = 'test.pcap'): { frames: Seen[]; stats: CaptureStats } {
  const frames: Seen[] = [];
  const p = new CaptureParser({
    file,
    onPacket: (r: RawPacket) =>
      frames.push({
        frame: r.frame,
        tsSec: r.tsSec,
        tsNsec: r.tsNsec,
        linkType: r.linkType,
        data: r.buf.toString('hex', r.off, r.off + r.capLen),
        origLen: r.origLen,
      }),
  });
  for (const c of chunks) p.push(c);
  return { frames, stats: p.end() };
}

const f1 = tcpFrame({ sport: 1234, dport: 502, payload: Buffer.from('abc') });
const f2 = tcpFrame({ sport: 502, dport: 1234, payload: Buffer.alloc(100, 7) });

function pcap(f: PcapFormat): Buffer {
  const sub = (us: number): number => (f.nano ? us * 1000 : us);
  return Buffer.concat([
    pcapHeader(f),
    pcapRecord(1_700_000_000, sub(250_000), f1, f),
    pcapRecord(1_700_000_001, sub(5), f2, f, 1514),
  ]);
}

/** A pcapng section: SHB, IDB (optional if_tsresol), then EPBs, one SPB and interface statistics blocks. */
function pcapng(
  bigEndian: boolean,
  tsresol: number | undefined,
  packets: { units: bigint; data: Buffer }[],
  isbs: { recv: bigint; ifdrop: bigint; osdrop?: bigint }[] = [],
): Buffer {
  const w32 = (v: number): Buffer => {
    const b = Buffer.alloc(4);
    if (bigEndian) b.writeUInt32BE(v >>> 0);
    else b.writeUInt32LE(v >>> 0);
    return b;
  };
  const w16 = (v: number): Buffer => {
    const b = Buffer.alloc(2);
    if (bigEndian) b.writeUInt16BE(v);
    else b.writeUInt16LE(v);
    return b;
  };
  const block = (type: number, body: Buffer): Buffer => {
    const pad = Buffer.alloc((4 - (body.length % 4)) % 4);
    const len = 12 + body.length + pad.length;
    return Buffer.concat([w32(type), w32(len), body, pad, w32(len)]);
  };
  const shb = block(0x0a0d0d0a, Buffer.concat([w32(0x1a2b3c4d), w16(1), w16(0), Buffer.alloc(8, 0xff)]));
  const opts =
    tsresol === undefined
      ? Buffer.alloc(0)
      : Buffer.concat([w16(9), w16(1), Buffer.from([tsresol, 0, 0, 0]), w16(0), w16(0)]);
  const idb = block(1, Buffer.concat([w16(LinkType.ETHERNET), w16(0), w32(65535), opts]));
  const epbs = packets.map((p) =>
    block(
      6,
      Buffer.concat([
        w32(0),
        w32(Number(p.units >> 32n)),
        w32(Number(p.units & 0xffffffffn)),
        w32(p.data.length),
        w32(p.data.length),
        p.data,
      ]),
    ),
  );
  const spb = block(3, Buffer.concat([w32(f1.length), f1]));
  const unknown = block(0x0bad, Buffer.alloc(8));
  const w64opt = (code: number, v: bigint): Buffer => {
    const b = Buffer.alloc(8);
    if (bigEndian) b.writeBigUInt64BE(v);
    else b.writeBigUInt64LE(v);
    return Buffer.concat([w16(code), w16(8), b]);
  };
  const stats = isbs.map((c) =>
    block(
      5,
      Buffer.concat([
        w32(0),
        w32(0),
        w32(0),
        w64opt(4, c.recv),
        w64opt(5, c.ifdrop),
        ...(c.osdrop === undefined ? [] : [w64opt(7, c.osdrop)]),
        w16(0),
        w16(0),
      ]),
    ),
  );
  return Buffer.concat([shb, idb, ...epbs, unknown, spb, ...stats]);
}

describe('CaptureParser', () => {
  it('reads little- and big-endian pcap with micro- and nanosecond timestamps alike', () => {
    const variants = [{}, { bigEndian: true }, { nano: true }, { nano: true, bigEndian: true }].map((f) =>
      parse([pcap(f)]),
    );
    for (const v of variants) {
      expect(v.stats.format).toBe('pcap');
      expect(v.stats.errors).toEqual({});
      expect(v.frames).toEqual(variants[0]?.frames);
    }
    expect(variants[0]?.frames.map((f) => [f.frame, f.tsSec, f.tsNsec, f.origLen])).toEqual([
      [1, 1_700_000_000, 250_000_000, f1.length],
      [2, 1_700_000_001, 5_000, 1514],
    ]);
    expect(variants[0]?.frames[1]?.data).toBe(f2.toString('hex'));
  });

  it('sums the received and dropped counters of interface statistics blocks over interfaces and sections', () => {
    const packets = [{ units: 1_700_000_000_000_000n, data: f1 }];
    const plain = parse([pcapng(false, undefined, packets)]);
    expect(plain.stats.reported).toBeUndefined();
    // Counters are cumulative per interface: a later ISB of the same interface replaces the earlier one.
    const one = parse([
      pcapng(false, undefined, packets, [
        { recv: 100n, ifdrop: 3n },
        { recv: 250n, ifdrop: 7n, osdrop: 2n },
      ]),
    ]);
    expect(one.stats.reported).toEqual({ received: 250, dropped: 9 });
    expect(one.stats.errors).toEqual({});
    // A second section describes its own interface 0; its counts add to the first section's.
    const two = parse([
      pcapng(true, 9, packets, [{ recv: 40n, ifdrop: 1n }]),
      pcapng(false, undefined, packets, [{ recv: 60n, ifdrop: 0n, osdrop: 5n }]),
    ]);
    expect(two.stats.reported).toEqual({ received: 100, dropped: 6 });
  });

  it('gives the same frames whatever the chunk boundaries', () => {
    const file = pcap({});
    const whole = parse([file]);
    const bytes = parse([...file].map((b) => Buffer.from([b])));
    const odd = parse([file.subarray(0, 30), file.subarray(30, 31), file.subarray(31)]);
    expect(bytes.frames).toEqual(whole.frames);
    expect(odd.frames).toEqual(whole.frames);
  });

  it('reads pcapng in both byte orders with nanosecond and default microsecond resolution', () => {
    const ns = 1_700_000_000_123_456_789n;
    const le = parse([
      pcapng(false, 9, [
        { units: ns, data: f1 },
        { units: ns + 1_000_000_000n, data: f2 },
      ]),
    ]);
    const be = parse([
      pcapng(true, 9, [
        { units: ns, data: f1 },
        { units: ns + 1_000_000_000n, data: f2 },
      ]),
    ]);
    const us = parse([pcapng(false, undefined, [{ units: 1_700_000_000_123_456n, data: f1 }])]);
    expect(le.stats.format).toBe('pcapng');
    expect(le.stats.errors).toEqual({});
    expect(le.frames.map((f) => [f.frame, f.tsSec, f.tsNsec])).toEqual([
      [1, 1_700_000_000, 123_456_789],
      [2, 1_700_000_001, 123_456_789],
      [3, 0, 0],
    ]);
    expect(le.frames[2]?.data).toBe(f1.toString('hex'));
    expect(be.frames).toEqual(le.frames);
    expect(us.frames[0]).toMatchObject({ tsSec: 1_700_000_000, tsNsec: 123_456_000 });
  });

  it('names the file and frame when the input ends inside a frame', () => {
    const file = pcap({});
    const { frames, stats } = parse([file.subarray(0, file.length - 10)], 'cut.pcap');
    expect(frames).toHaveLength(1);
    expect(stats.errors).toEqual({ truncated: 1 });
    expect(stats.firstErrors[0]).toMatchObject({ file: 'cut.pcap', frame: 2, reason: 'truncated' });
  });

  it('stops on a wrong magic and on an absurd captured length, without throwing', () => {
    const bad = parse([Buffer.from('this is not a capture at all, just text')]);
    expect(bad.stats).toMatchObject({ format: 'unknown', stopped: true, errors: { bad_magic: 1 } });

    const file = pcap({});
    const huge = Buffer.from(file);
    huge.writeUInt32LE(0x7fffffff, 24 + 16 + f1.length + 8); // second record's captured length
    const r = parse([huge], 'huge.pcap');
    expect(r.frames).toHaveLength(1);
    expect(r.stats.stopped).toBe(true);
    expect(r.stats.firstErrors[0]).toMatchObject({ reason: 'caplen_too_large', frame: 2, file: 'huge.pcap' });
  });

  it('delivers and counts frames with a zero captured length, then goes on', () => {
    const f: PcapFormat = {};
    const file = Buffer.concat([
      pcapHeader(f),
      pcapRecord(1, 0, Buffer.alloc(0), f, 60),
      pcapRecord(2, 0, f1, f),
    ]);
    const { frames, stats } = parse([file]);
    expect(frames.map((x) => [x.frame, x.data.length])).toEqual([
      [1, 0],
      [2, f1.length * 2],
    ]);
    expect(stats.errors).toEqual({ zero_caplen: 1 });
  });

  it('reports an empty input', () => {
    expect(parse([]).stats.errors).toEqual({ empty: 1 });
  });
});

describe('real captures', () => {
  const captures = sharedCaptures();
  const haveTools = needComponent(
    'editcap',
    hasCommand('editcap'),
    'apt-get install tshark (provides editcap)',
  );
  const havePcaps = needComponent('shared captures', captures.length > 0, 'expected at ../shared/pcaps');
  const mb2 = captures.find((f) => f.endsWith('iti_ModbusTCP_mb2.pcap'));

  it.skipIf(!haveTools || !havePcaps)(
    'reads a shared capture and its pcapng and nanosecond conversions alike',
    async () => {
      if (mb2 === undefined) throw new Error('iti_ModbusTCP_mb2.pcap missing from the shared captures');
      const dir = mkdtempSync(join(tmpdir(), 'vigil-pcap-'));
      try {
        const ng = join(dir, 'mb2.pcapng');
        const nsec = join(dir, 'mb2.ns.pcap');
        execFileSync('editcap', ['-F', 'pcapng', mb2, ng]);
        execFileSync('editcap', ['-F', 'nsecpcap', mb2, nsec]);
        const collect = async (path: string): Promise<{ n: number; digest: string; stats: CaptureStats }> => {
          let n = 0;
          let acc = 0;
          const stats = await readCaptureFile(path, {
            onPacket: (p) => {
              n++;
              acc =
                (acc * 31 + p.tsSec + p.tsNsec + p.capLen + (p.buf[p.off + p.capLen - 1] ?? 0)) %
                1_000_000_007;
            },
          });
          return { n, digest: String(acc), stats };
        };
        const a = await collect(mb2);
        expect(a.n).toBe(13_472);
        expect(a.stats.errors).toEqual({});
        expect(await collect(ng)).toMatchObject({
          n: a.n,
          digest: a.digest,
          stats: { format: 'pcapng', errors: {} },
        });
        expect(await collect(nsec)).toMatchObject({
          n: a.n,
          digest: a.digest,
          stats: { format: 'pcap', errors: {} },
        });
        expect(readFileSync(ng).readUInt32LE(0)).toBe(0x0a0d0d0a);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
