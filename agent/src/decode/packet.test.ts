import { describe, expect, it } from 'vitest';
import { LinkType, type RawPacket } from '../capture/types.js';
import { ethernet, ipv4Packet, ipv6Packet, tcpFrame, tcpSegment } from '../testing/frames.js';
import { decodeFrame } from './packet.js';
import { Counters, PacketView } from './types.js';

function decode(
  data: Buffer,
  linkType: number = LinkType.ETHERNET,
): { ok: boolean; pkt: PacketView; c: Counters } {
  const raw: RawPacket = {
    frame: 1,
    tsSec: 1,
    tsNsec: 0,
    linkType,
    buf: data,
    off: 0,
    capLen: data.length,
    origLen: data.length,
  };
  const pkt = new PacketView();
  const c = new Counters();
  return { ok: decodeFrame(raw, pkt, c), pkt, c };
}

const seg = tcpSegment({
  sport: 40000,
  dport: 502,
  seq: 7,
  ack: 9,
  flags: 0x18,
  window: 512,
  payload: Buffer.from('hello'),
});

describe('decodeFrame', () => {
  it('decodes Ethernet/IPv4/TCP down to the payload, ignoring Ethernet padding', () => {
    const { ok, pkt, c } = decode(
      tcpFrame({
        src: '192.168.1.2',
        dst: '192.168.1.3',
        sport: 40000,
        dport: 502,
        payload: Buffer.from('hi'),
      }),
    );
    expect(ok).toBe(true);
    expect(c.snapshot()).toEqual({});
    expect([pkt.srcAddr(), pkt.dstAddr(), pkt.sport, pkt.dport, pkt.payloadLen]).toEqual([
      '192.168.1.2',
      '192.168.1.3',
      40000,
      502,
      2,
    ]);
  });

  it('reads TCP flags, sequence numbers, window and options', () => {
    const options = Buffer.from([2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
    const { pkt } = decode(
      tcpFrame({ sport: 1, dport: 2, seq: 0xfffffff0, ack: 5, flags: 0x12, window: 1000, options }),
    );
    expect([
      pkt.tcpFlags,
      pkt.seq,
      pkt.ack,
      pkt.window,
      pkt.mss,
      pkt.wscale,
      pkt.sackPermitted,
      pkt.tsVal,
      pkt.tsEcr,
    ]).toEqual([0x12, 0xfffffff0, 5, 1000, 1460, 7, true, 1, 2]);
  });

  it('strips 802.1Q and QinQ tags', () => {
    const single = decode(tcpFrame({ sport: 1, dport: 502, vlans: [10] }));
    const double = decode(tcpFrame({ sport: 1, dport: 502, vlans: [100, 200] }));
    expect([single.ok, single.pkt.vlanOuter, single.pkt.vlanInner]).toEqual([true, 10, -1]);
    expect([double.ok, double.pkt.vlanOuter, double.pkt.vlanInner, double.pkt.dport]).toEqual([
      true,
      100,
      200,
      502,
    ]);
  });

  it('decodes Linux cooked SLL and SLL2 and raw IP link types', () => {
    const ip = ipv4Packet('1.2.3.4', '5.6.7.8', 6, seg);
    const sll = Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00]), ip]);
    const sll2 = Buffer.concat([
      Buffer.from([0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0]),
      ip,
    ]);
    for (const [data, lt] of [
      [sll, LinkType.LINUX_SLL],
      [sll2, LinkType.LINUX_SLL2],
      [ip, LinkType.RAW],
      [ip, LinkType.IPV4],
    ] as const) {
      const { ok, pkt } = decode(data, lt);
      expect([ok, pkt.srcAddr(), pkt.dport, pkt.payloadLen]).toEqual([true, '1.2.3.4', 502, 5]);
    }
  });

  it('walks IPv6 extension headers to TCP and formats addresses per RFC 5952', () => {
    // Hop-by-hop (8 bytes) then destination options (8 bytes) then TCP.
    const ext = Buffer.from([60, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0]);
    const { ok, pkt } = decode(ethernet(0x86dd, ipv6Packet('2001:db8::1', 'fe80::2:0:0:3', 0, seg, ext)));
    expect([ok, pkt.ipVersion, pkt.srcAddr(), pkt.dstAddr(), pkt.dport, pkt.payloadLen]).toEqual([
      true,
      6,
      '2001:db8::1',
      'fe80::2:0:0:3',
      502,
      5,
    ]);
  });

  it('flags IPv4 and IPv6 fragments instead of decoding their transport header', () => {
    const v4 = decode(ethernet(0x0800, ipv4Packet('1.1.1.1', '2.2.2.2', 6, seg, { flagsFrag: 0x2000 })));
    const frag6 = Buffer.from([6, 0, 0, 1, 0, 0, 0, 42]);
    const v6 = decode(ethernet(0x86dd, ipv6Packet('::1', '::2', 44, seg, frag6)));
    expect([v4.ok, v4.pkt.fragment, v4.c.get('ipv4.fragment')]).toEqual([false, true, 1]);
    expect([v6.ok, v6.pkt.fragment, v6.c.get('ipv6.fragment')]).toEqual([false, true, 1]);
  });

  it('decodes UDP and ICMP headers', () => {
    const udp = Buffer.from([0x13, 0x88, 0x00, 0x35, 0, 12, 0, 0, 1, 2, 3, 4]);
    const u = decode(ethernet(0x0800, ipv4Packet('1.1.1.1', '2.2.2.2', 17, udp)));
    const i = decode(
      ethernet(0x0800, ipv4Packet('1.1.1.1', '2.2.2.2', 1, Buffer.from([8, 0, 0, 0, 0, 1, 0, 1]))),
    );
    expect([u.ok, u.pkt.sport, u.pkt.dport, u.pkt.payloadLen]).toEqual([true, 5000, 53, 4]);
    expect([i.ok, i.pkt.icmpType, i.pkt.icmpCode]).toEqual([true, 8, 0]);
  });

  it('leaves nothing of the frame before in a reused view when the next frame is read in one go', () => {
    const options = Buffer.from([2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
    const before = [
      tcpFrame({ vlans: [7, 8], sport: 1, dport: 2, flags: 0x12, options }),
      ethernet(0x0800, ipv4Packet('1.1.1.1', '2.2.2.2', 1, Buffer.from([8, 0, 0, 0, 0, 1, 0, 1]))),
    ];
    const udp = ethernet(
      0x0800,
      ipv4Packet('1.1.1.1', '2.2.2.2', 17, Buffer.from([0x13, 0x88, 0, 0x35, 0, 8, 0, 0])),
    );
    const next = [tcpFrame({ sport: 3, dport: 4, payload: Buffer.from('x') }), udp];
    const raw = (data: Buffer): RawPacket => ({
      frame: 1,
      tsSec: 1,
      tsNsec: 0,
      linkType: LinkType.ETHERNET,
      buf: data,
      off: 0,
      capLen: data.length,
      origLen: data.length,
    });
    for (const b of before) {
      for (const n of next) {
        const reused = new PacketView();
        decodeFrame(raw(b), reused, new Counters());
        expect(decodeFrame(raw(n), reused, new Counters())).toBe(true);
        // Every field as a fresh view has it; a UDP frame leaves TCP's sequence fields as they were (as reset() does).
        const fresh = decode(n).pkt;
        const tcpOnly = n === udp ? ['seq', 'ack', 'window'] : [];
        const own = (p: PacketView) =>
          Object.fromEntries(Object.entries(p).filter(([k]) => !tcpOnly.includes(k)));
        expect(own(reused)).toEqual(own(fresh));
      }
    }
  });

  it('counts every truncation by reason and never throws', () => {
    const full = tcpFrame({
      vlans: [5],
      sport: 1,
      dport: 502,
      options: Buffer.from([2, 4, 5, 0xb4]),
      payload: Buffer.from('x'),
    });
    const reasons = new Set<string>();
    for (let n = 0; n < full.length; n++) {
      const { c } = decode(full.subarray(0, n));
      for (const r of Object.keys(c.snapshot())) reasons.add(r);
    }
    expect([...reasons].sort()).toEqual([
      'ethernet.truncated',
      'ethernet.truncated_vlan_tag',
      'ipv4.truncated',
      'ipv4.truncated_payload',
      'tcp.truncated',
    ]);
  });

  it('reads an untagged frame in one go into the same fields as a tagged one read layer by layer', () => {
    const frame = (vlans: number[]): Buffer =>
      tcpFrame({
        vlans,
        src: '10.0.0.1',
        dst: '10.0.0.2',
        sport: 40000,
        dport: 502,
        payload: Buffer.from('abc'),
      });
    const plain = decode(frame([])).pkt;
    const tagged = decode(frame([7])).pkt;
    const fields = (p: PacketView, shift: number): unknown[] => [
      p.etherType,
      p.ipVersion,
      p.ttl,
      p.ipProto,
      p.src4,
      p.dst4,
      p.fragment,
      p.sport,
      p.dport,
      p.tcpFlags,
      p.seq,
      p.ack,
      p.window,
      p.mss,
      p.wscale,
      p.sackPermitted,
      p.tsVal,
      p.tsEcr,
      p.icmpType,
      p.icmpCode,
      p.ipOff - shift,
      p.payloadOff - shift,
      p.payloadLen,
    ];
    expect(fields(plain, 0)).toEqual(fields(tagged, 4));
    expect([plain.vlanOuter, tagged.vlanOuter]).toEqual([-1, 7]);
    // Cut short at every length, the untagged frame counts the same reasons as layer by layer.
    const full = frame([]);
    const reasons = new Set<string>();
    for (let n = 0; n < full.length; n++) {
      const { ok, c } = decode(full.subarray(0, n));
      expect(ok).toBe(n >= 14 + 20 + 20);
      for (const r of Object.keys(c.snapshot())) reasons.add(r);
    }
    expect([...reasons].sort()).toEqual([
      'ethernet.truncated',
      'ipv4.truncated',
      'ipv4.truncated_payload',
      'tcp.truncated',
    ]);
  });
});
