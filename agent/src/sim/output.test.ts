import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CaptureParser } from '../capture/pcap.js';
import { parseLabels, writeSimulation } from './output.js';
import { Simulator, type SimFrame } from './simulator.js';

async function collect(stream: PassThrough): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const opts = {
  topology: 'substation-b',
  seed: 8,
  startMs: Date.UTC(2026, 0, 7, 9),
  durationS: 90,
  attacks: [
    { attack: 'port-scan' as const, atS: 10, durationS: 20 },
    { attack: 'http-bruteforce' as const, atS: 40, durationS: 20 },
  ],
};

describe('writeSimulation', () => {
  it('writes a pcap our reader accepts and one label line per frame that matches the generated labels', async () => {
    const expected: SimFrame[] = [...new Simulator(opts)];
    const pcap = new PassThrough();
    const labels = new PassThrough();
    const pcapBytes = collect(pcap);
    const labelText = collect(labels);

    const summary = await writeSimulation(new Simulator(opts), { pcap, labels });
    pcap.end();
    labels.end();

    const frames: { tsSec: number; tsNsec: number; data: Buffer }[] = [];
    const parser = new CaptureParser({
      file: 'sim',
      onPacket: (p) =>
        frames.push({
          tsSec: p.tsSec,
          tsNsec: p.tsNsec,
          data: Buffer.from(p.buf.subarray(p.off, p.off + p.capLen)),
        }),
    });
    parser.push(await pcapBytes);
    const stats = parser.end();
    const rows = parseLabels((await labelText).toString('utf8'));

    expect(stats.errors).toEqual({});
    expect(frames).toHaveLength(expected.length);
    expect(summary.frames).toBe(expected.length);
    expect(Buffer.concat(frames.map((f) => f.data)).equals(Buffer.concat(expected.map((e) => e.data)))).toBe(
      true,
    );
    expect(frames.map((f) => f.tsSec * 1_000_000 + f.tsNsec / 1000)).toEqual(expected.map((e) => e.tUs));
    expect(rows).toEqual(
      expected.map((e, i) => ({
        frame: i + 1,
        label: e.label ? 1 : 0,
        technique: e.label?.technique ?? '',
        attack: e.label?.attack ?? '',
      })),
    );
    expect(summary.techniques).toEqual({
      T0846: rows.filter((r) => r.technique === 'T0846').length,
      T0859: rows.filter((r) => r.technique === 'T0859').length,
    });
  });

  it('reads the two-column label files of the shared captures too', () => {
    expect(parseLabels('1;0\n2;1\n')).toEqual([
      { frame: 1, label: 0, technique: '', attack: '' },
      { frame: 2, label: 1, technique: '', attack: '' },
    ]);
  });
});
