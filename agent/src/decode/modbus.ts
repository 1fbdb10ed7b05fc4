// Modbus/TCP: MBAP framing and every public function code (1-8, 11, 12, 15-17, 20-24, 43 with MEI 13/14),
// exception responses, and request<->response matching by transaction id within a flow.
// Broken framing (protocol id != 0, a length below 2 or above the 254 the spec allows) is rejected; odd values
// inside a well-framed PDU (unknown function codes, odd coil values, quantities out of range) are kept as data.
import { u16 as bytesU16, u8 as bytesU8 } from './bytes.js';
import {
  Counters,
  type Decoder,
  type EventBase,
  type EventSink,
  type NumberList,
  type Segment,
} from './types.js';

export const MODBUS_PORT = 502;
/** MBAP header: transaction id, protocol id, length, unit id. */
export const MBAP_HEADER = 7;
/** The MBAP length counts the unit id and the PDU; the PDU is at most 253 bytes. */
export const MBAP_MIN_LENGTH = 2;
export const MBAP_MAX_LENGTH = 254;
const EXCEPTION_BIT = 0x80;
/** Outstanding requests remembered per flow for matching; the oldest is forgotten (counted) beyond this. */
export const MAX_PENDING_PER_FLOW = 64;
/** Longest value list kept in an event (a full-size PDU never exceeds it). */
const MAX_VALUES = 2000;

export const FunctionCode = {
  READ_COILS: 1,
  READ_DISCRETE_INPUTS: 2,
  READ_HOLDING_REGISTERS: 3,
  READ_INPUT_REGISTERS: 4,
  WRITE_SINGLE_COIL: 5,
  WRITE_SINGLE_REGISTER: 6,
  READ_EXCEPTION_STATUS: 7,
  DIAGNOSTICS: 8,
  GET_COMM_EVENT_COUNTER: 11,
  GET_COMM_EVENT_LOG: 12,
  WRITE_MULTIPLE_COILS: 15,
  WRITE_MULTIPLE_REGISTERS: 16,
  REPORT_SERVER_ID: 17,
  READ_FILE_RECORD: 20,
  WRITE_FILE_RECORD: 21,
  MASK_WRITE_REGISTER: 22,
  READ_WRITE_MULTIPLE_REGISTERS: 23,
  READ_FIFO_QUEUE: 24,
  ENCAPSULATED_INTERFACE: 43,
} as const;

export const MeiType = { CANOPEN_GENERAL_REFERENCE: 13, READ_DEVICE_IDENTIFICATION: 14 } as const;

export const ExceptionCode = {
  ILLEGAL_FUNCTION: 1,
  ILLEGAL_DATA_ADDRESS: 2,
  ILLEGAL_DATA_VALUE: 3,
  SERVER_DEVICE_FAILURE: 4,
  ACKNOWLEDGE: 5,
  SERVER_DEVICE_BUSY: 6,
  MEMORY_PARITY_ERROR: 8,
  GATEWAY_PATH_UNAVAILABLE: 10,
  GATEWAY_TARGET_FAILED: 11,
} as const;

export interface ModbusFileRecord {
  ref_type: number;
  file_number?: number;
  record_number?: number;
  record_length?: number;
  values?: number[];
}

export interface ModbusDeviceObject {
  id: number;
  value: string;
}

/**
 * One Modbus PDU. Field names follow the JSONL oracle format (`vigil-agent decode --format jsonl`); optional
 * fields are absent (undefined) when the function does not carry them.
 *
 * Valid only during onEvent (see DecodedEvent): the decoder hands out one reused object for the common functions
 * (reads, single and multiple writes, exceptions), and their `values` read the PDU's bytes on demand.
 */
export interface ModbusEvent extends EventBase {
  protocol: 'modbus';
  trans_id: number;
  unit_id: number;
  /** Function code without the exception bit (as tshark's modbus.func_code). */
  func_code: number;
  exception_code?: number | undefined;
  is_response: boolean;
  /** Start address (read address for fc 23, FIFO pointer for fc 24). */
  address?: number | undefined;
  quantity?: number | undefined;
  write_address?: number | undefined;
  write_quantity?: number | undefined;
  byte_count?: number | undefined;
  /** Register values, coil/input bits (0/1), or raw bytes, depending on the function (see NumberList). */
  values?: NumberList | undefined;
  sub_function?: number | undefined;
  and_mask?: number | undefined;
  or_mask?: number | undefined;
  status?: number | undefined;
  event_count?: number | undefined;
  message_count?: number | undefined;
  fifo_count?: number | undefined;
  records?: ModbusFileRecord[] | undefined;
  mei_type?: number | undefined;
  read_device_id?: number | undefined;
  object_id?: number | undefined;
  conformity_level?: number | undefined;
  more_follows?: number | undefined;
  next_object_id?: number | undefined;
  objects?: ModbusDeviceObject[] | undefined;
  /** Frame of the matching request (responses only, when it was seen). */
  request_frame?: number | undefined;
  /** Why the PDU's data did not parse completely (its header fields are still valid). */
  malformed?: string | undefined;
}

// The per-PDU path's constants and byte readers as this module's own: an imported or exported binding (u16, u8,
// FunctionCode, the MBAP limits) is read through its module cell, with a check for the uninitialised hole (and, for
// an object, a map check) at every use, also inside this module; a local constant compiles to its value.
const u16 = bytesU16;
const u8 = bytesU8;
const FC = FunctionCode;
const MEI = MeiType;
const HEADER = MBAP_HEADER;
const MIN_LENGTH = MBAP_MIN_LENGTH;
const MAX_LENGTH = MBAP_MAX_LENGTH;
const MAX_PENDING = MAX_PENDING_PER_FLOW;

/**
 * Words per outstanding request: transaction id, function code, address, quantity, frame, next (older) record. A
 * record number read back from the pool is made an integer (`| 0`): kept as a double, it would make `free` a double
 * field and a table made later a different shape (see PacketView.tsSec).
 */
const REC = 6;
const NEXT = 5;
const NIL = -1;
/** Flows the request table has headers for at the start; it doubles as higher flow ids appear. */
const INITIAL_FLOWS = 1024;
/** Request records at the start; the pool doubles when every one is in use. */
const INITIAL_RECORDS = 1024;

/**
 * Outstanding requests of every flow, in typed arrays by flow id: per flow its newest record, count and the bounds
 * of the transaction ids held; per request one record of REC words in a shared pool, linked newest to oldest. A
 * PDU's lookup reads the flow's header and the newest record (a response usually answers the latest request), two
 * array reads with no object to follow. Ids held per flow are unique (add() is called after removing a duplicate).
 */
class PendingTable {
  private rec = new Float64Array(INITIAL_RECORDS * REC);
  /** Records handed out so far (the pool's high-water mark) and the list of freed ones. */
  private used = 0;
  private free = NIL;
  private head = new Int32Array(INITIAL_FLOWS).fill(NIL);
  private count = new Uint8Array(INITIAL_FLOWS);
  /**
   * Bounds of the transaction ids a flow holds (lo <= id <= hi, reset when it holds none): clients number their
   * requests upwards, so a new request's id is usually above hi and misses without a walk.
   */
  private lo = new Int32Array(INITIAL_FLOWS);
  private hi = new Int32Array(INITIAL_FLOWS).fill(-1);
  /** The record before the one find() returned (NIL: it was the newest), for remove(). */
  private foundPrev = NIL;

  /** The record of the flow's request with transaction id `trans`, or -1. */
  find(flow: number, trans: number): number {
    if (flow >= this.head.length) this.grow(flow);
    if (trans > (this.hi[flow] ?? -1) || trans < (this.lo[flow] ?? 0)) return NIL;
    const rec = this.rec;
    let prev = NIL;
    for (let r = this.head[flow] ?? NIL; r !== NIL; r = (rec[r * REC + NEXT] ?? NIL) | 0) {
      if (rec[r * REC] === trans) {
        this.foundPrev = prev;
        return r;
      }
      prev = r;
    }
    return NIL;
  }

  fc(r: number): number {
    return this.rec[r * REC + 1] ?? -1;
  }
  address(r: number): number {
    return this.rec[r * REC + 2] ?? -1;
  }
  quantity(r: number): number {
    return this.rec[r * REC + 3] ?? -1;
  }
  frame(r: number): number {
    return this.rec[r * REC + 4] ?? 0;
  }

  /** Removes record r, which find() just returned for this flow. */
  remove(flow: number, r: number): void {
    this.unlink(flow, r, this.foundPrev);
  }

  /** Adds a request (find() was called for the flow first); false when the oldest had to be forgotten. */
  add(flow: number, trans: number, fc: number, address: number, quantity: number, frame: number): boolean {
    let room = true;
    const n = this.count[flow] ?? 0;
    if (n === MAX_PENDING) {
      // Forget the oldest: the last record of the list.
      const rec = this.rec;
      let prev = NIL;
      let r = this.head[flow] ?? NIL;
      for (
        let next = (rec[r * REC + NEXT] ?? NIL) | 0;
        next !== NIL;
        next = (rec[r * REC + NEXT] ?? NIL) | 0
      ) {
        prev = r;
        r = next;
      }
      this.unlink(flow, r, prev);
      room = false;
    }
    if (this.count[flow] === 0) {
      this.lo[flow] = trans;
      this.hi[flow] = trans;
    } else if (trans < (this.lo[flow] ?? 0)) this.lo[flow] = trans;
    else if (trans > (this.hi[flow] ?? -1)) this.hi[flow] = trans;
    const r = this.allocate();
    const rec = this.rec;
    const o = r * REC;
    rec[o] = trans;
    rec[o + 1] = fc;
    rec[o + 2] = address;
    rec[o + 3] = quantity;
    rec[o + 4] = frame;
    rec[o + NEXT] = this.head[flow] ?? NIL;
    this.head[flow] = r;
    this.count[flow] = (this.count[flow] ?? 0) + 1;
    return room;
  }

  /** Forgets every request of a flow (its id is about to be reused). */
  clear(flow: number): void {
    if (flow >= this.head.length) return;
    const rec = this.rec;
    let r = this.head[flow] ?? NIL;
    while (r !== NIL) {
      const next = (rec[r * REC + NEXT] ?? NIL) | 0;
      rec[r * REC + NEXT] = this.free;
      this.free = r;
      r = next;
    }
    this.head[flow] = NIL;
    this.count[flow] = 0;
    this.lo[flow] = 0;
    this.hi[flow] = -1;
  }

  private unlink(flow: number, r: number, prev: number): void {
    const rec = this.rec;
    const next = (rec[r * REC + NEXT] ?? NIL) | 0;
    if (prev === NIL) this.head[flow] = next;
    else rec[prev * REC + NEXT] = next;
    rec[r * REC + NEXT] = this.free;
    this.free = r;
    const n = (this.count[flow] ?? 1) - 1;
    this.count[flow] = n;
    if (n === 0) {
      this.lo[flow] = 0;
      this.hi[flow] = -1;
    }
  }

  private allocate(): number {
    const f = this.free;
    if (f !== NIL) {
      this.free = (this.rec[f * REC + NEXT] ?? NIL) | 0;
      return f;
    }
    if (this.used * REC === this.rec.length) {
      const bigger = new Float64Array(this.rec.length * 2);
      bigger.set(this.rec);
      this.rec = bigger;
    }
    return this.used++;
  }

  private grow(flow: number): void {
    let n = this.head.length;
    while (n <= flow) n *= 2;
    const head = new Int32Array(n).fill(NIL);
    head.set(this.head);
    this.head = head;
    const count = new Uint8Array(n);
    count.set(this.count);
    this.count = count;
    const lo = new Int32Array(n);
    lo.set(this.lo);
    this.lo = lo;
    const hi = new Int32Array(n).fill(-1);
    hi.set(this.hi);
    this.hi = hi;
  }
}

/** 1 for a function byte whose PDU fills only the fields every event declares: decoded into the reused event. */
const COMMON = new Uint8Array(256);
for (const fc of [1, 2, 3, 4, 5, 6, 15, 16]) COMMON[fc] = 1;
COMMON.fill(1, EXCEPTION_BIT);

const EMPTY = Buffer.alloc(0);

/**
 * The values of the reused event: register values (big-endian 16-bit) or coil/input bits (LSB first) read from the
 * PDU's bytes on demand, so that a PDU costs no array. Valid while the PDU's buffer is, i.e. during onEvent.
 */
class PduValues implements NumberList {
  private buf: Buffer = EMPTY;
  private off = 0;
  private isBits = false;
  length = 0;

  set(buf: Buffer, off: number, length: number, isBits: boolean): this {
    this.buf = buf;
    this.off = off;
    this.length = length;
    this.isBits = isBits;
    return this;
  }

  at(i: number): number | undefined {
    if (!(i >= 0 && i < this.length)) return undefined;
    const k = Math.trunc(i);
    return this.isBits
      ? ((this.buf[this.off + (k >> 3)] ?? 0) >> (k & 7)) & 1
      : u16(this.buf, this.off + k * 2);
  }

  toJSON(): number[] {
    const out = new Array<number>(this.length);
    for (let i = 0; i < this.length; i++) out[i] = this.at(i) ?? 0;
    return out;
  }
}

/** A fresh event with every common field declared (the same shape for all: fast property access). */
function newEvent(): ModbusEvent {
  return {
    protocol: 'modbus',
    frame: 0,
    ts: -0, // a double field from the start (see PacketView.tsSec)
    flow: 0,
    trans_id: 0,
    unit_id: 0,
    func_code: 0,
    exception_code: undefined,
    is_response: false,
    // Undefined fields are absent from the JSON.
    address: undefined,
    quantity: undefined,
    byte_count: undefined,
    values: undefined,
    request_frame: undefined,
    malformed: undefined,
  };
}

export class ModbusDecoder implements Decoder {
  readonly protocol = 'modbus' as const;
  readonly transport = 'tcp' as const;
  readonly ports: readonly number[];
  readonly counters = new Counters();
  private readonly pending = new PendingTable();
  /** The event handed out for the common functions, and its values view. */
  private readonly shared = newEvent();
  private readonly view = new PduValues();

  /** `ports`: the server ports to decode as Modbus/TCP (502 by default; gateways often add others). */
  constructor(opts: { ports?: readonly number[] } = {}) {
    this.ports = opts.ports ?? [MODBUS_PORT];
  }

  pduLength(buf: Buffer, off: number, avail: number): number {
    if (avail < 6) return avail >= 4 && u16(buf, off + 2) !== 0 ? -1 : 0;
    if (u16(buf, off + 2) !== 0) return -1;
    const len = u16(buf, off + 4);
    if (len < MIN_LENGTH || len > MAX_LENGTH) return -1;
    return 6 + len;
  }

  decode(seg: Segment, emit: EventSink): void {
    const b = seg.buf;
    const o = seg.off;
    if (seg.len < HEADER + 1) {
      this.counters.inc('modbus.truncated_adu');
      return;
    }
    const raw = u8(b, o + 7);
    // Compared with true: a boolean field is of unknown type to the optimizing compiler, and `!x` would test it
    // against every falsy kind of value.
    const isResponse = seg.toServer !== true;
    // The rarer functions add fields of their own: a fresh object each, so that every event's fields (and their
    // order in the JSON) are those of its function alone.
    const ev = COMMON[raw] === 1 ? this.shared : newEvent();
    ev.frame = seg.pkt.frame;
    ev.ts = seg.pkt.ts;
    ev.flow = seg.flow;
    ev.trans_id = u16(b, o);
    ev.unit_id = u8(b, o + 6);
    ev.func_code = raw & 0x7f;
    ev.exception_code = undefined;
    ev.is_response = isResponse;
    ev.address = undefined;
    ev.quantity = undefined;
    ev.byte_count = undefined;
    ev.values = undefined;
    ev.request_frame = undefined;
    ev.malformed = undefined;
    const d = o + 8;
    const n = seg.len - 8;
    const pending = this.pending;
    const flow = seg.flow;
    // The outstanding request with this transaction id (looked up once: decoding the PDU does not change it).
    const i = pending.find(flow, ev.trans_id);
    if (raw & EXCEPTION_BIT) {
      if (n < 1) ev.malformed = 'truncated';
      else ev.exception_code = u8(b, d);
      if (!isResponse) this.counters.inc('modbus.exception_in_request');
    } else if (isResponse) {
      const quantity = i >= 0 && pending.fc(i) === ev.func_code ? pending.quantity(i) : -1;
      ev.malformed = this.response(ev, b, d, n, quantity < 0 ? undefined : quantity);
    } else {
      ev.malformed = this.request(ev, b, d, n);
    }
    if (ev.malformed !== undefined) this.counters.inc(`modbus.${ev.malformed}`);
    this.match(flow, ev, i, isResponse);
    emit(ev);
  }

  /** Forgets a flow's outstanding requests: the pipeline is about to reuse its id. */
  release(flow: number): void {
    this.pending.clear(flow);
  }

  /**
   * Matches a response to the flow's request record `i`, or remembers a request (`i`: its id's earlier request).
   * `isResponse`: ev.is_response, as decode() computed it (read back from the event, its type is unknown again).
   */
  private match(flow: number, ev: ModbusEvent, i: number, isResponse: boolean): void {
    const pending = this.pending;
    if (!isResponse) {
      if (i >= 0) {
        this.counters.inc('modbus.duplicate_transaction_id');
        pending.remove(flow, i);
      }
      if (!pending.add(flow, ev.trans_id, ev.func_code, ev.address ?? -1, ev.quantity ?? -1, ev.frame))
        this.counters.inc('modbus.unanswered_request_dropped');
      return;
    }
    if (i < 0) {
      this.counters.inc('modbus.unmatched_response');
      return;
    }
    const fc = pending.fc(i);
    const address = pending.address(i);
    ev.request_frame = pending.frame(i);
    pending.remove(flow, i);
    if (fc !== ev.func_code) this.counters.inc('modbus.response_function_mismatch');
    else if (ev.address === undefined && address >= 0 && isRead(fc)) ev.address = address;
  }

  /**
   * Decodes request data; returns the malformation reason or undefined. The reads (most requests) here, the other
   * functions in otherRequest: this part is small enough for V8 to inline into decode(), the whole switch was not.
   */
  private request(ev: ModbusEvent, b: Buffer, d: number, n: number): string | undefined {
    const fc = ev.func_code;
    if (fc >= FC.READ_COILS && fc <= FC.READ_INPUT_REGISTERS) {
      if (n < 4) return 'truncated';
      ev.address = u16(b, d);
      ev.quantity = u16(b, d + 2);
      return undefined;
    }
    return this.otherRequest(ev, b, d, n);
  }

  /** request() for the functions other than the reads. */
  private otherRequest(ev: ModbusEvent, b: Buffer, d: number, n: number): string | undefined {
    switch (ev.func_code) {
      case FC.WRITE_SINGLE_COIL:
      case FC.WRITE_SINGLE_REGISTER:
      case FC.MASK_WRITE_REGISTER:
        return this.singleWrite(ev, b, d, n);
      case FC.READ_EXCEPTION_STATUS:
      case FC.GET_COMM_EVENT_COUNTER:
      case FC.GET_COMM_EVENT_LOG:
      case FC.REPORT_SERVER_ID:
        return n === 0 ? undefined : 'unexpected_data';
      case FC.DIAGNOSTICS:
        return diagnostics(ev, b, d, n);
      case FC.WRITE_MULTIPLE_COILS:
      case FC.WRITE_MULTIPLE_REGISTERS: {
        if (n < 5) return 'truncated';
        ev.address = u16(b, d);
        ev.quantity = u16(b, d + 2);
        ev.byte_count = u8(b, d + 4);
        const avail = Math.min(ev.byte_count, n - 5);
        ev.values =
          ev.func_code === FC.WRITE_MULTIPLE_COILS
            ? this.bits(ev, b, d + 5, avail, ev.quantity)
            : this.registers(ev, b, d + 5, avail);
        return ev.byte_count === n - 5 ? undefined : 'byte_count_mismatch';
      }
      case FC.READ_FILE_RECORD:
      case FC.WRITE_FILE_RECORD:
        return fileRecords(ev, b, d, n, ev.func_code === FC.WRITE_FILE_RECORD);
      case FC.READ_WRITE_MULTIPLE_REGISTERS: {
        if (n < 9) return 'truncated';
        ev.address = u16(b, d);
        ev.quantity = u16(b, d + 2);
        ev.write_address = u16(b, d + 4);
        ev.write_quantity = u16(b, d + 6);
        ev.byte_count = u8(b, d + 8);
        ev.values = registers(b, d + 9, Math.min(ev.byte_count, n - 9));
        return ev.byte_count === n - 9 ? undefined : 'byte_count_mismatch';
      }
      case FC.READ_FIFO_QUEUE:
        if (n < 2) return 'truncated';
        ev.address = u16(b, d);
        return undefined;
      case FC.ENCAPSULATED_INTERFACE:
        if (n < 1) return 'truncated';
        ev.mei_type = u8(b, d);
        if (ev.mei_type === MEI.READ_DEVICE_IDENTIFICATION) {
          if (n < 3) return 'truncated';
          ev.read_device_id = u8(b, d + 1);
          ev.object_id = u8(b, d + 2);
          return undefined;
        }
        ev.values = bytes(b, d + 1, n - 1);
        return ev.mei_type === MEI.CANOPEN_GENERAL_REFERENCE ? undefined : 'unknown_mei_type';
      default:
        ev.byte_count = n;
        return 'unknown_function';
    }
  }

  /**
   * Decodes response data; `reqQuantity` is the matched request's quantity (coil reads need it). The register reads
   * (most responses) here, the other functions in otherResponse (as request() and otherRequest()).
   */
  private response(
    ev: ModbusEvent,
    b: Buffer,
    d: number,
    n: number,
    reqQuantity: number | undefined,
  ): string | undefined {
    const fc = ev.func_code;
    if (
      fc === FC.READ_HOLDING_REGISTERS ||
      fc === FC.READ_INPUT_REGISTERS ||
      fc === FC.READ_WRITE_MULTIPLE_REGISTERS
    ) {
      if (n < 1) return 'truncated';
      ev.byte_count = u8(b, d);
      ev.values = this.registers(ev, b, d + 1, Math.min(ev.byte_count, n - 1));
      ev.quantity = ev.values.length;
      return ev.byte_count === n - 1 ? undefined : 'byte_count_mismatch';
    }
    return this.otherResponse(ev, b, d, n, reqQuantity);
  }

  /** response() for the functions other than the register reads. */
  private otherResponse(
    ev: ModbusEvent,
    b: Buffer,
    d: number,
    n: number,
    reqQuantity: number | undefined,
  ): string | undefined {
    switch (ev.func_code) {
      case FC.READ_COILS:
      case FC.READ_DISCRETE_INPUTS: {
        if (n < 1) return 'truncated';
        ev.byte_count = u8(b, d);
        const avail = Math.min(ev.byte_count, n - 1);
        const q = reqQuantity;
        ev.quantity = q;
        ev.values = this.bits(ev, b, d + 1, avail, q ?? avail * 8);
        return ev.byte_count === n - 1 ? undefined : 'byte_count_mismatch';
      }
      case FC.WRITE_SINGLE_COIL:
      case FC.WRITE_SINGLE_REGISTER:
      case FC.MASK_WRITE_REGISTER:
        return this.singleWrite(ev, b, d, n);
      case FC.READ_EXCEPTION_STATUS:
        if (n < 1) return 'truncated';
        ev.status = u8(b, d);
        return undefined;
      case FC.DIAGNOSTICS:
        return diagnostics(ev, b, d, n);
      case FC.GET_COMM_EVENT_COUNTER:
        if (n < 4) return 'truncated';
        ev.status = u16(b, d);
        ev.event_count = u16(b, d + 2);
        return undefined;
      case FC.GET_COMM_EVENT_LOG:
        if (n < 7) return 'truncated';
        ev.byte_count = u8(b, d);
        ev.status = u16(b, d + 1);
        ev.event_count = u16(b, d + 3);
        ev.message_count = u16(b, d + 5);
        ev.values = bytes(b, d + 7, Math.min(n - 7, Math.max(0, ev.byte_count - 6)));
        return ev.byte_count === n - 1 ? undefined : 'byte_count_mismatch';
      case FC.WRITE_MULTIPLE_COILS:
      case FC.WRITE_MULTIPLE_REGISTERS:
        if (n < 4) return 'truncated';
        ev.address = u16(b, d);
        ev.quantity = u16(b, d + 2);
        return undefined;
      case FC.REPORT_SERVER_ID:
        if (n < 1) return 'truncated';
        ev.byte_count = u8(b, d);
        ev.values = bytes(b, d + 1, Math.min(ev.byte_count, n - 1));
        return ev.byte_count === n - 1 ? undefined : 'byte_count_mismatch';
      case FC.READ_FILE_RECORD:
        return readFileResponse(ev, b, d, n);
      case FC.WRITE_FILE_RECORD:
        return fileRecords(ev, b, d, n, true);
      case FC.READ_FIFO_QUEUE: {
        if (n < 4) return 'truncated';
        ev.byte_count = u16(b, d);
        ev.fifo_count = u16(b, d + 2);
        ev.values = registers(b, d + 4, Math.min(ev.fifo_count * 2, n - 4));
        return ev.byte_count === n - 2 && ev.fifo_count * 2 === n - 4 ? undefined : 'byte_count_mismatch';
      }
      case FC.ENCAPSULATED_INTERFACE:
        if (n < 1) return 'truncated';
        ev.mei_type = u8(b, d);
        if (ev.mei_type === MEI.READ_DEVICE_IDENTIFICATION) return deviceIdentification(ev, b, d + 1, n - 1);
        ev.values = bytes(b, d + 1, n - 1);
        return ev.mei_type === MEI.CANOPEN_GENERAL_REFERENCE ? undefined : 'unknown_mei_type';
      default:
        ev.byte_count = n;
        return 'unknown_function';
    }
  }

  /** fc 5 and 6 (address, value) and 22 (address, and mask, or mask): requests and their echoed responses. */
  private singleWrite(ev: ModbusEvent, b: Buffer, d: number, n: number): string | undefined {
    const mask = ev.func_code === FC.MASK_WRITE_REGISTER;
    if (n < (mask ? 6 : 4)) return 'truncated';
    ev.address = u16(b, d);
    if (mask) {
      ev.and_mask = u16(b, d + 2);
      ev.or_mask = u16(b, d + 4);
      return n === 6 ? undefined : 'unexpected_data';
    }
    ev.values = this.registers(ev, b, d + 2, 2);
    return n === 4 ? undefined : 'unexpected_data';
  }

  /** Register values of `ev`: the view for the reused event, an array for a fresh one. */
  private registers(ev: ModbusEvent, b: Buffer, o: number, byteLen: number): NumberList {
    if (ev !== this.shared) return registers(b, o, byteLen);
    return this.view.set(b, o, Math.min(byteLen >> 1, MAX_VALUES), false);
  }

  private bits(ev: ModbusEvent, b: Buffer, o: number, byteLen: number, quantity: number): NumberList {
    if (ev !== this.shared) return bits(b, o, byteLen, quantity);
    return this.view.set(b, o, Math.min(byteLen * 8, quantity, MAX_VALUES), true);
  }
}

/** Responses that do not repeat the address they answer for: it is taken from the matched request. */
function isRead(fc: number): boolean {
  return (
    (fc >= FC.READ_COILS && fc <= FC.READ_INPUT_REGISTERS) ||
    fc === FC.READ_WRITE_MULTIPLE_REGISTERS ||
    fc === FC.READ_FIFO_QUEUE
  );
}

function diagnostics(ev: ModbusEvent, b: Buffer, d: number, n: number): string | undefined {
  if (n < 2) return 'truncated';
  ev.sub_function = u16(b, d);
  ev.values = registers(b, d + 2, n - 2);
  return (n - 2) % 2 === 0 ? undefined : 'odd_data_length';
}

/** fc 20 requests (7-byte sub-requests) and fc 21 requests/responses (sub-requests with data). */
function fileRecords(
  ev: ModbusEvent,
  b: Buffer,
  d: number,
  n: number,
  withData: boolean,
): string | undefined {
  if (n < 1) return 'truncated';
  ev.byte_count = u8(b, d);
  const end = d + 1 + Math.min(ev.byte_count, n - 1);
  const records: ModbusFileRecord[] = [];
  let o = d + 1;
  while (o + 7 <= end && records.length < MAX_VALUES) {
    const rec: ModbusFileRecord = {
      ref_type: u8(b, o),
      file_number: u16(b, o + 1),
      record_number: u16(b, o + 3),
      record_length: u16(b, o + 5),
    };
    o += 7;
    if (withData) {
      const len = Math.min((rec.record_length ?? 0) * 2, end - o);
      rec.values = registers(b, o, len);
      o += len;
    }
    records.push(rec);
  }
  ev.records = records;
  if (ev.byte_count !== n - 1) return 'byte_count_mismatch';
  return o === end ? undefined : 'bad_sub_request';
}

function readFileResponse(ev: ModbusEvent, b: Buffer, d: number, n: number): string | undefined {
  if (n < 1) return 'truncated';
  ev.byte_count = u8(b, d);
  const end = d + 1 + Math.min(ev.byte_count, n - 1);
  const records: ModbusFileRecord[] = [];
  let o = d + 1;
  while (o + 2 <= end && records.length < MAX_VALUES) {
    const len = u8(b, o);
    if (len < 1) break;
    const dataLen = Math.min(len - 1, end - o - 2);
    records.push({ ref_type: u8(b, o + 1), values: registers(b, o + 2, dataLen) });
    o += 1 + len;
  }
  ev.records = records;
  if (ev.byte_count !== n - 1) return 'byte_count_mismatch';
  return o === end ? undefined : 'bad_sub_response';
}

function deviceIdentification(ev: ModbusEvent, b: Buffer, d: number, n: number): string | undefined {
  if (n < 5) return 'truncated';
  ev.read_device_id = u8(b, d);
  ev.conformity_level = u8(b, d + 1);
  ev.more_follows = u8(b, d + 2);
  ev.next_object_id = u8(b, d + 3);
  const count = u8(b, d + 4);
  const end = d + n;
  const objects: ModbusDeviceObject[] = [];
  let o = d + 5;
  for (let i = 0; i < count; i++) {
    if (o + 2 > end) return 'truncated_object';
    const len = u8(b, o + 1);
    if (o + 2 + len > end) return 'truncated_object';
    objects.push({ id: u8(b, o), value: b.toString('latin1', o + 2, o + 2 + len) });
    ev.objects = objects;
    o += 2 + len;
  }
  ev.objects = objects;
  return o === end ? undefined : 'unexpected_data';
}

function registers(b: Buffer, o: number, byteLen: number): number[] {
  const count = Math.min(byteLen >> 1, MAX_VALUES);
  const out = new Array<number>(count);
  for (let i = 0; i < count; i++) out[i] = u16(b, o + i * 2);
  return out;
}

function bits(b: Buffer, o: number, byteLen: number, quantity: number): number[] {
  const count = Math.min(byteLen * 8, quantity, MAX_VALUES);
  const out = new Array<number>(count);
  for (let i = 0; i < count; i++) out[i] = ((b[o + (i >> 3)] ?? 0) >> (i & 7)) & 1;
  return out;
}

function bytes(b: Buffer, o: number, len: number): number[] {
  const count = Math.min(Math.max(0, len), MAX_VALUES);
  const out = new Array<number>(count);
  for (let i = 0; i < count; i++) out[i] = b[o + i] ?? 0;
  return out;
}
