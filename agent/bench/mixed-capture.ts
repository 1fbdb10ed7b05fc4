// Writes a synthetic mixed-protocol capture for the analysis benchmark: repeated sessions, each a new client port
// (a new flow) of Modbus/TCP (handshake, 5 polls with responses and ACKs), MQTT (CONNECT/CONNACK, 4 PUBLISH, ping),
// DNS over UDP (3 queries and answers, every 4th name NXDOMAIN) and HTTP (GET, 200 with a body, ACK). The session's
// frames are built once and patched per repetition (client address and port), so millions of packets take seconds.
// Deterministic.
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { pcapHeader } from '../src/capture/pcap-writer.js';
import { dnsMessage, mqttConnect, mqttPacket, mqttPublish, udpFrame } from '../src/testing/app-frames.js';
import { mbap, tcpFrame } from '../src/testing/frames.js';

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

interface Template {
  frame: Buffer;
  /** True when the client sends it (its source is the client). */
  fromClient: boolean;
}

function session(): Template[] {
  const t: Template[] = [];
  const C = '10.1.0.1';
  const P = 40000;
  const tcp = (server: string, port: number) => {
    let cseq = 1000;
    let sseq = 9000;
    return (fromClient: boolean, payload?: Buffer, flags?: number): void => {
      const spec = fromClient
        ? { src: C, dst: server, sport: P, dport: port, seq: cseq, ack: sseq }
        : { src: server, dst: C, sport: port, dport: P, seq: sseq, ack: cseq };
      t.push({
        frame: tcpFrame({
          ...spec,
          ...(payload ? { payload } : {}),
          ...(flags !== undefined ? { flags } : {}),
        }),
        fromClient,
      });
      const n = (payload?.length ?? 0) + (flags !== undefined && flags & 2 ? 1 : 0);
      if (fromClient) cseq += n;
      else sseq += n;
    };
  };
  const mb = tcp('10.2.0.10', 502);
  mb(true, undefined, 0x02);
  mb(false, undefined, 0x12);
  mb(true, undefined, 0x10);
  for (let i = 0; i < 5; i++) {
    mb(true, mbap(i + 1, 1, [3, 0, i * 10, 0, 10]));
    mb(false, mbap(i + 1, 1, [3, 20, ...new Array<number>(20).fill(i)]));
    mb(true, undefined, 0x10);
  }
  const mq = tcp('10.2.0.20', 1883);
  mq(true, mqttConnect('sensor-7', { username: 'plant' }));
  mq(false, mqttPacket(2, 0, Buffer.from([0, 0])));
  for (let i = 0; i < 4; i++)
    mq(true, mqttPublish(`plant/line1/sensor${i}`, Buffer.from(`{"v":${i * 1.5}}`)));
  mq(true, mqttPacket(12, 0, Buffer.alloc(0)));
  mq(false, mqttPacket(13, 0, Buffer.alloc(0)));
  const names = ['historian.plant.local', 'hmi.plant.local', 'update.vendor.example', 'nothere.plant.local'];
  for (let i = 0; i < 3; i++) {
    const name = names[i % 4] ?? 'x';
    t.push({
      frame: udpFrame({
        src: C,
        dst: '10.2.0.53',
        sport: P,
        dport: 53,
        payload: dnsMessage({ id: i, name }),
      }),
      fromClient: true,
    });
    const answer = dnsMessage({
      id: i,
      name,
      response: true,
      ancount: 1,
      rest: Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 2, 0, 9]),
    });
    t.push({
      frame: udpFrame({ src: '10.2.0.53', dst: C, sport: 53, dport: P, payload: answer }),
      fromClient: false,
    });
  }
  t.push({
    frame: udpFrame({
      src: C,
      dst: '10.2.0.53',
      sport: P,
      dport: 53,
      payload: dnsMessage({ id: 3, name: names[3] ?? 'x' }),
    }),
    fromClient: true,
  });
  t.push({
    frame: udpFrame({
      src: '10.2.0.53',
      dst: C,
      sport: 53,
      dport: P,
      payload: dnsMessage({ id: 3, name: names[3] ?? 'x', response: true, rcode: 3 }),
    }),
    fromClient: false,
  });
  const web = tcp('10.2.0.80', 80);
  web(
    true,
    Buffer.from(
      'GET /api/v1/tags?line=1 HTTP/1.1\r\nHost: hmi.plant.local\r\nUser-Agent: scada-client/2.1\r\nAccept: application/json\r\n\r\n',
    ),
  );
  const body = '{"tags":[1,2,3,4,5,6,7,8,9,10]}';
  web(
    false,
    Buffer.from(
      `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    ),
  );
  web(true, undefined, 0x10);
  return t;
}

export async function writeMixedCapture(opts: MixedCaptureOptions): Promise<void> {
  const templates = session();
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
