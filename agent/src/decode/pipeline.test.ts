import { describe, expect, it } from 'vitest';
import { ethernet, ipv4Packet, ipv6Packet, mbap, tcpFrame, tcpSegment } from '../testing/frames.js';
import { decodeModbusFrames as decodeFrames, type HarnessFrame } from '../testing/harness.js';
import { TcpState } from './pipeline.js';

const C = { src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 502 };
const S = { src: '10.0.0.2', dst: '10.0.0.1', sport: 502, dport: 40000 };
const req = (t: number): Buffer => mbap(t, 1, [3, 0, t, 0, 1]);

describe('TCP reassembly', () => {
  it('decodes a PDU split over three segments in the frame that completes it', () => {
    const a = req(1);
    const { events } = decodeFrames([
      tcpFrame({ ...C, seq: 100, payload: a.subarray(0, 3) }),
      tcpFrame({ ...S, seq: 1, flags: 0x10 }),
      tcpFrame({ ...C, seq: 103, payload: a.subarray(3, 8) }),
      tcpFrame({ ...C, seq: 108, payload: a.subarray(8) }),
    ]);
    expect(events.map((e) => [e.frame, e.trans_id, e.address])).toEqual([[4, 1, 1]]);
  });

  it('decodes several PDUs in one segment, and a tail that completes in the next', () => {
    const all = Buffer.concat([req(1), req(2), req(3)]);
    const { events } = decodeFrames([
      tcpFrame({ ...C, seq: 0, payload: all.subarray(0, 30) }),
      tcpFrame({ ...C, seq: 30, payload: all.subarray(30) }),
    ]);
    expect(events.map((e) => [e.frame, e.trans_id])).toEqual([
      [1, 1],
      [1, 2],
      [2, 3],
    ]);
  });

  it('keeps the split PDUs of many flows apart, flow ids beyond the first thousand included', () => {
    // 1,500 clients each send the first half of a request, then all send the second halves (a millisecond apart):
    // every flow direction holds bytes at once (the reassembly buffers' list grows past its initial size meanwhile).
    const n = 1500;
    const client = (i: number) => ({ ...C, src: `10.1.${i >> 8}.${i & 255}`, sport: 20000 + i });
    const frames: HarnessFrame[] = [];
    const at = (data: Buffer) => frames.push({ data, ts: 1 + frames.length / 1000 });
    for (let i = 0; i < n; i++) at(tcpFrame({ ...client(i), seq: 0, payload: req(i).subarray(0, 5) }));
    for (let i = n - 1; i >= 0; i--) at(tcpFrame({ ...client(i), seq: 5, payload: req(i).subarray(5) }));
    const { events } = decodeFrames(frames);
    expect(events.map((e) => [e.frame, e.trans_id, e.address])).toEqual(
      Array.from({ length: n }, (_, k) => [n + k + 1, n - 1 - k, (n - 1 - k) & 255]),
    );
  });

  it('skips retransmissions, trims overlaps and resynchronises after a gap, counting each', () => {
    const a = req(1);
    const b = req(2);
    const c = req(3);
    const { events, pipeline } = decodeFrames([
      tcpFrame({ ...C, seq: 0, payload: a }),
      tcpFrame({ ...C, seq: 0, payload: a }), // retransmission
      tcpFrame({ ...C, seq: 6, payload: Buffer.concat([a.subarray(6), b]) }), // overlaps 6 bytes of a
      tcpFrame({ ...C, seq: 1000, payload: c }), // gap: bytes 24..999 never captured
    ]);
    expect(events.map((e) => [e.frame, e.trans_id])).toEqual([
      [1, 1],
      [3, 2],
      [4, 3],
    ]);
    expect(pipeline.stats().counters).toMatchObject({
      'tcp.retransmission': 1,
      'tcp.overlap': 1,
      'tcp.gap': 1,
    });
  });

  it('ignores out-of-window segments without losing the stream', () => {
    const { events, pipeline } = decodeFrames([
      tcpFrame({ ...C, seq: 0, payload: req(1) }),
      tcpFrame({ ...C, seq: 0x40000000, payload: req(66) }),
      tcpFrame({ ...C, seq: 12, payload: req(2) }),
    ]);
    expect(events.map((e) => e.trans_id)).toEqual([1, 2]);
    expect(pipeline.stats().counters['tcp.out_of_window']).toBe(1);
  });

  it('handles sequence numbers that wrap around 2^32', () => {
    const a = req(1);
    const { events } = decodeFrames([
      tcpFrame({ ...C, seq: 0xfffffffa, payload: a.subarray(0, 6) }),
      tcpFrame({ ...C, seq: 0, payload: a.subarray(6) }),
    ]);
    expect(events.map((e) => e.trans_id)).toEqual([1]);
  });

  it('drops a PDU longer than the per-flow buffer cap, counted, and goes on with the stream', () => {
    const big = mbap(1, 1, [16, 0, 0, 0, 120, 240, ...new Array<number>(240).fill(0)]);
    const next = req(2);
    const { events, pipeline } = decodeFrames(
      [
        tcpFrame({ ...C, seq: 0, payload: big.subarray(0, 100) }),
        tcpFrame({ ...C, seq: 100, payload: big.subarray(100) }),
        tcpFrame({ ...C, seq: big.length, payload: next }),
      ],
      { maxFlowBuffer: 64 },
    );
    expect(events.map((e) => e.trans_id)).toEqual([2]);
    expect(pipeline.stats().counters).toMatchObject({ 'reassembly.pdu_too_large': 1 });
  });

  it('completes a buffered PDU and decodes the PDUs after it in the same segment', () => {
    const all = Buffer.concat([req(1), req(2), req(3), req(4)]);
    const { events } = decodeFrames(
      [
        tcpFrame({ ...C, seq: 0, payload: all.subarray(0, 5) }),
        tcpFrame({ ...C, seq: 5, payload: all.subarray(5) }),
      ],
      { maxFlowBuffer: 16 },
    );
    expect(events.map((e) => [e.frame, e.trans_id])).toEqual([
      [2, 1],
      [2, 2],
      [2, 3],
      [2, 4],
    ]);
  });

  it('starts a fresh stream on SYN and tracks the connection state', () => {
    const { events, pipeline } = decodeFrames([
      tcpFrame({ ...C, seq: 99, flags: 0x02 }),
      tcpFrame({ ...S, seq: 499, flags: 0x12 }),
      tcpFrame({ ...C, seq: 100, flags: 0x10 }),
      tcpFrame({ ...C, seq: 100, payload: req(5) }),
      tcpFrame({ ...S, seq: 500, payload: mbap(5, 1, [3, 2, 0, 9]) }),
    ]);
    expect(events.map((e) => [e.trans_id, e.is_response, e.request_frame])).toEqual([
      [5, false, undefined],
      [5, true, 4],
    ]);
    const flow = events[0]?.flow ?? -1;
    expect(pipeline.connectionState(flow)).toBe(TcpState.ESTABLISHED);
  });
});

describe('flow table bounds', () => {
  it('evicts the least recently used flow when full and counts it', () => {
    const frames = [1, 2, 3, 1, 4].map((n, i) =>
      tcpFrame({ ...C, sport: 40000 + n, seq: i * 100, payload: req(n) }),
    );
    const { pipeline } = decodeFrames(frames, { maxFlows: 3 });
    const s = pipeline.stats();
    expect(s.flows).toMatchObject({ active: 3, created: 4, evictedFull: 1 });
    expect(s.events).toBe(5);
  });

  it('expires idle flows on packet time and drops their partial PDUs, counted', () => {
    const frames = [
      { data: tcpFrame({ ...C, sport: 1, payload: req(1).subarray(0, 5) }), ts: 1000 },
      { data: tcpFrame({ ...C, sport: 2, payload: req(2) }), ts: 1000 + 601 },
    ];
    const { pipeline } = decodeFrames(frames, { idleTimeoutMs: 600_000 });
    expect(pipeline.stats().flows).toMatchObject({ active: 1, expiredIdle: 1 });
    expect(pipeline.stats().counters['reassembly.bytes_dropped_on_flow_eviction']).toBe(5);
  });
});

describe('IPv4 fragments', () => {
  const seg = tcpSegment({ ...C, seq: 1, payload: Buffer.concat([req(1), req(2), req(3)]) });
  const frag = (from: number, to: number, more: boolean): Buffer =>
    ethernet(
      0x0800,
      ipv4Packet(C.src, C.dst, 6, seg.subarray(from, to), { flagsFrag: (more ? 0x2000 : 0) | (from / 8) }),
    );

  it('reassembles a datagram from out-of-order fragments and decodes it in the completing frame', () => {
    const { events, pipeline } = decodeFrames([
      frag(16, 32, true),
      frag(32, seg.length, false),
      frag(0, 16, true),
    ]);
    expect(events.map((e) => [e.frame, e.trans_id])).toEqual([
      [3, 1],
      [3, 2],
      [3, 3],
    ]);
    expect(pipeline.stats().counters).toMatchObject({ 'ipv4.fragment': 3, 'ipv4.reassembled': 1 });
  });

  it('drops a datagram whose fragments do not all arrive in time, counted', () => {
    const { events, pipeline } = decodeFrames([
      { data: frag(0, 16, true), ts: 100 },
      { data: frag(32, seg.length, false), ts: 100 },
      { data: frag(16, 32, true), ts: 200 },
    ]);
    expect(events).toEqual([]);
    expect(pipeline.stats().counters).toMatchObject({ 'ipv4.fragment_timeout': 1 });
  });
});

describe('IPv6 fragments', () => {
  const C6 = { ...C, src: 'fd00::1', dst: 'fd00::2' };
  const seg = tcpSegment({ ...C6, seq: 1, payload: Buffer.concat([req(1), req(2), req(3)]) });
  /** Fragment header: next header, reserved, offset (8-byte units) << 3 | M, identification. */
  const fragHeader = (next: number, offset: number, more: boolean, id: number): Buffer => {
    const h = Buffer.alloc(8);
    h[0] = next;
    h.writeUInt16BE(((offset / 8) << 3) | (more ? 1 : 0), 2);
    h.writeUInt32BE(id, 4);
    return h;
  };
  // Hop-by-hop options before the fragment header (unfragmentable part): an empty 8-byte PadN option.
  const hopByHop = Buffer.from([44, 0, 1, 4, 0, 0, 0, 0]);
  const frag = (body: Buffer, from: number, to: number, more: boolean, id = 7, next = 6): Buffer =>
    ethernet(
      0x86dd,
      ipv6Packet(
        C6.src,
        C6.dst,
        0,
        body.subarray(from, to),
        Buffer.concat([hopByHop, fragHeader(next, from, more, id)]),
      ),
    );

  it('reassembles a datagram from out-of-order fragments behind extension headers and decodes it', () => {
    const { events, pipeline } = decodeFrames([frag(seg, 24, seg.length, false), frag(seg, 0, 24, true)]);

    expect(events.map((e) => [e.frame, e.trans_id])).toEqual([
      [2, 1],
      [2, 2],
      [2, 3],
    ]);
    expect(pipeline.stats().counters).toMatchObject({ 'ipv6.fragment': 2, 'ipv6.reassembled': 1 });
  });

  it('walks the extension headers that followed the fragment header once reassembled', () => {
    // Destination options (8 bytes, PadN) travel in the fragmentable part, before TCP.
    const body = Buffer.concat([Buffer.from([6, 0, 1, 4, 0, 0, 0, 0]), seg]);
    const { events } = decodeFrames([
      frag(body, 0, 32, true, 9, 60),
      frag(body, 32, body.length, false, 9, 60),
    ]);

    expect(events.map((e) => e.trans_id)).toEqual([1, 2, 3]);
  });

  it('keeps datagrams with different identifications apart and drops the one never completed', () => {
    const { events, pipeline } = decodeFrames([
      { data: frag(seg, 0, 24, true, 1), ts: 100 },
      { data: frag(seg, 0, 24, true, 2), ts: 100 },
      { data: frag(seg, 24, seg.length, false, 2), ts: 101 },
      { data: frag(seg, 24, seg.length, false, 1), ts: 200 },
    ]);

    expect(events.map((e) => [e.frame, e.trans_id])).toEqual([
      [3, 1],
      [3, 2],
      [3, 3],
    ]);
    expect(pipeline.stats().counters).toMatchObject({ 'ipv6.reassembled': 1, 'ipv6.fragment_timeout': 1 });
  });
});
