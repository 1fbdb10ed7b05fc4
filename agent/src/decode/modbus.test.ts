import { describe, expect, it } from 'vitest';
import { mbap, tcpFrame } from '../testing/frames.js';
import { decodeModbusFrames as decodeFrames } from '../testing/harness.js';
import type { ModbusEvent } from './modbus.js';

const CLIENT = { src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 502 };
const SERVER = { src: '10.0.0.2', dst: '10.0.0.1', sport: 502, dport: 40000 };

/** Alternating request/response ADUs on one connection, each in its own segment with correct sequence numbers. */
function exchange(adus: { toServer: boolean; adu: Buffer }[]): ModbusEvent[] {
  let cseq = 1000;
  let sseq = 5000;
  const frames = adus.map(({ toServer, adu }) => {
    const f = toServer
      ? tcpFrame({ ...CLIENT, seq: cseq, payload: adu })
      : tcpFrame({ ...SERVER, seq: sseq, payload: adu });
    if (toServer) cseq += adu.length;
    else sseq += adu.length;
    return f;
  });
  return decodeFrames(frames).events;
}

function pair(
  req: number[],
  resp: number[],
  trans = 1,
  unit = 1,
): [ModbusEvent | undefined, ModbusEvent | undefined] {
  const ev = exchange([
    { toServer: true, adu: mbap(trans, unit, req) },
    { toServer: false, adu: mbap(trans, unit, resp) },
  ]);
  return [ev[0], ev[1]];
}

describe('ModbusDecoder', () => {
  it('decodes read coils/discrete inputs with bit values trimmed to the requested quantity', () => {
    const [q, r] = pair([1, 0x00, 0x13, 0x00, 0x0a], [1, 2, 0xcd, 0x01]);
    expect(q).toMatchObject({ func_code: 1, is_response: false, address: 19, quantity: 10 });
    expect(r).toMatchObject({
      func_code: 1,
      is_response: true,
      byte_count: 2,
      address: 19,
      quantity: 10,
      request_frame: 1,
    });
    expect(r?.values).toEqual([1, 0, 1, 1, 0, 0, 1, 1, 1, 0]);
    expect(pair([2, 0, 0, 0, 3], [2, 1, 0x05])[1]?.values).toEqual([1, 0, 1]);
  });

  it('decodes read holding/input registers and carries the request address to the response', () => {
    const [q, r] = pair([3, 0x00, 0x6b, 0x00, 0x03], [3, 6, 0x02, 0x2b, 0x00, 0x00, 0x00, 0x64], 7, 17);
    expect(q).toMatchObject({ trans_id: 7, unit_id: 17, func_code: 3, address: 107, quantity: 3 });
    expect(r).toMatchObject({
      trans_id: 7,
      unit_id: 17,
      func_code: 3,
      address: 107,
      values: [555, 0, 100],
      request_frame: 1,
    });
    expect(pair([4, 0, 8, 0, 1], [4, 2, 0, 10])[1]).toMatchObject({ func_code: 4, address: 8, values: [10] });
  });

  it('decodes single writes, mask write and their echoes, keeping odd coil values', () => {
    expect(pair([5, 0, 0xac, 0xff, 0x00], [5, 0, 0xac, 0xff, 0x00])[0]).toMatchObject({
      address: 172,
      values: [0xff00],
    });
    expect(pair([5, 0, 1, 0x12, 0x34], [5, 0, 1, 0x12, 0x34])[0]).toMatchObject({ values: [0x1234] });
    expect(pair([6, 0, 1, 0, 3], [6, 0, 1, 0, 3])[1]).toMatchObject({
      func_code: 6,
      address: 1,
      values: [3],
    });
    expect(pair([22, 0, 4, 0, 0xf2, 0, 0x25], [22, 0, 4, 0, 0xf2, 0, 0x25])[1]).toMatchObject({
      address: 4,
      and_mask: 0xf2,
      or_mask: 0x25,
    });
  });

  it('decodes exception status, diagnostics, comm event counter/log and report server id', () => {
    expect(pair([7], [7, 0x6d])[1]).toMatchObject({ func_code: 7, status: 0x6d });
    const [dq, dr] = pair([8, 0, 0, 0xa5, 0x37], [8, 0, 0, 0xa5, 0x37]);
    expect(dq).toMatchObject({ sub_function: 0, values: [0xa537] });
    expect(dr).toMatchObject({ sub_function: 0, values: [0xa537] });
    expect(pair([11], [11, 0xff, 0xff, 1, 8])[1]).toMatchObject({ status: 0xffff, event_count: 264 });
    expect(pair([12], [12, 8, 0, 0, 1, 8, 1, 0x21, 0x20, 0])[1]).toMatchObject({
      byte_count: 8,
      status: 0,
      event_count: 264,
      message_count: 0x121,
      values: [0x20, 0],
    });
    expect(pair([17], [17, 3, 0x42, 0xff, 0x01])[1]).toMatchObject({
      byte_count: 3,
      values: [0x42, 0xff, 1],
    });
  });

  it('decodes multiple writes and read/write multiple registers', () => {
    const [cq, cr] = pair([15, 0, 0x13, 0, 0x0a, 2, 0xcd, 0x01], [15, 0, 0x13, 0, 0x0a]);
    expect(cq).toMatchObject({
      address: 19,
      quantity: 10,
      byte_count: 2,
      values: [1, 0, 1, 1, 0, 0, 1, 1, 1, 0],
    });
    expect(cr).toMatchObject({ address: 19, quantity: 10 });
    expect(pair([16, 0, 1, 0, 2, 4, 0, 10, 1, 2], [16, 0, 1, 0, 2])[0]).toMatchObject({
      quantity: 2,
      values: [10, 258],
    });
    const [rq, rr] = pair([23, 0, 3, 0, 2, 0, 14, 0, 1, 2, 0, 0xff], [23, 4, 0, 0xfe, 0x0a, 0xcd]);
    expect(rq).toMatchObject({
      address: 3,
      quantity: 2,
      write_address: 14,
      write_quantity: 1,
      values: [255],
    });
    expect(rr).toMatchObject({ byte_count: 4, values: [0xfe, 0x0acd], address: 3 });
  });

  it('decodes file records and the FIFO queue', () => {
    const [fq, fr] = pair(
      [20, 14, 6, 0, 4, 0, 1, 0, 2, 6, 0, 3, 0, 9, 0, 2],
      [20, 12, 5, 6, 0x0d, 0xfe, 0, 0x20, 5, 6, 0x33, 0xcd, 0, 0x40],
    );
    expect(fq?.records).toEqual([
      { ref_type: 6, file_number: 4, record_number: 1, record_length: 2 },
      { ref_type: 6, file_number: 3, record_number: 9, record_length: 2 },
    ]);
    expect(fr?.records).toEqual([
      { ref_type: 6, values: [0x0dfe, 0x20] },
      { ref_type: 6, values: [0x33cd, 0x40] },
    ]);
    expect(fr?.malformed).toBeUndefined();
    const w = [21, 13, 6, 0, 4, 0, 7, 0, 3, 0x06, 0xaf, 0x04, 0xbe, 0x10, 0x0d];
    expect(pair(w, w)[1]?.records).toEqual([
      { ref_type: 6, file_number: 4, record_number: 7, record_length: 3, values: [0x06af, 0x04be, 0x100d] },
    ]);
    expect(pair([24, 0x04, 0xde], [24, 0, 6, 0, 2, 1, 0xb8, 0x12, 0x84])[1]).toMatchObject({
      fifo_count: 2,
      values: [440, 4740],
      address: 0x04de,
    });
  });

  it('decodes encapsulated interface transport: device identification and CANopen', () => {
    const resp = [
      43,
      14,
      1,
      1,
      0,
      0,
      3,
      0,
      4,
      ...Buffer.from('ACME'),
      1,
      2,
      ...Buffer.from('X1'),
      2,
      3,
      ...Buffer.from('1.0'),
    ];
    const [q, r] = pair([43, 14, 1, 0], resp);
    expect(q).toMatchObject({ mei_type: 14, read_device_id: 1, object_id: 0 });
    expect(r).toMatchObject({
      mei_type: 14,
      read_device_id: 1,
      conformity_level: 1,
      more_follows: 0,
      next_object_id: 0,
    });
    expect(r?.objects).toEqual([
      { id: 0, value: 'ACME' },
      { id: 1, value: 'X1' },
      { id: 2, value: '1.0' },
    ]);
    expect(pair([43, 13, 1, 2], [43, 13, 3])[0]).toMatchObject({ mei_type: 13, values: [1, 2] });
  });

  it('reports exception responses with the function code without its exception bit', () => {
    const [, r] = pair([3, 0, 0, 0, 1], [0x83, 0x02]);
    expect(r).toMatchObject({ func_code: 3, exception_code: 2, is_response: true, request_frame: 1 });
  });

  it('keeps unknown function codes and short PDUs as events marked malformed, counted per reason', () => {
    const { events, pipeline } = decodeFrames([
      tcpFrame({ ...CLIENT, seq: 1, payload: mbap(1, 1, [0x41, 1, 2, 3]) }),
      tcpFrame({ ...CLIENT, seq: 12, payload: mbap(2, 1, [3, 0]) }),
      tcpFrame({ ...CLIENT, seq: 21, payload: mbap(3, 1, [16, 0, 1, 0, 2, 9, 0, 1]) }),
    ]);
    expect(events.map((e) => [e.func_code, e.malformed])).toEqual([
      [0x41, 'unknown_function'],
      [3, 'truncated'],
      [16, 'byte_count_mismatch'],
    ]);
    expect(pipeline.stats().counters).toMatchObject({
      'modbus.unknown_function': 1,
      'modbus.truncated': 1,
      'modbus.byte_count_mismatch': 1,
    });
    expect(pipeline.stats().firstFrames).toMatchObject({
      'modbus.unknown_function': 1,
      'modbus.truncated': 2,
      'modbus.byte_count_mismatch': 3,
    });
  });

  it('rejects broken framing (protocol id, lying lengths) and counts it', () => {
    const bad = mbap(1, 1, [3, 0, 0, 0, 1], 7);
    const short = Buffer.from([0, 1, 0, 0, 0, 1, 1, 3]);
    const long = Buffer.from([0, 1, 0, 0, 1, 0, 1, 3]);
    const { events, pipeline } = decodeFrames([
      tcpFrame({ ...CLIENT, seq: 1, payload: bad }),
      tcpFrame({ ...CLIENT, seq: 1 + bad.length, payload: short }),
      tcpFrame({ ...CLIENT, seq: 1 + bad.length + 8, payload: long }),
      tcpFrame({ ...CLIENT, seq: 1 + bad.length + 16, payload: mbap(9, 1, [3, 0, 0, 0, 1]) }),
    ]);
    expect(events.map((e) => e.trans_id)).toEqual([9]);
    expect(pipeline.stats().counters['modbus.bad_framing']).toBe(3);
  });

  it('matches responses to requests by transaction id, out of order, and counts unmatched ones', () => {
    const { events, pipeline } = decodeFrames([
      tcpFrame({
        ...CLIENT,
        seq: 1,
        payload: Buffer.concat([mbap(1, 1, [3, 0, 10, 0, 1]), mbap(2, 1, [3, 0, 20, 0, 1])]),
      }),
      tcpFrame({ ...SERVER, seq: 1, payload: mbap(2, 1, [3, 2, 0, 2]) }),
      tcpFrame({ ...SERVER, seq: 12, payload: mbap(1, 1, [3, 2, 0, 1]) }),
      tcpFrame({ ...SERVER, seq: 23, payload: mbap(3, 1, [3, 2, 0, 3]) }),
    ]);
    expect(events.filter((e) => e.is_response).map((e) => [e.trans_id, e.address, e.request_frame])).toEqual([
      [2, 20, 1],
      [1, 10, 1],
      [3, undefined, undefined],
    ]);
    expect(pipeline.stats().counters['modbus.unmatched_response']).toBe(1);
  });

  it('remembers a bounded number of unanswered requests per flow, forgetting the oldest (counted)', () => {
    const frames = [];
    for (let t = 0; t < 70; t++)
      frames.push(tcpFrame({ ...CLIENT, seq: 1 + t * 12, payload: mbap(t, 1, [3, 0, t, 0, 1]) }));
    frames.push(tcpFrame({ ...SERVER, seq: 1, payload: mbap(69, 1, [3, 2, 0, 7]) }));
    frames.push(tcpFrame({ ...SERVER, seq: 12, payload: mbap(0, 1, [3, 2, 0, 7]) }));
    const { events, pipeline } = decodeFrames(frames);
    expect(events.slice(-2).map((e) => [e.trans_id, e.address, e.request_frame])).toEqual([
      [69, 69, 70],
      [0, undefined, undefined],
    ]);
    expect(pipeline.stats().counters).toMatchObject({
      'modbus.unanswered_request_dropped': 6,
      'modbus.unmatched_response': 1,
    });
  });

  it('matches requests outstanding in any id order, across the 16-bit wrap, and misses ids outside them', () => {
    // Requests 65535, 0, 7 outstanding (ids wrap; 7 is below 65535); then responses below, between and above them.
    const ids = [65535, 0, 7];
    const frames = ids.map((t, k) =>
      tcpFrame({ ...CLIENT, seq: 1 + k * 12, payload: mbap(t, 1, [3, 0, k + 1, 0, 1]) }),
    );
    [7, 3, 65535, 70, 0].forEach((t, k) =>
      frames.push(tcpFrame({ ...SERVER, seq: 1 + k * 11, payload: mbap(t, 1, [3, 2, 0, 9]) })),
    );
    const { events, pipeline } = decodeFrames(frames);
    expect(events.filter((e) => e.is_response).map((e) => [e.trans_id, e.address, e.request_frame])).toEqual([
      [7, 3, 3],
      [3, undefined, undefined],
      [65535, 1, 1],
      [70, undefined, undefined],
      [0, 2, 2],
    ]);
    expect(pipeline.stats().counters['modbus.unmatched_response']).toBe(2);
  });

  it('forgets the requests of a flow the table evicted: the connection that reuses its id matches none of them', () => {
    const other = { src: '10.0.0.3', dst: '10.0.0.2', sport: 40001, dport: 502 };
    const otherServer = { src: '10.0.0.2', dst: '10.0.0.3', sport: 502, dport: 40001 };
    const { events, pipeline } = decodeFrames(
      [
        tcpFrame({ ...CLIENT, seq: 1, payload: mbap(5, 1, [3, 0, 10, 0, 1]) }),
        tcpFrame({ ...CLIENT, seq: 13, payload: mbap(6, 1, [3, 0, 11, 0, 1]) }),
        // A second connection: the one-flow table evicts the first, and the new flow gets its id.
        tcpFrame({ ...other, seq: 1, payload: mbap(7, 1, [3, 0, 12, 0, 1]) }),
        tcpFrame({ ...otherServer, seq: 1, payload: mbap(5, 1, [3, 2, 0, 1]) }),
        tcpFrame({ ...otherServer, seq: 12, payload: mbap(7, 1, [3, 2, 0, 1]) }),
      ],
      { maxFlows: 1 },
    );
    expect(events.filter((e) => e.is_response).map((e) => [e.trans_id, e.address, e.request_frame])).toEqual([
      [5, undefined, undefined],
      [7, 12, 3],
    ]);
    expect(pipeline.stats().counters['modbus.unmatched_response']).toBe(1);
    expect(pipeline.stats().flows.evictedFull).toBeGreaterThan(0);
  });
});
