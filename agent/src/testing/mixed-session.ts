// One client's mixed session as Ethernet frames: Modbus/TCP (handshake, 5 polls with responses and ACKs), MQTT
// (CONNECT/CONNACK, 4 PUBLISH, ping), DNS over UDP (4 queries and answers, the last NXDOMAIN) and HTTP (GET, 200
// with a body, ACK). Client 10.1.0.1, port 40000 (the mixed benchmark capture patches both per repetition; the
// fuzz test mutates the frames).
import { dnsMessage, mqttConnect, mqttPacket, mqttPublish, udpFrame } from './app-frames.js';
import { mbap, tcpFrame } from './frames.js';

export interface SessionFrame {
  frame: Buffer;
  /** True when the client sends it (its source is the client). */
  fromClient: boolean;
}

export function mixedSession(): SessionFrame[] {
  const t: SessionFrame[] = [];
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
