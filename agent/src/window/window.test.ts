import { describe, expect, it } from 'vitest';
import { mix32 } from './hll.js';
import { FacilityWindow, ProtoClass, WINDOW_SECONDS } from './window.js';

const T0 = 1_700_000_000_000;

describe('60-second facility window', () => {
  it('aggregates a second: rates, unique addresses, protocol shares, sizes and inter-arrival time', () => {
    const w = new FacilityWindow();
    w.addPacket(T0, 100, mix32(1), mix32(9), ProtoClass.modbus, false);
    w.addPacket(T0 + 100, 300, mix32(2), mix32(9), ProtoClass.modbus, false);
    w.addPacket(T0 + 300, 200, mix32(1), mix32(8), ProtoClass.dns, true);
    w.addPacket(T0 + 600, 400, mix32(3), mix32(9), ProtoClass.tcp, false);
    w.addModbus(T0 / 1000, 3, false, false);
    w.addModbus(T0 / 1000, 16, false, false);
    w.addModbus(T0 / 1000, 16, true, true);
    w.addMqtt(T0 / 1000, 1);
    w.addMqtt(T0 / 1000, 3);
    w.addDns(T0 / 1000, true, 3);
    const r = w.row(T0 / 1000);
    expect(r).toMatchObject({
      time: new Date(T0).toISOString(),
      packets_per_sec: 4,
      bytes_per_sec: 1000,
      unique_src_ips: 3,
      unique_dest_ips: 2,
      protocol_distribution: { modbus: 0.5, dns: 0.25, tcp: 0.25 },
      failed_connections: 1,
      avg_packet_size: 250,
      modbus_reads: 1,
      modbus_writes: 1,
      modbus_exceptions: 1,
      modbus_requests_by_function: { '3': 1, '16': 1 },
      modbus_exceptions_by_function: { '16': 1 },
      mqtt_connects: 1,
      mqtt_publishes: 1,
      dns_nxdomain: 1,
    });
    expect(r?.inter_arrival_time).toBeCloseTo(0.2, 9);
  });

  it("counts a conversation's two addresses once per second, again in each new second and in a reused slot", () => {
    const w = new FacilityWindow();
    const a = mix32(1);
    const b = mix32(2);
    for (const sec of [1, 0, 60]) {
      for (let k = 0; k < 4; k++) {
        w.addPacket(T0 + sec * 1000 + k, 60, k % 2 ? b : a, k % 2 ? a : b, ProtoClass.modbus, false);
      }
    }
    w.addPacket(T0 + 60_500, 60, mix32(3), a, ProtoClass.modbus, false);
    // Second 60 took second 0's slot: its sketches started empty and counted both addresses again.
    expect(w.row(T0 / 1000 + 1)).toMatchObject({ packets_per_sec: 4, unique_src_ips: 2, unique_dest_ips: 2 });
    expect(w.row(T0 / 1000 + 60)).toMatchObject({
      packets_per_sec: 5,
      unique_src_ips: 3,
      unique_dest_ips: 2,
    });
  });

  it("gives an alert's timeline: the rows' time, rate, destinations and protocol shares for the last 60 seconds", () => {
    const w = new FacilityWindow();
    for (let s = 0; s < 70; s += 3) {
      for (let k = 0; k <= s % 5; k++) {
        w.addPacket(
          T0 + s * 1000 + k,
          60,
          mix32(k),
          mix32(100 + k),
          k % 2 ? ProtoClass.modbus : ProtoClass.dns,
          false,
        );
      }
    }

    const timeline = w.timeline();

    expect(timeline).toEqual(
      w.rows().map((r) => ({
        time: r.time,
        packets_per_sec: r.packets_per_sec,
        unique_dest_ips: r.unique_dest_ips,
        protocol_distribution: r.protocol_distribution,
      })),
    );
    expect(timeline).toHaveLength(WINDOW_SECONDS);
    expect(timeline.at(-1)).toMatchObject({ packets_per_sec: 5, unique_dest_ips: 5 });
  });

  it('keeps exactly the last 60 seconds of packet time, with empty rows for silent seconds', () => {
    const w = new FacilityWindow();
    for (let s = 0; s < 90; s += 2) w.addPacket(T0 + s * 1000, 60, mix32(s), mix32(1), ProtoClass.udp, false);
    const rows = w.rows();
    expect(rows).toHaveLength(WINDOW_SECONDS);
    expect(rows[0]?.time).toBe(new Date(T0 + 29_000).toISOString());
    expect(rows.at(-1)?.time).toBe(new Date(T0 + 88_000).toISOString());
    expect(rows.map((r) => r.packets_per_sec)).toEqual(rows.map((_r, i) => ((29 + i) % 2 === 0 ? 1 : 0)));
    expect(w.row(T0 / 1000 + 10)).toBeUndefined();
  });

  it('reuses a slot for a new second, dropping the old second, and counts packets older than the window', () => {
    const w = new FacilityWindow();
    w.addPacket(T0, 60, 1, 2, ProtoClass.tcp, false);
    w.addPacket(T0 + 60_000, 70, 1, 2, ProtoClass.tcp, false);
    expect(w.row(T0 / 1000 + 60)?.bytes_per_sec).toBe(70);
    w.addPacket(T0 + 500, 60, 1, 2, ProtoClass.tcp, false);
    expect(w.late).toBe(1);
    expect(w.rows().reduce((n, r) => n + r.packets_per_sec, 0)).toBe(1);
  });

  it('counts a packet of an earlier second inside the window in that second, with rows read between packets', () => {
    const w = new FacilityWindow();
    const s = T0 / 1000;
    w.addPacket(T0, 60, 1, 2, ProtoClass.tcp, false);
    w.addPacket(T0 + 1000, 70, 1, 2, ProtoClass.tcp, false);
    expect(w.row(s)?.packets_per_sec).toBe(1);
    w.addPacket(T0 + 200, 80, 1, 2, ProtoClass.udp, false);
    expect(w.row(s)).toMatchObject({ packets_per_sec: 2, bytes_per_sec: 140, inter_arrival_time: 0 });
    expect(w.row(s + 1)).toMatchObject({ packets_per_sec: 1, bytes_per_sec: 70, inter_arrival_time: 1 });
    w.addPacket(T0 + 1100, 90, 1, 2, ProtoClass.tcp, false);
    expect(
      w
        .rows()
        .map((r) => r.packets_per_sec)
        .slice(-2),
    ).toEqual([2, 2]);
    expect(w.row(s)).toMatchObject({ bytes_per_sec: 140, protocol_distribution: { tcp: 0.5, udp: 0.5 } });
    expect(w.row(s + 1)).toMatchObject({ bytes_per_sec: 160, inter_arrival_time: 0.55 });
    expect(w.timeline().at(-2)?.packets_per_sec).toBe(2);
  });

  it('stays within 1 MB whatever the packet rate: memory is fixed at construction', () => {
    const w = new FacilityWindow();
    const before = w.memoryBytes();
    for (let i = 0; i < 200_000; i++) w.addPacket(T0 + i, 1500, mix32(i), mix32(i * 7), i % 8, i % 5 === 0);
    expect(w.memoryBytes()).toBe(before);
    expect(before).toBeLessThanOrEqual(1024 * 1024);
    const last = w.rows().at(-1);
    // 200k packets over 200 s of packet time at 1 per ms: the last full second holds 1000 distinct sources.
    expect(last?.packets_per_sec).toBe(1000);
    expect(Math.abs((last?.unique_src_ips ?? 0) - 1000)).toBeLessThan(10);
  });
});
