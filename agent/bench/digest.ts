// Output digests of the decode side, to show that a speed change changed no result: per capture, SHA-256 of every
// decoded event (all fields, as `vigil-agent decode` prints them, plus protocol, frame, ts and flow), the pipeline's
// stats, every per-packet feature record, every second's window row and the asset inventory (at the end and every
// 50,000 packets, read between packets as a caller may). Run it before and
// after a change and compare the two JSON files (`diff`). Not run in CI.
//
// Usage: tsx bench/digest.ts --out FILE [--bench-bytes N (40 MB)] CAPTURE...
//   a capture larger than --bench-bytes is read only that far (the 2M-packet bench captures).
import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, readSync, statSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { PacketClock } from '../src/capture/packet-clock.js';
import { CaptureParser } from '../src/capture/pcap.js';
import type { RawPacket } from '../src/capture/types.js';
import { eventJson } from '../src/cli/decode.js';
import { DecodePipeline } from '../src/decode/pipeline.js';
import type { DecodedEvent } from '../src/decode/types.js';
import { Analyzer } from '../src/features/analyzer.js';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: { out: { type: 'string' }, 'bench-bytes': { type: 'string', default: String(40 * 1024 * 1024) } },
});
if (args.out === undefined || positionals.length === 0)
  throw new Error('usage: digest.ts --out FILE CAPTURE...');
const limit = Number(args['bench-bytes']);

function read(file: string): Buffer {
  const size = Math.min(statSync(file).size, limit);
  const buf = Buffer.alloc(size);
  const fd = openSync(file, 'r');
  try {
    let o = 0;
    while (o < size) o += readSync(fd, buf, o, size - o, o);
  } finally {
    closeSync(fd);
  }
  return buf;
}

function feed(data: Buffer, clock: PacketClock, handle: (p: RawPacket) => void): void {
  const parser = new CaptureParser({
    file: 'digest',
    onPacket: (p) => {
      clock.observe(p.tsSec, p.tsNsec);
      handle(p);
    },
  });
  const CHUNK = 4 * 1024 * 1024;
  for (let o = 0; o < data.length; o += CHUNK) parser.push(data.subarray(o, o + CHUNK));
  parser.end();
}

const hex = (h: Hash): string => h.digest('hex').slice(0, 32);
const eventText = (e: DecodedEvent): string => `${e.protocol}|${e.frame}|${e.ts}|${e.flow}|${eventJson(e)}\n`;

const result: Record<string, Record<string, string | number>> = {};
for (const file of positionals) {
  const data = read(file);
  // Decode alone.
  const events = createHash('sha256');
  let n = 0;
  const clock = new PacketClock();
  const pipeline = new DecodePipeline({
    clock,
    onEvent: (e) => {
      n++;
      events.update(eventText(e));
    },
  });
  feed(data, clock, (p) => pipeline.handle(p));
  const stats = createHash('sha256').update(JSON.stringify(pipeline.stats()));
  // Decode + features + window + inventory.
  const features = createHash('sha256');
  const rows = createHash('sha256');
  const analyzerEvents = createHash('sha256');
  const clock2 = new PacketClock();
  const midInventory = createHash('sha256');
  let packets = 0;
  let sec = -1;
  const a: Analyzer = new Analyzer({
    clock: clock2,
    onFeatures: (r) => features.update(new Uint8Array(r.buffer, r.byteOffset, r.byteLength)),
    onEvent: (e) => analyzerEvents.update(eventText(e)),
    onPacket: (_pkt, ms) => {
      const s = Math.floor(ms / 1000);
      if (s !== sec) {
        if (sec >= 0) rows.update(JSON.stringify(a.window.row(sec) ?? null));
        sec = s;
      }
    },
  });
  feed(data, clock2, (p) => {
    a.handle(p);
    if (++packets % 50_000 === 0) midInventory.update(JSON.stringify(a.assets.toJson()));
  });
  if (sec >= 0) rows.update(JSON.stringify(a.window.row(sec) ?? null));
  result[basename(file)] = {
    events: n,
    eventsSha: hex(events),
    stats: hex(stats),
    analyzerEvents: hex(analyzerEvents),
    features: hex(features),
    windowRows: hex(rows),
    inventory: hex(createHash('sha256').update(JSON.stringify(a.assets.toJson()))),
    inventoryEvery50k: hex(midInventory),
    analyzerStats: hex(createHash('sha256').update(JSON.stringify(a.pipeline.stats()))),
  };
  process.stderr.write(`${basename(file)}: ${n} events\n`);
}
writeFileSync(args.out, JSON.stringify(result, null, 1) + '\n');
