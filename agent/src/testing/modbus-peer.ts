// A small real Modbus/TCP server and client over node:net, for the live-capture test (real sockets, real TCP).
// The server keeps 1000 holding registers, answers fc 3, 6 and 16, and an exception 1 (illegal function) to anything
// else; the client sends requests one at a time and waits for each answer (bounded by a timeout).
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface ModbusServer {
  server: Server;
  close(): Promise<void>;
}

function respond(req: Buffer, regs: Uint16Array): Buffer {
  const fc = req[7] ?? 0;
  const addr = req.readUInt16BE(8);
  let pdu: Buffer;
  if (fc === 3 && req.length >= 12) {
    const qty = Math.min(req.readUInt16BE(10), 125);
    pdu = Buffer.alloc(2 + qty * 2);
    pdu[0] = 3;
    pdu[1] = qty * 2;
    for (let i = 0; i < qty; i++) pdu.writeUInt16BE(regs[(addr + i) % regs.length] ?? 0, 2 + i * 2);
  } else if (fc === 6 && req.length >= 12) {
    regs[addr % regs.length] = req.readUInt16BE(10);
    pdu = req.subarray(7, 12);
  } else if (fc === 16 && req.length >= 13) {
    const qty = req.readUInt16BE(10);
    for (let i = 0; i < qty && 13 + i * 2 + 1 < req.length; i++) {
      regs[(addr + i) % regs.length] = req.readUInt16BE(13 + i * 2);
    }
    pdu = req.subarray(7, 12);
  } else {
    pdu = Buffer.from([fc | 0x80, 1]);
  }
  const out = Buffer.alloc(7 + pdu.length);
  req.copy(out, 0, 0, 4);
  out.writeUInt16BE(pdu.length + 1, 4);
  out[6] = req[6] ?? 0;
  pdu.copy(out, 7);
  return out;
}

export async function startModbusServer(host: string, port: number): Promise<ModbusServer> {
  const regs = new Uint16Array(1000);
  const sockets = new Set<Socket>();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    let pending = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      pending = Buffer.concat([pending, d]);
      while (pending.length >= 7) {
        const len = 6 + pending.readUInt16BE(4);
        if (pending.length < len) break;
        sock.write(respond(pending.subarray(0, len), regs));
        pending = pending.subarray(len);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    server,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** One request: function code and PDU data after it. */
export interface ModbusRequest {
  unit: number;
  fc: number;
  data: number[];
}

/** Sends the requests in order over one connection, each after the previous answer; returns the answers. */
export async function runModbusClient(
  host: string,
  port: number,
  requests: readonly ModbusRequest[],
  timeoutMs = 5000,
): Promise<Buffer[]> {
  const sock = createConnection({ host, port });
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  const answers: Buffer[] = [];
  let pending = Buffer.alloc(0);
  let wake: (() => void) | undefined;
  sock.on('data', (d: Buffer) => {
    pending = Buffer.concat([pending, d]);
    wake?.();
  });
  try {
    for (const [i, r] of requests.entries()) {
      const adu = Buffer.alloc(8 + r.data.length);
      adu.writeUInt16BE(i + 1, 0);
      adu.writeUInt16BE(r.data.length + 2, 4);
      adu[6] = r.unit;
      adu[7] = r.fc;
      Buffer.from(r.data).copy(adu, 8);
      sock.write(adu);
      const deadline = setTimeout(() => wake?.(), timeoutMs);
      while (pending.length < 7 || pending.length < 6 + pending.readUInt16BE(4)) {
        const before = pending.length;
        await new Promise<void>((resolve) => (wake = resolve));
        if (pending.length === before)
          throw new Error(`no Modbus answer to request ${i + 1} within ${timeoutMs} ms`);
      }
      clearTimeout(deadline);
      const len = 6 + pending.readUInt16BE(4);
      answers.push(pending.subarray(0, len));
      pending = pending.subarray(len);
    }
  } finally {
    sock.end();
  }
  return answers;
}
