import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '@vigil/shared';
import { needComponent } from '@vigil/shared/testing';
import { pcapHeader, pcapRecord } from '../capture/pcap-writer.js';
import { SHARED_PCAPS, sharedCaptures } from '../testing-paths.js';
import { mbap, tcpFrame } from '../testing/frames.js';
import { runDecode } from './decode.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-decode-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function decode(file: string): Promise<{ lines: Record<string, unknown>[]; err: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  const o: Buffer[] = [];
  const e: Buffer[] = [];
  out.on('data', (c: Buffer) => o.push(c));
  err.on('data', (c: Buffer) => e.push(c));
  await runDecode(file, { format: 'jsonl', stats: false }, out, err);
  const text = Buffer.concat(o).toString('utf8');
  return {
    lines: text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>),
    err: Buffer.concat(e).toString('utf8'),
  };
}

describe('vigil-agent decode --format jsonl', () => {
  it('prints one line per frame that completes a PDU, on the completing frame, with absent keys left out', async () => {
    const a = mbap(7, 3, [3, 0, 1, 0, 2]);
    const b = mbap(8, 3, [3, 0, 9, 0, 1]);
    const c = { src: '192.168.0.10', dst: '192.168.0.20', sport: 40001, dport: 502 };
    const file = join(dir, 'split.pcap');
    writeFileSync(
      file,
      Buffer.concat([
        pcapHeader(),
        pcapRecord(1_700_000_000, 500_000, tcpFrame({ ...c, seq: 1, payload: a.subarray(0, 4) })),
        pcapRecord(1_700_000_001, 0, tcpFrame({ ...c, seq: 5, payload: Buffer.concat([a.subarray(4), b]) })),
        pcapRecord(
          1_700_000_002,
          0,
          tcpFrame({
            src: c.dst,
            dst: c.src,
            sport: 502,
            dport: c.sport,
            seq: 1,
            payload: mbap(7, 3, [0x83, 2]),
          }),
        ),
      ]),
    );
    const { lines, err } = await decode(file);
    expect(err).toBe('');
    expect(lines).toEqual([
      {
        frame: 2,
        ts: 1_700_000_001,
        src: '192.168.0.10',
        dst: '192.168.0.20',
        sport: 40001,
        dport: 502,
        modbus: [
          { trans_id: 7, unit_id: 3, func_code: 3, is_response: false, address: 1, quantity: 2 },
          { trans_id: 8, unit_id: 3, func_code: 3, is_response: false, address: 9, quantity: 1 },
        ],
      },
      {
        frame: 3,
        ts: 1_700_000_002,
        src: '192.168.0.20',
        dst: '192.168.0.10',
        sport: 502,
        dport: 40001,
        modbus: [
          {
            trans_id: 7,
            unit_id: 3,
            func_code: 3,
            exception_code: 2,
            is_response: true,
            address: 1,
            request_frame: 2,
          },
        ],
      },
    ]);
  });

  it('names the file and frame of a problem inside the capture on stderr and keeps what it read', async () => {
    const file = join(dir, 'cut.pcap');
    const whole = Buffer.concat([
      pcapHeader(),
      pcapRecord(1, 0, tcpFrame({ sport: 1, dport: 502, payload: mbap(1, 1, [7]) })),
    ]);
    writeFileSync(file, Buffer.concat([whole, whole.subarray(24, 40)]));
    const { lines, err } = await decode(file);
    expect(lines).toHaveLength(1);
    expect(err).toContain(`${file}: input ends inside the frame`);
  });

  it('rejects a missing file and a file that is not a capture with a usage error', async () => {
    await expect(decode(join(dir, 'nope.pcap'))).rejects.toThrow(UsageError);
    const text = join(dir, 'text.pcap');
    writeFileSync(text, 'hello, this is not a capture\n');
    await expect(decode(text)).rejects.toThrow(/is not a pcap or pcapng capture/);
  });

  const dnp3 = sharedCaptures().find((f) => f.endsWith('iti_bro_dnp3_dnp3.pcap'));
  const havePcaps = needComponent(
    'shared captures',
    dnp3 !== undefined,
    `expected iti_bro_dnp3_dnp3.pcap at ${SHARED_PCAPS}`,
  );
  it.skipIf(!havePcaps)(
    'counts the 80-million-second clock jump of a real capture and keeps decoding',
    async () => {
      const out = new PassThrough();
      out.resume();
      const { capture, pipeline } = await runDecode(
        dnp3 ?? '',
        { format: 'jsonl', stats: false },
        out,
        new PassThrough(),
      );
      expect(capture.timeJumps).toBeGreaterThanOrEqual(1);
      expect(capture.largestJumpSeconds).toBeGreaterThan(80_000_000);
      expect(pipeline.frames).toBe(capture.frames);
      expect(pipeline.counters.internal_error).toBeUndefined();
    },
  );
});
