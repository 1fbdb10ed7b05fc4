// Writes a synthetic Modbus/TCP capture for the decode benchmark: many client connections polling servers with
// Read Holding Registers, each exchange a request, a response and a pure ACK; every 50th response is split over two
// segments and every 40th pair of requests shares one segment, so reassembly is exercised. Deterministic. Frames
// are written straight into large blocks (no per-packet buffers) so that 2M packets take seconds.
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { pcapHeader } from '../src/capture/pcap-writer.js';

export interface ModbusCaptureOptions {
  path: string;
  packets: number;
  /** Concurrent client connections. */
  flows: number;
}

const REGISTERS = 10;
const BLOCK = 4 * 1024 * 1024;
const HEADERS = 14 + 20 + 20;

class BlockWriter {
  buf = Buffer.alloc(BLOCK);
  off = 0;
  usec = 0;
  count = 0;
  /** One pcap record with an Ethernet/IPv4/TCP frame; returns the payload offset for the caller to fill. */
  frame(
    src: number,
    dst: number,
    sport: number,
    dport: number,
    seq: number,
    ack: number,
    flags: number,
    len: number,
  ): number {
    const b = this.buf;
    let o = this.off;
    const caplen = Math.max(HEADERS + len, 60);
    this.usec += 7;
    b.writeUInt32LE(1_700_000_000 + Math.floor(this.usec / 1e6), o);
    b.writeUInt32LE(this.usec % 1e6, o + 4);
    b.writeUInt32LE(caplen, o + 8);
    b.writeUInt32LE(caplen, o + 12);
    o += 16;
    b.fill(0, o, o + caplen);
    b.writeUInt32BE(0x02000000, o);
    b.writeUInt32BE(0x00010200, o + 4);
    b.writeUInt32BE(0x00000002, o + 8);
    b.writeUInt16BE(0x0800, o + 12);
    const ip = o + 14;
    b[ip] = 0x45;
    b.writeUInt16BE(40 + len, ip + 2);
    b.writeUInt16BE(0x4000, ip + 6);
    b[ip + 8] = 64;
    b[ip + 9] = 6;
    b.writeUInt32BE(src >>> 0, ip + 12);
    b.writeUInt32BE(dst >>> 0, ip + 16);
    const t = ip + 20;
    b.writeUInt16BE(sport, t);
    b.writeUInt16BE(dport, t + 2);
    b.writeUInt32BE(seq >>> 0, t + 4);
    b.writeUInt32BE(ack >>> 0, t + 8);
    b[t + 12] = 0x50;
    b[t + 13] = flags;
    b.writeUInt16BE(8192, t + 14);
    this.off = o + caplen;
    this.count++;
    return t + 20;
  }
}

function mbapAt(b: Buffer, o: number, trans: number, pduLen: number): number {
  b.writeUInt16BE(trans & 0xffff, o);
  b.writeUInt16BE(0, o + 2);
  b.writeUInt16BE(pduLen + 1, o + 4);
  b[o + 6] = 1;
  return o + 7;
}

export async function writeModbusCapture(o: ModbusCaptureOptions): Promise<number> {
  const out = createWriteStream(o.path);
  out.write(pcapHeader({}));
  const w = new BlockWriter();
  const cseq = new Uint32Array(o.flows).fill(1000);
  const sseq = new Uint32Array(o.flows).fill(900_000);
  const trans = new Uint16Array(o.flows);
  const resp = Buffer.alloc(7 + 2 + REGISTERS * 2);
  const flush = async (): Promise<void> => {
    if (!out.write(Buffer.from(w.buf.subarray(0, w.off)))) await once(out, 'drain');
    w.off = 0;
  };
  for (let round = 0; w.count < o.packets; round++) {
    for (let f = 0; f < o.flows && w.count + 4 <= o.packets; f++) {
      const client = (10 << 24) | (1 << 16) | f;
      const server = (10 << 24) | (2 << 16) | ((f % 50) + 1);
      const sport = 20000 + (f % 40000);
      const t = trans[f] ?? 0;
      const two = (round + f) % 40 === 0;
      trans[f] = (t + (two ? 2 : 1)) & 0xffff;
      const reqLen = two ? 24 : 12;
      let p = w.frame(client, server, sport, 502, cseq[f] ?? 0, sseq[f] ?? 0, 0x18, reqLen);
      for (let k = 0; k < (two ? 2 : 1); k++) {
        p = mbapAt(w.buf, p, t + k, 5);
        w.buf[p] = 3;
        w.buf.writeUInt16BE((f * 10) & 0xffff, p + 1);
        w.buf.writeUInt16BE(REGISTERS, p + 3);
        p += 5;
      }
      cseq[f] = ((cseq[f] ?? 0) + reqLen) >>> 0;
      const r = mbapAt(resp, 0, t, 2 + REGISTERS * 2);
      resp[r] = 3;
      resp[r + 1] = REGISTERS * 2;
      for (let i = 0; i < REGISTERS; i++) resp.writeUInt16BE((i * 7 + round) & 0xffff, r + 2 + i * 2);
      const ss = sseq[f] ?? 0;
      if ((round + f) % 50 === 0) {
        resp.copy(w.buf, w.frame(server, client, 502, sport, ss, cseq[f] ?? 0, 0x18, 10), 0, 10);
        resp.copy(
          w.buf,
          w.frame(server, client, 502, sport, ss + 10, cseq[f] ?? 0, 0x18, resp.length - 10),
          10,
        );
      } else {
        resp.copy(w.buf, w.frame(server, client, 502, sport, ss, cseq[f] ?? 0, 0x18, resp.length));
      }
      sseq[f] = (ss + resp.length) >>> 0;
      w.frame(client, server, sport, 502, cseq[f] ?? 0, sseq[f] ?? 0, 0x10, 0);
      if (w.off > BLOCK - 4096) await flush();
    }
    if (w.count + 4 > o.packets) {
      // Fill up with pure ACKs so that the capture has exactly the requested number of packets.
      while (w.count < o.packets)
        w.frame(0x0a010000, 0x0a020001, 20000, 502, cseq[0] ?? 0, sseq[0] ?? 0, 0x10, 0);
    }
  }
  await flush();
  out.end();
  await once(out, 'finish');
  return w.count;
}
