// MQTT 3.1.1 control packets as the simulated sensors, historian, broker and attackers send them.

export const MQTT_PORT = 1883;

function remainingLength(n: number): number[] {
  const out: number[] = [];
  do {
    let d = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) d |= 0x80;
    out.push(d);
  } while (n > 0);
  return out;
}

function str(s: string | Buffer): Buffer {
  const v = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const b = Buffer.allocUnsafe(2 + v.length);
  b.writeUInt16BE(v.length, 0);
  v.copy(b, 2);
  return b;
}

function packet(first: number, body: Buffer[]): Buffer {
  const len = body.reduce((n, b) => n + b.length, 0);
  return Buffer.concat([Buffer.from([first, ...remainingLength(len)]), ...body]);
}

export interface ConnectSpec {
  clientId: string;
  keepAlive: number;
  username?: string;
  password?: string;
}

export function connect(c: ConnectSpec): Buffer {
  let flags = 0x02; // clean session
  const payload = [str(c.clientId)];
  if (c.username !== undefined) {
    flags |= 0x80;
    payload.push(str(c.username));
    if (c.password !== undefined) {
      flags |= 0x40;
      payload.push(str(c.password));
    }
  }
  const vh = Buffer.concat([str('MQTT'), Buffer.from([4, flags, c.keepAlive >> 8, c.keepAlive & 0xff])]);
  return packet(0x10, [vh, ...payload]);
}

export const ConnackCode = { ACCEPTED: 0, BAD_CREDENTIALS: 4, NOT_AUTHORIZED: 5 } as const;

export function connack(code: number): Buffer {
  return Buffer.from([0x20, 2, 0, code]);
}

export function publish(topic: string, payload: Buffer | string, qos: 0 | 1, packetId = 0): Buffer {
  const body = [str(topic)];
  if (qos > 0) body.push(Buffer.from([packetId >> 8, packetId & 0xff]));
  body.push(typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload);
  return packet(0x30 | (qos << 1), body);
}

export function puback(packetId: number): Buffer {
  return Buffer.from([0x40, 2, packetId >> 8, packetId & 0xff]);
}

export function subscribe(packetId: number, filter: string, qos: 0 | 1): Buffer {
  return packet(0x82, [Buffer.from([packetId >> 8, packetId & 0xff]), str(filter), Buffer.from([qos])]);
}

export function suback(packetId: number, grantedQos: number): Buffer {
  return Buffer.from([0x90, 3, packetId >> 8, packetId & 0xff, grantedQos]);
}

export const PINGREQ = Buffer.from([0xc0, 0]);
export const PINGRESP = Buffer.from([0xd0, 0]);
export const DISCONNECT = Buffer.from([0xe0, 0]);
