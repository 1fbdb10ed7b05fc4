import { describe, expect, it } from 'vitest';
import type { ModbusEvent } from '../decode/modbus.js';
import { PacketView } from '../decode/types.js';
import { Baseline } from './baseline.js';

const ip4 = (a: number, b: number, c: number, d: number): number =>
  ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
const MASTER = ip4(10, 0, 0, 1);
const PLC = ip4(10, 0, 0, 2);

function packet(src: number, dst: number): PacketView {
  const p = new PacketView();
  p.ipVersion = 4;
  p.ipProto = 6;
  p.src4 = src;
  p.dst4 = dst;
  p.sport = src === MASTER ? 40000 : 502;
  p.dport = src === MASTER ? 502 : 40000;
  p.tcpFlags = 0x18;
  return p;
}

/** A read holding registers response from the PLC: `values` from `address`. */
function readResponse(address: number, values: number[]): ModbusEvent {
  return {
    protocol: 'modbus',
    frame: 1,
    ts: 0,
    flow: 0,
    trans_id: 1,
    unit_id: 1,
    func_code: 3,
    is_response: true,
    address,
    quantity: values.length,
    values,
  };
}

describe('Baseline', () => {
  it('learns the lowest and highest value per register from far-apart blocks, up to the top address', () => {
    const b = new Baseline();
    const pkt = packet(PLC, MASTER);
    for (const [address, values] of [
      [100, [5, 7]],
      [40000, [9]],
      [65534, [1, 2, 3]],
      [100, [6, 2]],
      [40000, [65535]],
    ] as const)
      b.onEvent(readResponse(address, [...values]), pkt, 0);
    expect(b.registerRange('10.0.0.2', 100)).toEqual([5, 6]);
    expect(b.registerRange('10.0.0.2', 101)).toEqual([2, 7]);
    expect(b.registerRange('10.0.0.2', 40000)).toEqual([9, 65535]);
    // A block read at the top address names registers past 65535 (address + index), as the rules look them up.
    expect([65534, 65535, 65536].map((r) => b.registerRange('10.0.0.2', r))).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
    ]);
    expect(b.registerRange('10.0.0.2', 102)).toBeUndefined();
    expect(b.registerRange('10.0.0.2', -1)).toBeUndefined();
    expect(b.registerRange('10.0.0.2', 1e9)).toBeUndefined();
    expect(b.registerRange('10.0.0.9', 100)).toBeUndefined();
    expect(b.summary().registers).toBe(6);
  });

  it('learns each host once, in the order first seen, from the packets of the learning period only', () => {
    const b = new Baseline();
    b.onPacket(packet(MASTER, PLC), 0);
    b.onPacket(packet(PLC, MASTER), 1);
    b.onPacket(packet(ip4(10, 0, 0, 3), PLC), 2);
    b.freeze();
    b.onPacket(packet(ip4(10, 0, 0, 4), PLC), 3);
    expect([...b.hosts]).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    expect(b.summary()).toMatchObject({ hosts: 3, packets: 3 });
  });
});
