// The window's last 60 seconds of a real capture agree with tshark's view of the same packets: per epoch second,
// packets, bytes on the wire, distinct source and destination addresses (HLL, within its stated error), Modbus
// requests by function code.
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { UNIQUE_COUNT_STANDARD_ERROR } from '@vigil/shared';
import { hasCommand, needComponent } from '@vigil/shared/testing';
import { PacketClock } from '../capture/packet-clock.js';
import { replay } from '../capture/replay.js';
import { SHARED_PCAPS, sharedCaptures } from '../testing-paths.js';
import { Analyzer } from './analyzer.js';

const run = promisify(execFile);

interface Second {
  packets: number;
  bytes: number;
  src: Set<string>;
  dst: Set<string>;
  requests: Map<number, number>;
}

async function tsharkSeconds(file: string): Promise<Map<number, Second>> {
  const { stdout } = await run(
    'tshark',
    [
      '-r',
      file,
      '-Y',
      'tcp or udp or icmp',
      '-T',
      'fields',
      '-E',
      'separator=;',
      '-E',
      'aggregator=,',
      '-e',
      'frame.time_epoch',
      '-e',
      'frame.len',
      '-e',
      'ip.src',
      '-e',
      'ip.dst',
      '-e',
      'tcp.dstport',
      '-e',
      'modbus.func_code',
    ],
    { maxBuffer: 256 * 1024 * 1024 },
  );
  const out = new Map<number, Second>();
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    const [t = '0', len = '0', src = '', dst = '', dport = '', fcs = ''] = line.split(';');
    const sec = Math.floor(Number(t));
    let s = out.get(sec);
    if (s === undefined)
      out.set(sec, (s = { packets: 0, bytes: 0, src: new Set(), dst: new Set(), requests: new Map() }));
    s.packets++;
    s.bytes += Number(len);
    s.src.add(src);
    s.dst.add(dst);
    if (dport === '502' && fcs !== '') {
      for (const fc of fcs.split(',').map(Number))
        if (fc < 128) s.requests.set(fc, (s.requests.get(fc) ?? 0) + 1);
    }
  }
  return out;
}

const haveTshark = needComponent(
  'tshark',
  hasCommand('tshark'),
  'apt-get install tshark (deploy/install-test-deps.sh)',
);
const havePcaps = needComponent(
  'shared captures',
  sharedCaptures().length > 0,
  `expected at ${SHARED_PCAPS}`,
);

describe.skipIf(!haveTshark || !havePcaps)('the 60-second window agrees with tshark', () => {
  it.each([
    'lemay_characterization_modbus_6RTU_with_operate.pcap',
    'iti_ModbusTCP_modbus_test_data_part1.pcap',
  ])('%s', async (name) => {
    const file = join(SHARED_PCAPS, name);
    const clock = new PacketClock();
    const analyzer = new Analyzer({ clock });
    await replay(createReadStream(file), { file, clock, handle: (p) => analyzer.handle(p) });
    const theirs = await tsharkSeconds(file);
    const rows = analyzer.window.rows();
    expect(rows).toHaveLength(60);
    let compared = 0;
    for (const r of rows) {
      const sec = Date.parse(r.time) / 1000;
      const t = theirs.get(sec);
      expect(r.packets_per_sec, r.time).toBe(t?.packets ?? 0);
      if (t === undefined) continue;
      compared++;
      expect(r.bytes_per_sec, r.time).toBe(t.bytes);
      const tolerance = (n: number): number => Math.max(1, 3 * UNIQUE_COUNT_STANDARD_ERROR * n);
      expect(Math.abs(r.unique_src_ips - t.src.size), r.time).toBeLessThanOrEqual(tolerance(t.src.size));
      expect(Math.abs(r.unique_dest_ips - t.dst.size), r.time).toBeLessThanOrEqual(tolerance(t.dst.size));
      expect(r.modbus_requests_by_function, r.time).toEqual(
        Object.fromEntries([...t.requests].map(([k, v]) => [String(k), v])),
      );
    }
    expect(compared).toBeGreaterThan(0);
  });
});
