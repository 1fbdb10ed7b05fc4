import { describe, expect, it } from 'vitest';
import { mqttConnect, mqttPacket, mqttPublish, mqttStr } from '../testing/app-frames.js';
import { tcpFrame } from '../testing/frames.js';
import { decodeFrames } from '../testing/harness.js';
import type { MqttEvent } from './mqtt.js';

const C = { src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 1883 };
const S = { src: '10.0.0.2', dst: '10.0.0.1', sport: 1883, dport: 40000 };

/** Sends each payload as one segment in its direction (true: client to broker), in order. */
function session(msgs: [boolean, Buffer][]): { events: MqttEvent[]; counters: Record<string, number> } {
  let cseq = 1000;
  let sseq = 5000;
  const frames = msgs.map(([toServer, payload]) => {
    const f = tcpFrame(toServer ? { ...C, seq: cseq, payload } : { ...S, seq: sseq, payload });
    if (toServer) cseq += payload.length;
    else sseq += payload.length;
    return f;
  });
  const { events, pipeline } = decodeFrames(frames);
  return {
    events: events.filter((e): e is MqttEvent => e.protocol === 'mqtt'),
    counters: pipeline.stats().counters,
  };
}

const props = (...b: number[]): Buffer => Buffer.from([b.length, ...b]);

describe('MQTT decoder', () => {
  it('reads a 3.1.1 CONNECT with client id and credentials, and the CONNACK', () => {
    const { events } = session([
      [true, mqttConnect('plc-7', { username: 'u', password: 'p' })],
      [false, mqttPacket(2, 0, Buffer.from([0, 0]))],
    ]);
    expect(events).toMatchObject([
      {
        msgtype: 1,
        version: 4,
        proto_name: 'MQTT',
        client_id: 'plc-7',
        username_present: true,
        password_present: true,
      },
      { msgtype: 2, is_response: true, reason_code: 0, session_present: false },
    ]);
  });

  it('reads a 3.1 CONNECT (MQIsdp) without credentials', () => {
    const { events } = session([[true, mqttConnect('old', { version: 3 })]]);
    expect(events[0]).toMatchObject({
      version: 3,
      proto_name: 'MQIsdp',
      client_id: 'old',
      username_present: false,
    });
  });

  it('reads PUBLISH topic, QoS, retain, packet id and payload size', () => {
    const { events } = session([
      [true, mqttConnect('c')],
      [true, mqttPublish('plant/tank1/level', Buffer.from('42.5'), { qos: 1, packetId: 9, retain: true })],
      [false, mqttPacket(4, 0, Buffer.from([0, 9]))],
    ]);
    expect(events[1]).toMatchObject({
      msgtype: 3,
      topic: 'plant/tank1/level',
      qos: 1,
      retain: true,
      packet_id: 9,
      payload_size: 4,
    });
    expect(events[2]).toMatchObject({ msgtype: 4, packet_id: 9 });
  });

  it('reads every control packet type 1-15 of a v5 session with properties', () => {
    const subBody = Buffer.concat([
      Buffer.from([0, 3]),
      props(),
      mqttStr('a/#'),
      Buffer.from([1]),
      mqttStr('b'),
      Buffer.from([2]),
    ]);
    const unsubBody = Buffer.concat([Buffer.from([0, 4]), props(), mqttStr('a/#')]);
    const { events, counters } = session([
      [true, mqttConnect('v5c', { version: 5, properties: props(17, 0, 0, 0, 60) })],
      [false, mqttPacket(2, 0, Buffer.concat([Buffer.from([0, 0]), props(33, 0, 10)]))],
      [
        true,
        mqttPublish('t', Buffer.from('x'), { v5: true, qos: 2, packetId: 5, properties: props(35, 0, 7) }),
      ],
      [false, mqttPacket(5, 0, Buffer.from([0, 5, 0x10, 0]))],
      [true, mqttPacket(6, 2, Buffer.from([0, 5]))],
      [false, mqttPacket(7, 0, Buffer.from([0, 5]))],
      [true, mqttPacket(8, 2, subBody)],
      [false, mqttPacket(9, 0, Buffer.concat([Buffer.from([0, 3]), props(), Buffer.from([1, 2])]))],
      [true, mqttPacket(10, 2, unsubBody)],
      [false, mqttPacket(11, 0, Buffer.concat([Buffer.from([0, 4]), props(), Buffer.from([0])]))],
      [true, mqttPacket(12, 0, Buffer.alloc(0))],
      [false, mqttPacket(13, 0, Buffer.alloc(0))],
      [true, mqttPacket(15, 0, Buffer.concat([Buffer.from([0x18]), props(21, 0, 1, 0x41)]))],
      [true, mqttPacket(14, 0, Buffer.concat([Buffer.from([0]), props()]))],
    ]);
    expect(events.map((e) => e.msgtype)).toEqual([1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 14]);
    expect(events.filter((e) => e.malformed !== undefined)).toEqual([]);
    expect(counters).toEqual({});
    expect(events[0]?.properties).toEqual([{ id: 17, name: 'session_expiry_interval', value: 60 }]);
    expect(events[1]?.properties).toEqual([{ id: 33, name: 'receive_maximum', value: 10 }]);
    expect(events[2]).toMatchObject({
      topic: 't',
      qos: 2,
      packet_id: 5,
      payload_size: 1,
      properties: [{ name: 'topic_alias', value: 7 }],
    });
    expect(events[3]).toMatchObject({ packet_id: 5, reason_code: 0x10 });
    expect(events[6]).toMatchObject({ topics: ['a/#', 'b'], qos_list: [1, 2], packet_id: 3 });
    expect(events[7]).toMatchObject({ reason_codes: [1, 2] });
    expect(events[8]).toMatchObject({ topics: ['a/#'] });
    expect(events[9]).toMatchObject({ reason_codes: [0] });
    expect(events[12]).toMatchObject({
      reason_code: 0x18,
      properties: [{ name: 'authentication_method', value: 'A' }],
    });
  });

  it('decodes packets split across segments and several in one segment', () => {
    const a = mqttPublish('x/y', Buffer.alloc(300, 1));
    const b = mqttPacket(12, 0, Buffer.alloc(0));
    const all = Buffer.concat([a, b, b]);
    const { events } = session([
      [true, all.subarray(0, 100)],
      [true, all.subarray(100)],
    ]);
    expect(events.map((e) => [e.frame, e.msgtype])).toEqual([
      [2, 3],
      [2, 12],
      [2, 12],
    ]);
    expect(events[0]?.payload_size).toBe(300);
  });

  it('treats a remaining length with a fifth continuation byte as malformed framing, without throwing', () => {
    const bad = Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0]);
    const { events, counters } = session([[true, bad]]);
    expect(events).toEqual([]);
    expect(counters['mqtt.remaining_length_overflow']).toBe(1);
    expect(counters['mqtt.bad_framing']).toBe(1);
  });

  it('counts a truncated CONNECT and a property list that overruns the packet', () => {
    const cut = mqttPacket(1, 0, Buffer.concat([mqttStr('MQTT'), Buffer.from([4])]));
    const badProps = mqttPacket(3, 0, Buffer.concat([mqttStr('t'), Buffer.from([50, 1])]));
    const { events, counters } = session([
      [true, cut],
      [true, mqttConnect('v', { version: 5 })],
      [true, badProps],
    ]);
    expect(events.map((e) => e.malformed)).toEqual(['truncated', undefined, 'properties_truncated']);
    expect(counters['mqtt.truncated']).toBe(1);
    expect(counters['mqtt.properties_truncated']).toBe(1);
  });
});
