import { describe, expect, it } from 'vitest';
import type { ModbusEvent } from '../decode/modbus.js';
import { PacketView } from '../decode/types.js';
import { AssetInventory } from './inventory.js';

const T0 = 1_700_000_000_000;

function ipv4(src: number, dst: number): PacketView {
  const p = new PacketView();
  p.ipVersion = 4;
  p.src4 = src >>> 0;
  p.dst4 = dst >>> 0;
  return p;
}

function ipv6(src: string, dst: string): PacketView {
  const p = new PacketView();
  const bytes = (a: string): Buffer => Buffer.from(a.replace(/:/g, ''), 'hex');
  p.buf = Buffer.concat([bytes(src), bytes(dst)]);
  p.ipVersion = 6;
  p.src6Off = 0;
  p.dst6Off = 16;
  return p;
}

/** An Ethernet header: destination MAC 02:..:dd, source MAC 02:..:ss. */
function ethernet(dst: number, src: number): Buffer {
  return Buffer.from([2, 0, 0, 0, 0, dst, 2, 0, 0, 0, 0, src, 8, 0]);
}

function modbus(unit: number, isResponse: boolean): ModbusEvent {
  return {
    protocol: 'modbus',
    frame: 1,
    ts: 0,
    flow: 0,
    trans_id: 1,
    unit_id: unit,
    func_code: 3,
    is_response: isResponse,
  };
}

describe('asset inventory', () => {
  it('keeps thousands of hosts with their counters and first/last seen as its tables grow', () => {
    const inv = new AssetInventory();
    const server = 0x0a000001;
    for (let i = 0; i < 3000; i++) inv.onPacket(ipv4(0x0b000000 + i, server), undefined, 0, 100, T0 + i);
    inv.onPacket(ipv4(server, 0x0b000000), undefined, 0, 60, T0 + 5000);

    const { hosts, dropped_hosts } = inv.toJson();
    expect(inv.size).toBe(3001);
    expect(dropped_hosts).toBe(0);
    const byIp = new Map(hosts.map((h) => [h.ip, h]));
    expect(byIp.get('10.0.0.1')).toMatchObject({
      packets_received: 3000,
      bytes_received: 300_000,
      packets_sent: 1,
      bytes_sent: 60,
      first_seen: new Date(T0).toISOString(),
      last_seen: new Date(T0 + 5000).toISOString(),
    });
    expect(byIp.get('11.0.0.0')).toMatchObject({
      packets_sent: 1,
      packets_received: 1,
      last_seen: new Date(T0 + 5000).toISOString(),
    });
    expect(byIp.get('11.0.11.183')).toMatchObject({
      packets_sent: 1,
      first_seen: new Date(T0 + 2999).toISOString(),
    });
    expect(hosts[0]?.ip).toBe('10.0.0.1');
  });

  it('stops at maxHosts and counts every packet that named a host it could not keep', () => {
    const inv = new AssetInventory(3);
    for (let i = 0; i < 4; i++) inv.onPacket(ipv4(0x0a000001, 0x0a000010 + i), undefined, 0, 60, T0);
    inv.onPacket(ipv4(0x0a000001, 0x0a000013), undefined, 0, 60, T0);

    const { hosts, dropped_hosts } = inv.toJson();
    expect(hosts.map((h) => h.ip)).toEqual(['10.0.0.1', '10.0.0.16', '10.0.0.17']);
    expect(dropped_hosts).toBe(3);
    expect(hosts[0]?.packets_sent).toBe(5);
  });

  it('keys IPv6 hosts by address and keeps the first MAC seen, also when it comes after the first packet', () => {
    const inv = new AssetInventory();
    const a = 'fd00:0000:0000:0000:0000:0000:0000:0001';
    const b = 'fd00:0000:0000:0000:0000:0000:0000:0002';
    inv.onPacket(ipv6(a, b), undefined, 0, 80, T0);
    inv.onPacket(ipv6(a, b), ethernet(0xbb, 0xaa), 0, 80, T0 + 1);
    inv.onPacket(ipv6(b, a), ethernet(0xcc, 0xdd), 0, 80, T0 + 2);

    expect(inv.toJson().hosts).toMatchObject([
      { ip: 'fd00::1', mac: '02:00:00:00:00:aa', packets_sent: 2, packets_received: 1 },
      { ip: 'fd00::2', mac: '02:00:00:00:00:bb', packets_sent: 1, packets_received: 2 },
    ]);
  });

  it('lists the unit ids a Modbus server answered for, ascending, and its clients', () => {
    const inv = new AssetInventory();
    for (const unit of [7, 255, 1, 0, 7]) {
      inv.onPacket(ipv4(0x0a000002, 0x0a000001), undefined, 0, 60, T0);
      inv.onEvent(modbus(unit, true), false);
    }
    const [client, server] = inv.toJson().hosts;
    expect(client?.roles).toEqual({ modbus_client: true });
    expect(server?.roles).toEqual({ modbus_server: { unit_ids: [0, 1, 7, 255] } });
  });

  it('gives MQTT and HTTP clients and servers their roles from the first PDU, lists sorted and bounded at 256', () => {
    const inv = new AssetInventory();
    const broker = 0x0a000001;
    const web = 0x0a000002;
    const quiet = 0x0a000003;
    const busy = 0x0a000004;
    const packet = (src: number, dst: number): void => inv.onPacket(ipv4(src, dst), undefined, 0, 60, T0);
    // A client that never sent a CONNECT (client id) or a User-Agent, and a server never named by a Host header.
    packet(quiet, broker);
    inv.onMqtt(3, undefined, true);
    packet(web, quiet);
    inv.onHttp(undefined, undefined, false);
    // A client with one id and one agent sent twice, then with more, out of order, past the bound.
    packet(busy, broker);
    inv.onMqtt(1, 'plc-7', true);
    inv.onMqtt(1, 'plc-7', true);
    for (let i = 0; i < 300; i++) inv.onMqtt(1, `c${String(i).padStart(3, '0')}`, true);
    packet(busy, web);
    inv.onHttp('hmi.local', 'agent-b', true);
    inv.onHttp('hmi.local', 'agent-b', true);
    inv.onHttp('hmi.local', 'agent-a', true);

    const byIp = new Map(inv.toJson().hosts.map((h) => [h.ip, h.roles]));
    expect(byIp.get('10.0.0.1')).toEqual({ mqtt_broker: true });
    expect(byIp.get('10.0.0.2')).toEqual({ http_server: { hosts: ['hmi.local'] } });
    expect(byIp.get('10.0.0.3')).toEqual({
      mqtt_client: { client_ids: [] },
      http_client: { user_agents: [] },
    });
    const busyRoles = byIp.get('10.0.0.4');
    expect(busyRoles?.http_client).toEqual({ user_agents: ['agent-a', 'agent-b'] });
    const ids = busyRoles?.mqtt_client?.client_ids ?? [];
    expect(ids).toHaveLength(256);
    expect(ids.slice(0, 3)).toEqual(['c000', 'c001', 'c002']);
    expect(ids).toContain('plc-7');
    expect(ids).not.toContain('c255');
  });
});
