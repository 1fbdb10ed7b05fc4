import { describe, expect, it } from 'vitest';
import { dnsMessage, dnsName, dnsTcp, udpFrame } from '../testing/app-frames.js';
import { tcpFrame } from '../testing/frames.js';
import { decodeFrames } from '../testing/harness.js';
import { readName, type DnsEvent } from './dns.js';

const Q = { src: '10.0.0.1', dst: '10.0.0.53', sport: 40001, dport: 53 };
const R = { src: '10.0.0.53', dst: '10.0.0.1', sport: 53, dport: 40001 };

function dns(frames: Buffer[]): { events: DnsEvent[]; counters: Record<string, number> } {
  const { events, pipeline } = decodeFrames(frames);
  return {
    events: events.filter((e): e is DnsEvent => e.protocol === 'dns'),
    counters: pipeline.stats().counters,
  };
}

describe('DNS decoder', () => {
  it('reads a UDP query and its NXDOMAIN answer', () => {
    const { events } = dns([
      udpFrame({ ...Q, payload: dnsMessage({ id: 7, name: 'plc1.plant.local', type: 28 }) }),
      udpFrame({
        ...R,
        payload: dnsMessage({ id: 7, name: 'plc1.plant.local', type: 28, response: true, rcode: 3 }),
      }),
    ]);
    expect(events).toMatchObject([
      {
        transport: 'udp',
        id: 7,
        is_response: false,
        qry_name: 'plc1.plant.local',
        qry_type: 28,
        qry_class: 1,
        rcode: 0,
      },
      { id: 7, is_response: true, rcode: 3, qdcount: 1, ancount: 0 },
    ]);
  });

  it('reads DNS over TCP with the length prefix, split across segments', () => {
    const a = dnsTcp(dnsMessage({ id: 1, name: 'a.example', ancount: 2, response: true }));
    const { events } = dns([
      tcpFrame({ ...R, seq: 10, payload: a.subarray(0, 5) }),
      tcpFrame({ ...R, seq: 15, payload: a.subarray(5) }),
    ]);
    expect(events).toMatchObject([{ frame: 2, transport: 'tcp', qry_name: 'a.example', ancount: 2 }]);
  });

  it('follows a backward compression pointer and reads the root name', () => {
    const msg = dnsMessage({ id: 2, name: 'example.com' });
    const withPtr = Buffer.concat([msg, Buffer.from([3, 0x77, 0x77, 0x77, 0xc0, 12])]);
    expect(readName(withPtr, 0, msg.length, withPtr.length)).toEqual({
      name: 'www.example.com',
      next: withPtr.length,
    });
    const root = dnsName('');
    expect(readName(root, 0, 0, 1).name).toBe('<Root>');
  });

  it('flags a query repeated with the same id in the flow as a retransmission', () => {
    const q = dnsMessage({ id: 9, name: 'x.y' });
    const { events, counters } = dns([udpFrame({ ...Q, payload: q }), udpFrame({ ...Q, payload: q })]);
    expect(events.map((e) => e.retransmission)).toEqual([undefined, true]);
    expect(counters['dns.retransmission']).toBe(1);
  });

  it('ends a compression loop and a pointer past the message as malformed input', () => {
    const h = dnsMessage({ id: 3, name: '' }).subarray(0, 12);
    const self = Buffer.concat([h, Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
    const loop = Buffer.concat([h, Buffer.from([1, 0x61, 0xc0, 12, 0, 1, 0, 1])]);
    const past = Buffer.concat([h, Buffer.from([0xc0, 0xff, 0, 1, 0, 1])]);
    const { events, counters } = dns([self, loop, past].map((payload) => udpFrame({ ...Q, payload })));
    expect(events.map((e) => e.malformed)).toEqual(['pointer_loop', 'pointer_loop', 'bad_pointer']);
    expect(counters['dns.pointer_loop']).toBe(2);
    expect(counters['dns.bad_pointer']).toBe(1);
  });

  it('stops a name at 255 bytes and counts a header shorter than 12 bytes', () => {
    const h = dnsMessage({ id: 4, name: '' }).subarray(0, 12);
    const labels = Buffer.concat(Array.from({ length: 70 }, () => Buffer.from([3, 0x61, 0x62, 0x63])));
    const long = Buffer.concat([h, labels, Buffer.from([0, 0, 1, 0, 1])]);
    const { events, counters } = dns([
      udpFrame({ ...Q, payload: long }),
      udpFrame({ ...Q, payload: Buffer.alloc(5) }),
    ]);
    expect(events.map((e) => e.malformed)).toEqual(['name_too_long']);
    expect(counters['dns.truncated_header']).toBe(1);
  });
});
