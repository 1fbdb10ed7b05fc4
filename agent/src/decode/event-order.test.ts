// The JSON of `vigil-agent decode` lists an event's fields in the order its message set them. The MQTT, DNS and HTTP
// decoders reuse one event per decoder whose fields sit in one fixed order; a message that sets them in another order
// (headers in another order, `malformed` found half-way, a first DNS name that breaks off, a chunked HTTP message
// kept until its last chunk) goes on with a detached copy. These sequences mix both kinds on one decoder, so a reused
// event that kept a field or an order from the message before would show here. (The expected lines are what the
// decoders printed when every message had a fresh event, main fdb2f1d.)
import { describe, expect, it } from 'vitest';
import { PacketClock } from '../capture/packet-clock.js';
import { LinkType } from '../capture/types.js';
import { eventJson } from '../cli/decode.js';
import { dnsMessage, mqttPacket, mqttStr, udpFrame } from '../testing/app-frames.js';
import { tcpFrame } from '../testing/frames.js';
import { TextCache } from './bytes.js';
import { DecodePipeline } from './pipeline.js';

/** The JSON of every event, taken during onEvent (the event is valid only then). */
function json(frames: Buffer[]): string[] {
  const out: string[] = [];
  const clock = new PacketClock();
  const pipeline = new DecodePipeline({ clock, onEvent: (e) => out.push(eventJson(e)) });
  frames.forEach((f, i) => {
    clock.observe(i + 1, 0);
    pipeline.handle({
      frame: i + 1,
      tsSec: i + 1,
      tsNsec: 0,
      linkType: LinkType.ETHERNET,
      buf: f,
      off: 0,
      capLen: f.length,
      origLen: f.length,
    });
  });
  return out;
}

/** One TCP connection to `port`: each payload one segment in its direction (true: client to server). */
function tcp(port: number, msgs: [boolean, Buffer][]): Buffer[] {
  const C = { src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: port };
  const S = { src: '10.0.0.2', dst: '10.0.0.1', sport: port, dport: 40000 };
  let c = 1;
  let s = 1;
  return msgs.map(([up, payload]) => {
    const f = tcpFrame(up ? { ...C, seq: c, payload } : { ...S, seq: s, payload });
    if (up) c += payload.length;
    else s += payload.length;
    return f;
  });
}

const L = (x: string): Buffer => Buffer.from(x, 'latin1');

describe('event field order in the JSON output', () => {
  it('HTTP: header order, a bad status line, a bad header line and a chunked message between reused events', () => {
    const lines = json(
      tcp(80, [
        [true, L('GET /a HTTP/1.1\r\nUser-Agent: ua\r\nHost: h\r\n\r\n')],
        [false, L('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nHost: x\r\n\r\nok')],
        [true, L('GET /b HTTP/1.1\r\nHost: h\r\nUser-Agent: ua\r\n\r\n')],
        [false, L('HTTP/1.1 2000\r\nHost: y\r\n\r\n')],
        [true, L('POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: h\r\n\r\n')],
        [true, L('2\r\nab\r\n')],
        [true, L('GET /d HTTP/1.1\r\nHost: h\r\nbad line\r\nUser-Agent: ua\r\n\r\n')],
        [true, L('0\r\n\r\n')],
      ]),
    );
    expect(lines).toEqual(HTTP_LINES);
  });

  it('MQTT: malformed set half-way (bad QoS, SUBSCRIBE flags, no topics, unknown version) between reused events', () => {
    const publish = (topic: string): Buffer => Buffer.concat([mqttStr(topic), Buffer.from([0, 1]), L('v')]);
    const lines = json(
      tcp(1883, [
        [true, mqttPacket(3, 6, publish('a/b'))],
        [true, mqttPacket(3, 2, publish('a/c'))],
        [true, mqttPacket(8, 0, Buffer.concat([Buffer.from([0, 7]), mqttStr('t/#'), Buffer.from([1])]))],
        [true, mqttPacket(8, 2, Buffer.from([0, 8]))],
        [true, mqttPacket(1, 0, Buffer.concat([mqttStr('MQTT'), Buffer.from([9, 2, 0, 60]), mqttStr('id')]))],
        [true, mqttPacket(12, 0, Buffer.alloc(0))],
      ]),
    );
    expect(lines).toEqual(MQTT_LINES);
  });

  it('DNS: a first name that breaks off, then a query and its retransmission', () => {
    const C = { src: '10.0.0.1', dst: '10.0.0.53', sport: 5353, dport: 53 };
    const broken = Buffer.concat([
      dnsMessage({ id: 1, name: 'plant.local' }).subarray(0, 12),
      L('\x05plant\xc0\x40'),
    ]);
    const query = dnsMessage({ id: 2, name: 'hmi.plant.local' });
    const lines = json([
      udpFrame({ ...C, payload: broken }),
      udpFrame({ ...C, payload: query }),
      udpFrame({ ...C, payload: query }),
    ]);
    expect(lines).toEqual(DNS_LINES);
  });
});

describe('TextCache', () => {
  it('gives each byte string its own text when they share a slot', () => {
    const cache = new TextCache('latin1', 1);
    const b = L('alpha beta alpha');
    const a1 = cache.text(b, 0, 5);
    expect(cache.text(b, 6, 10)).toBe('beta');
    const a2 = cache.text(b, 11, 16);
    expect([a1, a2]).toEqual(['alpha', 'alpha']);
    expect(cache.text(b, 11, 16)).toBe(a2);
    expect(cache.text(L('x'.repeat(100)), 0, 100)).toBe('x'.repeat(100));
  });
});

const HTTP_LINES = [
  '{"is_response":false,"version":"HTTP/1.1","header_count":2,"header_length":44,"body_size":0,"method":"GET","uri":"/a","user_agent":"ua","host":"h"}',
  '{"is_response":true,"version":"HTTP/1.1","header_count":2,"header_length":47,"body_size":2,"status":200,"reason":"OK","content_length":2,"host":"x","request_method":"GET","request_uri":"/a"}',
  '{"is_response":false,"version":"HTTP/1.1","header_count":2,"header_length":44,"body_size":0,"method":"GET","uri":"/b","host":"h","user_agent":"ua"}',
  '{"is_response":true,"version":"","header_count":1,"header_length":26,"body_size":0,"malformed":"bad_status_line","host":"y","request_method":"GET","request_uri":"/b"}',
  '{"is_response":false,"version":"HTTP/1.1","header_count":2,"header_length":57,"body_size":2,"method":"POST","uri":"/c","chunked":true,"host":"h","malformed":"chunked_body_incomplete"}',
  '{"is_response":false,"version":"HTTP/1.1","header_count":3,"header_length":54,"body_size":0,"method":"GET","uri":"/d","host":"h","malformed":"bad_header_line","user_agent":"ua"}',
];

const MQTT_LINES = [
  '{"msgtype":3,"is_response":false,"remaining_length":8,"qos":3,"retain":false,"dup":false,"malformed":"bad_qos","topic":"a/b","packet_id":1,"payload_size":1}',
  '{"msgtype":3,"is_response":false,"remaining_length":8,"qos":1,"retain":false,"dup":false,"topic":"a/c","packet_id":1,"payload_size":1}',
  '{"msgtype":8,"is_response":false,"remaining_length":8,"malformed":"bad_fixed_header_flags","packet_id":7,"topics":["t/#"],"qos_list":[1]}',
  '{"msgtype":8,"is_response":false,"remaining_length":2,"packet_id":8,"malformed":"no_topics","topics":[],"qos_list":[]}',
  '{"msgtype":1,"is_response":false,"remaining_length":14,"proto_name":"MQTT","version":9,"malformed":"unknown_version","clean_session":true,"keep_alive":60,"client_id":"id","username_present":false,"password_present":false,"payload_size":4}',
  '{"msgtype":12,"is_response":false,"remaining_length":0}',
];

const DNS_LINES = [
  '{"transport":"udp","id":1,"is_response":false,"opcode":0,"rcode":0,"authoritative":false,"truncated":false,"recursion_desired":true,"recursion_available":false,"qdcount":1,"ancount":0,"nscount":0,"arcount":0,"questions":[],"malformed":"bad_pointer","qry_name":"plant"}',
  '{"transport":"udp","id":2,"is_response":false,"opcode":0,"rcode":0,"authoritative":false,"truncated":false,"recursion_desired":true,"recursion_available":false,"qdcount":1,"ancount":0,"nscount":0,"arcount":0,"questions":[{"name":"hmi.plant.local","type":1,"class":1}],"qry_name":"hmi.plant.local","qry_type":1,"qry_class":1}',
  '{"transport":"udp","id":2,"is_response":false,"opcode":0,"rcode":0,"authoritative":false,"truncated":false,"recursion_desired":true,"recursion_available":false,"qdcount":1,"ancount":0,"nscount":0,"arcount":0,"questions":[{"name":"hmi.plant.local","type":1,"class":1}],"qry_name":"hmi.plant.local","qry_type":1,"qry_class":1,"retransmission":true}',
];
