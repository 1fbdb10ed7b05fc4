import { describe, expect, it } from 'vitest';
import type { Label } from './net.js';
import {
  internetChecksum,
  makeHost,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  TcpConn,
  udpFrame,
} from './net.js';

interface Captured {
  t: number;
  f: Buffer;
  label: Label | undefined;
}

function sink(): { frames: Captured[]; emit: (t: number, f: Buffer, label: Label | undefined) => void } {
  const frames: Captured[] = [];
  return { frames, emit: (t, f, label) => frames.push({ t, f, label }) };
}

/** Verifies a frame's IPv4 header checksum and its TCP/UDP checksum over the pseudo-header, independently. */
function checksumsValid(f: Buffer): boolean {
  const ip = f.subarray(14);
  if (internetChecksum(ip, 0, 20) !== 0) return false;
  const total = ip.readUInt16BE(2);
  const l4 = total - 20;
  const pseudo = Buffer.alloc(12);
  ip.copy(pseudo, 0, 12, 20);
  pseudo[9] = ip[9]!;
  pseudo.writeUInt16BE(l4, 10);
  const whole = Buffer.concat([pseudo, ip.subarray(20, 20 + l4)]);
  return internetChecksum(whole, 0, whole.length) === 0;
}

const tcp = (f: Buffer): { flags: number; seq: number; ack: number; payload: number } => ({
  flags: f[14 + 20 + 13]!,
  seq: f.readUInt32BE(14 + 20 + 4),
  ack: f.readUInt32BE(14 + 20 + 8),
  payload: f.readUInt16BE(16) - 20 - (f[14 + 20 + 12]! >> 4) * 4,
});

describe('frames', () => {
  it('carries valid IPv4 and UDP checksums (odd payload length too)', () => {
    const a = makeHost('a', '10.0.0.1');
    const b = makeHost('b', '10.0.0.2');

    const f = udpFrame(a, b, 40000, 53, Buffer.from('odd-length!'));

    expect(checksumsValid(f)).toBe(true);
    expect(f.readUInt16BE(12)).toBe(0x0800);
    expect(f.subarray(0, 6)).toEqual(b.mac);
  });

  it('numbers IPv4 ids per host and gives every host its own MAC', () => {
    const a = makeHost('a', '10.0.0.1');
    const b = makeHost('b', '10.0.0.2');

    const f1 = udpFrame(a, b, 1, 2, Buffer.alloc(4));
    const f2 = udpFrame(a, b, 1, 2, Buffer.alloc(4));

    expect(f2.readUInt16BE(18)).toBe((f1.readUInt16BE(18) + 1) & 0xffff);
    expect(a.mac).not.toEqual(b.mac);
  });
});

describe('TcpConn', () => {
  it('runs a handshake, a request/response and a teardown with consistent sequence numbers and checksums', () => {
    const s = sink();
    const c = makeHost('c', '10.0.0.1');
    const srv = makeHost('s', '10.0.0.2');
    const conn = new TcpConn(s, c, srv, 50000, 502, { client: 1000, server: 0xfffffff0 }, undefined);

    let t = conn.connect(0);
    t = conn.exchange(t + 10, Buffer.alloc(12, 1), Buffer.alloc(2000, 2), 3000);
    conn.close(t + 10, true);

    const segs = s.frames.map((x) => tcp(x.f));
    expect(s.frames.every((x) => checksumsValid(x.f))).toBe(true);
    expect(segs[0]).toMatchObject({ flags: TCP_SYN, seq: 1000 });
    expect(segs[1]).toMatchObject({ flags: TCP_SYN | TCP_ACK, seq: 0xfffffff0, ack: 1001 });
    expect(segs[2]).toMatchObject({ flags: TCP_ACK, seq: 1001, ack: 0xfffffff1 });
    expect(segs[3]).toMatchObject({ flags: TCP_PSH | TCP_ACK, seq: 1001, payload: 12 });
    // The 2000-byte response is split at the MSS; the sequence number wraps past 2^32.
    expect(segs[4]).toMatchObject({ flags: TCP_ACK, seq: 0xfffffff1, ack: 1013, payload: 1460 });
    expect(segs[5]).toMatchObject({ flags: TCP_PSH | TCP_ACK, seq: (0xfffffff1 + 1460) >>> 0, payload: 540 });
    expect(segs[6]).toMatchObject({ flags: TCP_ACK, seq: 1013, ack: (0xfffffff1 + 2000) >>> 0 });
    expect(segs[7]).toMatchObject({ flags: TCP_FIN | TCP_ACK, seq: 1013 });
    expect(segs[8]).toMatchObject({ flags: TCP_FIN | TCP_ACK, ack: 1014 });
    expect(segs[9]).toMatchObject({ flags: TCP_ACK, seq: 1014, ack: (0xfffffff1 + 2001) >>> 0 });
    expect(s.frames.map((x) => x.t)).toEqual([...s.frames.map((x) => x.t)].sort((a, b) => a - b));
  });

  it('answers a probe of a closed port with RST/ACK and resets a half-open probe of an open one', () => {
    const s = sink();
    const c = makeHost('c', '10.0.0.1');
    const srv = makeHost('s', '10.0.0.2');
    const l = { attack: 'port-scan', technique: 'T0846' };

    new TcpConn(s, c, srv, 50001, 23, { client: 5, server: 9 }, l).refused(0);
    new TcpConn(s, c, srv, 50002, 502, { client: 5, server: 9 }, l).halfOpen(10);

    expect(s.frames.map((x) => tcp(x.f).flags)).toEqual([
      TCP_SYN,
      TCP_RST | TCP_ACK,
      TCP_SYN,
      TCP_SYN | TCP_ACK,
      TCP_RST,
    ]);
    expect(tcp(s.frames[1]!.f).ack).toBe(6);
    expect(s.frames.every((x) => x.label === l)).toBe(true);
  });
});
