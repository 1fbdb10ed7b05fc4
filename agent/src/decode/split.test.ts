// Every application PDU split in two at every byte is decoded in the frame that completes it (the pipeline must
// look again after a header probe took the segment's last bytes).
import { describe, expect, it } from 'vitest';
import { dnsMessage, dnsTcp, mqttConnect, mqttPacket } from '../testing/app-frames.js';
import { mbap, tcpFrame } from '../testing/frames.js';
import { decodeFrames } from '../testing/harness.js';

const PDUS: [string, number, Buffer][] = [
  ['modbus', 502, mbap(1, 1, [3, 0, 1, 0, 1])],
  ['mqtt', 1883, mqttConnect('split-client', { username: 'u' })],
  ['mqtt ping', 1883, mqttPacket(12, 0, Buffer.alloc(0))],
  ['dns over tcp', 53, dnsTcp(dnsMessage({ id: 5, name: 'a.b.c' }))],
  ['http', 80, Buffer.from('GET /x HTTP/1.1\r\nHost: h\r\n\r\n')],
];

describe('PDUs split across two segments', () => {
  it.each(PDUS)('%s: decoded in the second frame at every split point', (_name, port, pdu) => {
    const C = { src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: port };
    const frames: number[] = [];
    for (let cut = 1; cut < pdu.length; cut++) {
      const { events } = decodeFrames([
        tcpFrame({ ...C, seq: 1, payload: pdu.subarray(0, cut) }),
        tcpFrame({ ...C, seq: 1 + cut, payload: pdu.subarray(cut) }),
      ]);
      frames.push(...events.map((e) => e.frame));
    }
    expect(frames).toEqual(new Array<number>(pdu.length - 1).fill(2));
  });
});
