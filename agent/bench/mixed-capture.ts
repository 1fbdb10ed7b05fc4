// Writes a synthetic mixed-protocol capture for the analysis benchmark: repeated sessions, each a new client port
// (a new flow) of Modbus/TCP (handshake, 5 polls with responses and ACKs), MQTT (CONNECT/CONNACK, 4 PUBLISH, ping),
// DNS over UDP (4 queries and answers, the last NXDOMAIN) and HTTP (GET, 200 with a body, ACK). The session's
// frames are built once and patched per repetition (client address and port), so millions of packets take seconds.
// Deterministic.
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { pcapHeader } from '../src/capture/pcap-writer.js';
import { mixedSession } from '../src/testing/mixed-session.js';

export interface MixedCaptureOptions {
  path: string;
  packets: number;
}

/** Offsets in an Ethernet/IPv4 frame without options. */
const SRC_IP = 26;
const DST_IP = 30;
const SPORT = 34;
const DPORT = 36;
const BLOCK = 4 * 1024 * 1024;

export async function writeMixedCapture(opts: MixedCaptureOptions): Promise<void> {
  const templates = mixedSession();
  const out = createWriteStream(opts.path);
  out.write(pcapHeader());
  let buf = Buffer.alloc(BLOCK);
  let off = 0;
  let usec = 0;
  for (let n = 0, rep = 0; n < opts.packets; rep++) {
    // A new client per repetition: 10.1.x.y and a port that cycles through 20000-59999.
    const client = (0x0a010000 + (rep % 60000)) >>> 0;
    const port = 20000 + (rep % 40000);
    for (const t of templates) {
      if (n >= opts.packets) break;
      const len = t.frame.length;
      if (off + 16 + len > BLOCK) {
        if (!out.write(buf.subarray(0, off))) await once(out, 'drain');
        buf = Buffer.alloc(BLOCK);
        off = 0;
      }
      usec += 5;
      buf.writeUInt32LE(1_700_000_000 + Math.floor(usec / 1e6), off);
      buf.writeUInt32LE(usec % 1e6, off + 4);
      buf.writeUInt32LE(len, off + 8);
      buf.writeUInt32LE(len, off + 12);
      const f = off + 16;
      t.frame.copy(buf, f);
      buf.writeUInt32BE(client, t.fromClient ? f + SRC_IP : f + DST_IP);
      buf.writeUInt16BE(port, t.fromClient ? f + SPORT : f + DPORT);
      off = f + len;
      n++;
    }
  }
  out.write(buf.subarray(0, off));
  out.end();
  await once(out, 'finish');
}
