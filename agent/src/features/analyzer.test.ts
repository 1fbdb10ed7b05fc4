import { describe, expect, it } from 'vitest';
import { FEATURE_COUNT, FEATURE_INDEX } from '@vigil/shared';
import { PacketClock } from '../capture/packet-clock.js';
import { LinkType } from '../capture/types.js';
import { dnsMessage, mqttPublish, udpFrame } from '../testing/app-frames.js';
import { capturedFrame, mbap, tcpFrame } from '../testing/frames.js';
import { Analyzer } from './analyzer.js';

const T0 = 1_700_000_000;

/** Runs frames (one every 10 ms from T0) through an Analyzer; returns copies of the feature records. */
function analyze(
  frames: Buffer[],
  opts: { maxFlows?: number } = {},
): { records: Float64Array[]; analyzer: Analyzer } {
  const clock = new PacketClock();
  const records: Float64Array[] = [];
  const analyzer = new Analyzer({ ...opts, clock, onFeatures: (r) => records.push(r.slice()) });
  frames.forEach((buf, i) => {
    const tsNsec = i * 10_000_000;
    clock.observe(T0, tsNsec);
    analyzer.handle(capturedFrame(i + 1, T0, tsNsec, buf));
  });
  return { records, analyzer };
}

const f = (r: Float64Array | undefined, name: string): number | undefined => r?.[FEATURE_INDEX[name] ?? -1];

describe('feature records, window and inventory from one packet stream', () => {
  it('fills one record per packet: transport fields, then the first PDU of the packet', () => {
    const C = { src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 502 };
    const { records } = analyze([
      tcpFrame({ ...C, seq: 1, flags: 0x02 }),
      tcpFrame({ ...C, seq: 2, payload: mbap(7, 3, [16, 0, 10, 0, 2, 4, 0, 1, 0, 2]) }),
      udpFrame({
        src: '10.0.0.1',
        dst: '10.0.0.53',
        sport: 5000,
        dport: 53,
        payload: dnsMessage({ id: 1, name: 'plc.local', type: 28 }),
      }),
      tcpFrame({
        src: '10.0.0.1',
        dst: '10.0.0.9',
        sport: 40001,
        dport: 1883,
        payload: mqttPublish('a/b', Buffer.alloc(9)),
      }),
      tcpFrame({ ...C, seq: 15, flags: 0x10 }),
    ]);
    expect(records).toHaveLength(5);
    expect(records.every((r) => r.length === FEATURE_COUNT)).toBe(true);
    const [syn, mb, dns, mq] = records;
    expect([f(syn, 'tcp_flags'), f(syn, 'new_flow'), f(syn, 'conn_state'), f(syn, 'app_protocol')]).toEqual([
      2, 1, 1, 0,
    ]);
    expect(f(syn, 'packet_size')).toBe(60);
    expect(
      [
        'new_flow',
        'to_server',
        'app_protocol',
        'app_pdus',
        'modbus_trans_id',
        'modbus_unit_id',
        'modbus_func_code',
        'modbus_length',
        'modbus_address',
      ].map((n) => f(mb, n)),
    ).toEqual([0, 1, 1, 1, 7, 3, 16, 2, 10]);
    expect(
      ['app_protocol', 'dns_name_length', 'dns_qtype', 'dns_is_response', 'ip_proto'].map((n) => f(dns, n)),
    ).toEqual([3, 9, 28, 0, 17]);
    expect(
      ['app_protocol', 'mqtt_type', 'mqtt_topic_length', 'mqtt_payload_size', 'modbus_func_code'].map((n) =>
        f(mq, n),
      ),
    ).toEqual([2, 3, 3, 9, 0]);
    // Every application field the record's own PDU did not write is zero, and all of them after a packet without one.
    const app = (r: Float64Array | undefined, prefix: string): number[] =>
      Object.keys(FEATURE_INDEX)
        .filter((n) => /^(modbus|mqtt|dns|http)_/.test(n) && !n.startsWith(prefix))
        .map((n) => f(r, n) ?? -1);
    expect(app(dns, 'dns_').every((v) => v === 0)).toBe(true);
    expect(app(mq, 'mqtt_').every((v) => v === 0)).toBe(true);
    const ack = records[4];
    expect(app(ack, 'none').every((v) => v === 0)).toBe(true);
    expect([f(ack, 'app_protocol'), f(ack, 'app_pdus'), f(ack, 'malformed')]).toEqual([0, 0, 0]);
  });

  it('counts a connection refused by RST as failed, a reset after the handshake not', () => {
    const C = { src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 80 };
    const S = { src: '10.0.0.2', dst: '10.0.0.1', sport: 80, dport: 40000 };
    const C2 = { ...C, sport: 40001 };
    const S2 = { ...S, dport: 40001 };
    const { analyzer } = analyze([
      tcpFrame({ ...C, flags: 0x02 }),
      tcpFrame({ ...S, flags: 0x14 }),
      tcpFrame({ ...C2, flags: 0x02 }),
      tcpFrame({ ...S2, flags: 0x12 }),
      tcpFrame({ ...C2, flags: 0x10 }),
      tcpFrame({ ...C2, flags: 0x14 }),
    ]);
    const rows = analyzer.window.rows();
    expect(rows.at(-1)).toMatchObject({
      packets_per_sec: 6,
      failed_connections: 1,
      unique_src_ips: 2,
      protocol_distribution: { http: 1 },
    });
  });

  it('learns hosts with MACs and roles from the traffic', () => {
    const { analyzer } = analyze([
      tcpFrame({
        src: '10.0.0.1',
        dst: '10.0.0.2',
        sport: 40000,
        dport: 502,
        payload: mbap(1, 5, [3, 0, 0, 0, 1]),
      }),
      tcpFrame({
        src: '10.0.0.2',
        dst: '10.0.0.1',
        sport: 502,
        dport: 40000,
        payload: mbap(1, 5, [3, 2, 0, 7]),
      }),
    ]);
    const { hosts } = analyzer.assets.toJson();
    expect(hosts).toMatchObject([
      {
        ip: '10.0.0.1',
        mac: '02:00:00:00:00:02',
        packets_sent: 1,
        packets_received: 1,
        roles: { modbus_client: true },
      },
      { ip: '10.0.0.2', mac: '02:00:00:00:00:01', roles: { modbus_server: { unit_ids: [5] } } },
    ]);
    expect(hosts[0]?.first_seen).toBe(new Date(T0 * 1000).toISOString());
  });

  it('gives a host the MACs of its first Ethernet frame when its connection began on a link without MACs', () => {
    const C = { src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 502 };
    const frames = [
      tcpFrame({ ...C, seq: 1, flags: 0x02 }),
      tcpFrame({ ...C, src: C.dst, dst: C.src, sport: C.dport, dport: C.sport, flags: 0x12 }),
      tcpFrame({ ...C, seq: 2, flags: 0x10 }),
    ];
    const clock = new PacketClock();
    const analyzer = new Analyzer({ clock });
    frames.forEach((buf, i) => {
      clock.observe(T0, i * 10_000_000);
      const frame = capturedFrame(i + 1, T0, i * 10_000_000, buf);
      // The first two frames come over a raw-IP link (no Ethernet header, so no MACs), the third over Ethernet.
      if (i < 2) {
        const ip = buf.subarray(14);
        analyzer.handle({ ...frame, linkType: LinkType.RAW, buf: ip, capLen: ip.length, origLen: ip.length });
      } else analyzer.handle(frame);
    });
    const { hosts } = analyzer.assets.toJson();
    expect(hosts.map((h) => [h.ip, h.mac, h.packets_sent, h.packets_received])).toEqual([
      ['10.0.0.1', '02:00:00:00:00:02', 2, 1],
      ['10.0.0.2', '02:00:00:00:00:01', 1, 2],
    ]);
  });

  it('counts every host and distinct address right when the flow table reuses flow ids', () => {
    // 40 connections between 5 clients and 3 servers, each a Modbus request and its acknowledgement per round, 3
    // rounds over 2.4 s: with 2 flows at most, every connection evicts another and takes its id (with its hosts,
    // second and role memo: the connection 2 before used the same unit id); with room for all, no id is reused.
    // Hosts, roles and window rows must not depend on it.
    const frames: Buffer[] = [];
    const sent = new Map<string, number>();
    const received = new Map<string, number>();
    const add = (m: Map<string, number>, ip: string): void => void m.set(ip, (m.get(ip) ?? 0) + 1);
    const units = new Map<string, Set<number>>();
    for (let round = 0; round < 3; round++) {
      for (let c = 0; c < 40; c++) {
        const client = `10.0.1.${(c % 5) + 1}`;
        const server = `10.0.2.${(c % 3) + 1}`;
        const sport = 40000 + c;
        const unit = (c % 2) + 1;
        const seq = round * 12 + 1;
        frames.push(
          tcpFrame({
            src: client,
            dst: server,
            sport,
            dport: 502,
            seq,
            payload: mbap(round, unit, [3, 0, 0, 0, 1]),
          }),
        );
        frames.push(
          tcpFrame({
            src: server,
            dst: client,
            sport: 502,
            dport: sport,
            seq: round * 11 + 1,
            flags: 0x10,
          }),
        );
        units.set(server, (units.get(server) ?? new Set()).add(unit));
        add(sent, client);
        add(received, server);
        add(sent, server);
        add(received, client);
      }
    }
    const reused = analyze(frames, { maxFlows: 2 }).analyzer;
    const roomy = analyze(frames).analyzer;

    expect(reused.pipeline.stats().flows.evictedFull).toBeGreaterThan(100);
    expect(roomy.pipeline.stats().flows.evictedFull).toBe(0);
    const { hosts } = reused.assets.toJson();
    expect(hosts).toHaveLength(8);
    for (const h of hosts) {
      expect([h.ip, h.packets_sent, h.packets_received]).toEqual([h.ip, sent.get(h.ip), received.get(h.ip)]);
      const served = units.get(h.ip);
      expect(h.roles).toEqual(
        served === undefined ? { modbus_client: true } : { modbus_server: { unit_ids: [...served].sort() } },
      );
    }
    expect(hosts).toEqual(roomy.assets.toJson().hosts);
    const rows = reused.window.rows().filter((r) => r.packets_per_sec > 0);
    expect(rows.length).toBeGreaterThanOrEqual(3);
    expect(rows.every((r) => r.unique_src_ips === 8 && r.unique_dest_ips === 8)).toBe(true);
    expect(reused.window.rows()).toEqual(roomy.window.rows());
  });

  it('puts a packet in the second of its time, also a fraction of a millisecond from the edge', () => {
    const clock = new PacketClock();
    const analyzer = new Analyzer({ clock });
    const offsetsNs = [
      0, 998_500_000, 999_000_000, 999_000_001, 999_999_999, 1_000_000_000, 1_000_000_500, 1_001_000_000,
      1_999_999_000, 2_000_000_000,
    ];
    const perSecond = new Map<number, number>();
    offsetsNs.forEach((ns, i) => {
      const tsSec = T0 + Math.floor(ns / 1e9);
      const tsNsec = ns % 1e9;
      clock.observe(tsSec, tsNsec);
      const sec = Math.floor(clock.now() / 1000);
      perSecond.set(sec, (perSecond.get(sec) ?? 0) + 1);
      const payload = mbap(i, 1, [3, 0, 0, 0, 1]);
      analyzer.handle(
        capturedFrame(i + 1, tsSec, tsNsec, tcpFrame({ sport: 40000, dport: 502, seq: 1 + i * 12, payload })),
      );
    });

    expect(perSecond.size).toBe(3);
    for (const [sec, n] of perSecond)
      expect(analyzer.window.row(sec)).toMatchObject({ packets_per_sec: n, modbus_reads: n });
  });

  it('learns the roles of a connection that took the flow id of one with the same unit id', () => {
    // One flow at most: the second connection evicts the first and takes its id, for other hosts.
    const request = (client: string, server: string): Buffer =>
      tcpFrame({ src: client, dst: server, sport: 40000, dport: 502, payload: mbap(1, 1, [3, 0, 0, 0, 1]) });
    const { analyzer } = analyze(
      [request('10.0.1.1', '10.0.2.1'), request('10.0.1.2', '10.0.2.2'), request('10.0.1.3', '10.0.2.3')],
      { maxFlows: 1 },
    );

    expect(analyzer.assets.toJson().hosts.map((h) => [h.ip, h.roles])).toEqual([
      ['10.0.1.1', { modbus_client: true }],
      ['10.0.1.2', { modbus_client: true }],
      ['10.0.1.3', { modbus_client: true }],
      ['10.0.2.1', { modbus_server: { unit_ids: [1] } }],
      ['10.0.2.2', { modbus_server: { unit_ids: [1] } }],
      ['10.0.2.3', { modbus_server: { unit_ids: [1] } }],
    ]);
  });

  it('counts each packet once for its hosts however often the inventory is read, and drops hosts past maxHosts', () => {
    // 3 hosts for 2 places: 10.0.0.3 is not kept, and each packet naming it is counted as dropped.
    const frames = [
      tcpFrame({ src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 502, seq: 1 }),
      tcpFrame({ src: '10.0.0.2', dst: '10.0.0.1', sport: 502, dport: 40000, seq: 1 }),
      tcpFrame({ src: '10.0.0.3', dst: '10.0.0.2', sport: 40001, dport: 502, seq: 1 }),
      tcpFrame({ src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 502, seq: 2 }),
      tcpFrame({ src: '10.0.0.2', dst: '10.0.0.3', sport: 502, dport: 40001, seq: 1 }),
    ];
    const clock = new PacketClock();
    const analyzer = new Analyzer({ clock, maxHosts: 2 });
    const reads: { hosts: [string, number, number][]; dropped: number }[] = [];
    frames.forEach((buf, i) => {
      clock.observe(T0, i * 1_000_000);
      analyzer.handle(capturedFrame(i + 1, T0, i * 1_000_000, buf));
      const { hosts, dropped_hosts } = analyzer.assets.toJson();
      reads.push({
        hosts: hosts.map((h) => [h.ip, h.packets_sent, h.packets_received]),
        dropped: dropped_hosts,
      });
    });

    expect(reads.map((r) => r.dropped)).toEqual([0, 0, 1, 1, 2]);
    expect(reads[2]?.hosts).toEqual([
      ['10.0.0.1', 1, 1],
      ['10.0.0.2', 1, 2],
    ]);
    expect(reads[4]?.hosts).toEqual([
      ['10.0.0.1', 2, 1],
      ['10.0.0.2', 2, 3],
    ]);
    const last = analyzer.assets.toJson().hosts.find((h) => h.ip === '10.0.0.2');
    expect(last?.last_seen).toBe(new Date(T0 * 1000 + 4).toISOString());
  });
});
