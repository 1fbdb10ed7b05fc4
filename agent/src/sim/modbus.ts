// Modbus/TCP on the simulated wire: request PDUs the masters and attackers send, and the PLC side that answers them
// from its physical process (reads, writes, device identification, exceptions). Function code 90 is Schneider's
// UMAS (Unity) channel, the way real program downloads reach Modicon PLCs; PLCs of other vendors answer it with
// exception 1 (illegal function), as they do for any function they do not implement.
import { PhysicalProcess, REGISTERS, type ProcessKind } from './process.js';
import type { Host } from './net.js';
import type { Rng } from './prng.js';

export const MODBUS_PORT = 502;

export function adu(transId: number, unitId: number, pdu: Buffer): Buffer {
  const b = Buffer.allocUnsafe(7 + pdu.length);
  b.writeUInt16BE(transId & 0xffff, 0);
  b.writeUInt16BE(0, 2);
  b.writeUInt16BE(pdu.length + 1, 4);
  b[6] = unitId;
  pdu.copy(b, 7);
  return b;
}

/** fc 1-4: read `qty` items from `addr`. */
export function readRequest(fc: number, addr: number, qty: number): Buffer {
  const b = Buffer.allocUnsafe(5);
  b[0] = fc;
  b.writeUInt16BE(addr, 1);
  b.writeUInt16BE(qty, 3);
  return b;
}

/** fc 5 (value 0xFF00 or 0x0000) and fc 6. */
export function writeSingle(fc: 5 | 6, addr: number, value: number): Buffer {
  const b = Buffer.allocUnsafe(5);
  b[0] = fc;
  b.writeUInt16BE(addr, 1);
  b.writeUInt16BE(value & 0xffff, 3);
  return b;
}

export function writeCoil(addr: number, on: boolean): Buffer {
  return writeSingle(5, addr, on ? 0xff00 : 0);
}

/** fc 16. */
export function writeRegisters(addr: number, values: readonly number[]): Buffer {
  const b = Buffer.allocUnsafe(6 + values.length * 2);
  b[0] = 16;
  b.writeUInt16BE(addr, 1);
  b.writeUInt16BE(values.length, 3);
  b[5] = values.length * 2;
  values.forEach((v, i) => b.writeUInt16BE(v & 0xffff, 6 + i * 2));
  return b;
}

/** fc 15. */
export function writeCoils(addr: number, bits: readonly number[]): Buffer {
  const n = Math.ceil(bits.length / 8);
  const b = Buffer.alloc(6 + n);
  b[0] = 15;
  b.writeUInt16BE(addr, 1);
  b.writeUInt16BE(bits.length, 3);
  b[5] = n;
  bits.forEach((v, i) => {
    if (v) b[6 + (i >> 3)]! |= 1 << (i & 7);
  });
  return b;
}

/** fc 43 / MEI 14: read device identification (code 1 basic, 2 regular, 4 one object). */
export function readDeviceId(code = 1, objectId = 0): Buffer {
  return Buffer.from([43, 14, code, objectId]);
}

/** fc 90 (UMAS): session byte, sub-function, data. */
export function umas(sub: number, data: Buffer = Buffer.alloc(0), session = 0): Buffer {
  return Buffer.concat([Buffer.from([90, session, sub]), data]);
}

export const Umas = {
  TAKE_RESERVATION: 0x10,
  INIT_DOWNLOAD: 0x30,
  DOWNLOAD_BLOCK: 0x31,
  END_DOWNLOAD: 0x32,
  START_PLC: 0x40,
  STOP_PLC: 0x41,
} as const;

export interface PlcIdentity {
  vendor: string;
  product: string;
  revision: string;
}

/** A PLC: its host, unit id, identity and the process it controls; answers request PDUs. */
export class Plc {
  readonly process: PhysicalProcess;
  /** Recent request rate (an exponentially decaying count, time constant one second) and when it was updated. */
  readonly load = { rate: 0, tUs: 0 };
  private umasSession = 0;

  constructor(
    readonly host: Host,
    readonly unitId: number,
    readonly kind: ProcessKind,
    readonly identity: PlcIdentity,
    rng: Rng,
    startUs: number,
  ) {
    this.process = new PhysicalProcess(kind, rng, startUs);
  }

  get schneider(): boolean {
    return this.identity.vendor.startsWith('Schneider');
  }

  /** The response PDU to a request PDU at time tUs. */
  respond(req: Buffer, tUs: number): Buffer {
    this.process.advance(tUs);
    const fc = req[0] ?? 0;
    const p = this.process;
    switch (fc) {
      case 1:
      case 2:
      case 3:
      case 4: {
        if (req.length < 5) return exception(fc, 3);
        const addr = req.readUInt16BE(1);
        const qty = req.readUInt16BE(3);
        const bitsFc = fc <= 2;
        const size =
          fc === 1
            ? REGISTERS.coils
            : fc === 2
              ? REGISTERS.discretes
              : fc === 3
                ? REGISTERS.holding
                : REGISTERS.input;
        if (qty < 1 || qty > (bitsFc ? 2000 : 125)) return exception(fc, 3);
        if (addr + qty > size) return exception(fc, 2);
        if (bitsFc) {
          const src = fc === 1 ? p.coils : p.discretes;
          const n = Math.ceil(qty / 8);
          const b = Buffer.alloc(2 + n);
          b[0] = fc;
          b[1] = n;
          for (let i = 0; i < qty; i++) if (src[addr + i]) b[2 + (i >> 3)]! |= 1 << (i & 7);
          return b;
        }
        const src = fc === 3 ? p.holding : p.input;
        const b = Buffer.allocUnsafe(2 + qty * 2);
        b[0] = fc;
        b[1] = qty * 2;
        for (let i = 0; i < qty; i++) b.writeUInt16BE(src[addr + i] ?? 0, 2 + i * 2);
        return b;
      }
      case 5:
      case 6: {
        if (req.length < 5) return exception(fc, 3);
        const addr = req.readUInt16BE(1);
        const v = req.readUInt16BE(3);
        if (fc === 5) {
          if (v !== 0 && v !== 0xff00) return exception(fc, 3);
          if (addr >= REGISTERS.coils) return exception(fc, 2);
          p.coils[addr] = v ? 1 : 0;
        } else {
          if (addr >= REGISTERS.holding) return exception(fc, 2);
          p.holding[addr] = v;
        }
        return Buffer.from(req.subarray(0, 5));
      }
      case 15:
      case 16: {
        if (req.length < 6) return exception(fc, 3);
        const addr = req.readUInt16BE(1);
        const qty = req.readUInt16BE(3);
        if (addr + qty > (fc === 15 ? REGISTERS.coils : REGISTERS.holding)) return exception(fc, 2);
        for (let i = 0; i < qty; i++) {
          if (fc === 15) p.coils[addr + i] = ((req[6 + (i >> 3)] ?? 0) >> (i & 7)) & 1;
          else p.holding[addr + i] = req.readUInt16BE(6 + i * 2);
        }
        return Buffer.from(req.subarray(0, 5));
      }
      case 43:
        return req[1] === 14 ? this.deviceId(req[2] ?? 1, req[3] ?? 0) : exception(fc, 1);
      case 90:
        return this.schneider ? this.umasReply(req) : exception(fc, 1);
      default:
        return exception(fc, 1);
    }
  }

  private deviceId(code: number, first: number): Buffer {
    const objects = [this.identity.vendor, this.identity.product, this.identity.revision];
    if (code < 1 || code > 4) return exception(43, 3);
    const ids = code === 4 ? [first] : code === 1 ? [0, 1, 2] : [0, 1, 2];
    if (ids.some((i) => i > 2)) return exception(43, 2);
    const parts: Buffer[] = [Buffer.from([43, 14, code, 0x01, 0x00, 0x00, ids.length])];
    for (const i of ids) {
      const v = Buffer.from(objects[i] ?? '', 'latin1');
      parts.push(Buffer.from([i, v.length]), v);
    }
    return Buffer.concat(parts);
  }

  private umasReply(req: Buffer): Buffer {
    const sub = req[2] ?? 0;
    if (sub === Umas.TAKE_RESERVATION) {
      this.umasSession = (this.umasSession + 0x2f) & 0xff || 1;
      return Buffer.from([90, 0, 0xfe, this.umasSession]);
    }
    return Buffer.from([90, req[1] ?? 0, 0xfe]);
  }
}

export function exception(fc: number, code: number): Buffer {
  return Buffer.from([(fc | 0x80) & 0xff, code]);
}
