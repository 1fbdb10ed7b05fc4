import { describe, expect, it } from 'vitest';
import { FEATURE_COUNT, FEATURE_INDEX } from '@vigil/shared';
import { PacketClock } from '../capture/packet-clock.js';
import { dnsMessage, mqttPublish, udpFrame } from '../testing/app-frames.js';
import { capturedFrame, mbap, tcpFrame } from '../testing/frames.js';
import { Analyzer } from './analyzer.js';

const T0 = 1_700_000_000;

/** Runs frames (one every 10 ms from T0) through an Analyzer; returns copies of the feature records. */
function analyze(frames: Buffer[]): { records: Float64Array[]; analyzer: Analyzer } {
  const clock = new PacketClock();
  const records: Float64Array[] = [];
  const analyzer = new Analyzer({ clock, onFeatures: (r) => records.push(r.slice()) });
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
});
