import { describe, expect, it } from 'vitest';
import { UsageError } from '@vigil/shared';
import { parseSuppression, resolveAgentConfig } from './config.js';

describe('resolveAgentConfig', () => {
  it('lets flags override the file and fills defaults', () => {
    const c = resolveAgentConfig(
      { data_dir: '/var/lib/vigil-agent', alerts_in: '/a.jsonl', heartbeat_seconds: 10 },
      { heartbeat_seconds: 2, aggregator: 'agg:8443' },
      'agent.json',
    );

    expect(c).toMatchObject({
      data_dir: '/var/lib/vigil-agent',
      heartbeat_seconds: 2,
      aggregator: 'agg:8443',
    });
    expect(c.outbox_max_bytes).toBe(256 * 1024 * 1024);
  });

  it('names an unknown key, a bad value, and a missing or doubled source', () => {
    const base = { data_dir: '/d', alerts_in: '/a' };

    expect(() => resolveAgentConfig({ ...base, hearbeat_seconds: 1 }, {}, 'agent.json')).toThrow(
      /agent\.json: unknown key "hearbeat_seconds"/,
    );
    expect(() => resolveAgentConfig({ ...base, outbox_max_bytes: 10 }, {}, 'agent.json')).toThrow(
      /"outbox_max_bytes"/,
    );
    expect(() => resolveAgentConfig({ data_dir: '/d' }, {}, 'agent.json')).toThrow(/exactly one source/);
    expect(() => resolveAgentConfig(base, { pcap: '/x.pcap' }, 'options')).toThrow(UsageError);
  });

  it('takes the --sim source with its seed and warm-up, and learning settings for the capture sources', () => {
    const sim = resolveAgentConfig({ data_dir: '/d', sim: 'water-a' }, { seed: 7 }, 'agent.json');
    const pcap = resolveAgentConfig(
      { data_dir: '/d', pcap: '/p.pcap', baseline: '/b.pcap', baseline_seconds: 280 },
      {},
      'agent.json',
    );

    expect(sim).toMatchObject({ sim: 'water-a', seed: 7, warmup_minutes: 10 });
    expect(pcap).toMatchObject({ baseline: '/b.pcap', baseline_seconds: 280 });
    expect(pcap.learn_minutes).toBeUndefined();
  });

  it('names a setting given to a source it does not apply to, and an unknown topology', () => {
    const sim = { data_dir: '/d', sim: 'water-a' };

    expect(() => resolveAgentConfig(sim, { learn_minutes: 2 }, 'options')).toThrow(
      /options: "learn_minutes" applies to the --interface, --capture-ring and --pcap sources/,
    );
    expect(() => resolveAgentConfig({ data_dir: '/d', pcap: '/p' }, { seed: 2 }, 'options')).toThrow(
      /"seed" applies to the --sim source only/,
    );
    expect(() => resolveAgentConfig({ data_dir: '/d', interface: 'lo', speed: '1x' }, {}, 'f')).toThrow(
      /"speed" applies to the --pcap source only/,
    );
    expect(() =>
      resolveAgentConfig({ data_dir: '/d', pcap: '/p' }, { capture_tool: 'tcpdump' }, 'f'),
    ).toThrow(/"capture_tool" applies to the --interface source only/);
    expect(() =>
      resolveAgentConfig({ data_dir: '/d', interface: 'lo', capture_tool: 'wireshark' }, {}, 'f'),
    ).toThrow(/f: "capture_tool"/);
    expect(() => resolveAgentConfig({ data_dir: '/d', pcap: '/p', baseline_seconds: 5 }, {}, 'f')).toThrow(
      /"baseline_seconds" needs "baseline"/,
    );
    expect(() => resolveAgentConfig({ data_dir: '/d', sim: 'moon-base' }, {}, 'f')).toThrow(/f: "sim"/);
    expect(() => resolveAgentConfig({ ...sim, pcap: '/p' }, {}, 'f')).toThrow(/exactly one source/);
    expect(() =>
      resolveAgentConfig({ data_dir: '/d', capture_ring: '/r', interface: 'lo' }, {}, 'f'),
    ).toThrow(/exactly one source/);
    expect(
      resolveAgentConfig(
        { data_dir: '/d', capture_ring: '/run/vigil-capture/eth1.pcapng', learn_minutes: 2 },
        {},
        'f',
      ),
    ).toMatchObject({ capture_ring: '/run/vigil-capture/eth1.pcapng', learn_minutes: 2 });
  });

  it('takes declared masters and Modbus pairs (IPv6 written as the decoders print it) and names a bad one', () => {
    const ring = { data_dir: '/d', capture_ring: '/r' };

    const c = resolveAgentConfig(
      {
        ...ring,
        known_masters: ['10.40.1.20', '2001:0DB8::0:20'],
        known_modbus: [{ master: '10.40.1.20', slave: '10.40.3.10', functions: [3, 16] }],
      },
      {},
      'agent.json',
    );

    expect(c.known_masters).toEqual(['10.40.1.20', '2001:db8::20']);
    expect(c.known_modbus).toEqual([{ master: '10.40.1.20', slave: '10.40.3.10', functions: [3, 16] }]);
    expect(resolveAgentConfig(ring, {}, 'f')).toMatchObject({ known_masters: [], known_modbus: [] });
    expect(() => resolveAgentConfig({ ...ring, known_masters: ['10.40.1.256'] }, {}, 'agent.json')).toThrow(
      /agent\.json: "known_masters\.0" must be an IPv4 or IPv6 address/,
    );
    expect(() => resolveAgentConfig({ ...ring, known_masters: '10.40.1.20' }, {}, 'f')).toThrow(
      /f: "known_masters"/,
    );
    expect(() =>
      resolveAgentConfig(
        { ...ring, known_modbus: [{ master: '10.40.1.20', slave: '10.40.3.10', functions: [200] }] },
        {},
        'f',
      ),
    ).toThrow(/f: "known_modbus\.0\.functions\.0"/);
    expect(() =>
      resolveAgentConfig(
        { ...ring, known_modbus: [{ master: '10.40.1.20', slave: '10.40.3.10', function: [3] }] },
        {},
        'f',
      ),
    ).toThrow(/f: unknown key "known_modbus\.0\.function"/);
    expect(() =>
      resolveAgentConfig({ data_dir: '/d', alerts_in: '/a', known_masters: ['10.0.0.1'] }, {}, 'f'),
    ).toThrow(/"known_masters" applies to the packet sources only/);
  });

  it('bounds the learning checkpoint interval: 1 s to a day, default 5 minutes, capture sources only', () => {
    const ring = { data_dir: '/d', capture_ring: '/r' };

    expect(resolveAgentConfig(ring, {}, 'options').checkpoint_seconds).toBe(300);
    expect(resolveAgentConfig(ring, { checkpoint_seconds: 1 }, 'options').checkpoint_seconds).toBe(1);
    expect(() => resolveAgentConfig(ring, { checkpoint_seconds: 0.5 }, 'options')).toThrow(
      /options: "checkpoint_seconds"/,
    );
    expect(() => resolveAgentConfig(ring, { checkpoint_seconds: 86_401 }, 'options')).toThrow(
      /options: "checkpoint_seconds"/,
    );
    expect(() =>
      resolveAgentConfig({ data_dir: '/d', sim: 'water-a' }, { checkpoint_seconds: 10 }, 'options'),
    ).toThrow(/options: "checkpoint_seconds" applies to the --interface, --capture-ring and --pcap sources/);
  });

  it('bounds the learning period: 0 to 30 days', () => {
    const ring = { data_dir: '/d', capture_ring: '/r' };

    expect(resolveAgentConfig(ring, { learn_minutes: 0 }, 'options').learn_minutes).toBe(0);
    expect(resolveAgentConfig(ring, { learn_minutes: 43_200 }, 'options').learn_minutes).toBe(43_200);
    expect(() => resolveAgentConfig(ring, { learn_minutes: 43_201 }, 'options')).toThrow(
      /options: "learn_minutes"/,
    );
    expect(() => resolveAgentConfig(ring, { learn_minutes: -1 }, 'options')).toThrow(
      /options: "learn_minutes"/,
    );
    expect(() => resolveAgentConfig(ring, { learn_minutes: '2h' }, 'options')).toThrow(
      /options: "learn_minutes"/,
    );
  });

  it('takes suppressions from the file and names a bad or empty one', () => {
    const base = { data_dir: '/d', pcap: '/p.pcap' };
    const c = resolveAgentConfig(
      {
        ...base,
        suppress: [
          { rule: 'new-service', host: '10.0.0.5' },
          { pair: 'FE80::1<>10.0.0.2', technique: 'T0846' },
        ],
      },
      {},
      'agent.json',
    );

    expect(c.suppress).toEqual([
      { rule: 'new-service', host: '10.0.0.5' },
      { pair: 'fe80::1<>10.0.0.2', technique: 'T0846' },
    ]);
    expect(resolveAgentConfig(base, {}, 'agent.json').suppress).toEqual([]);
    expect(() => resolveAgentConfig({ ...base, suppress: [{}] }, {}, 'agent.json')).toThrow(
      /"suppress\.0" must name at least one of/,
    );
    expect(() => resolveAgentConfig({ ...base, suppress: [{ hots: '10.0.0.5' }] }, {}, 'agent.json')).toThrow(
      /unknown key "suppress\.0\.hots"/,
    );
    expect(() => resolveAgentConfig({ ...base, suppress: [{ pair: '10.0.0.1' }] }, {}, 'a.json')).toThrow(
      /"suppress\.0\.pair" must be CLIENT>SERVER or A<>B/,
    );
    expect(() => resolveAgentConfig({ ...base, suppress: [{ technique: 'scan' }] }, {}, 'a.json')).toThrow(
      /"suppress\.0\.technique" must be an ATT&CK for ICS technique id/,
    );
    expect(() =>
      resolveAgentConfig({ data_dir: '/d', alerts_in: '/a', suppress: [{ rule: 'scan' }] }, {}, 'a.json'),
    ).toThrow(/"suppress" applies to the packet sources only/);
  });

  it('parses a --suppress flag as a config entry and names what is wrong with a bad one', () => {
    expect(parseSuppression('pair=10.0.0.1<>10.0.0.2,rule=scan')).toEqual({
      pair: '10.0.0.1<>10.0.0.2',
      rule: 'scan',
    });
    expect(() => parseSuppression('colour=red')).toThrow(UsageError);
    expect(() => parseSuppression('rule=')).toThrow(UsageError);
    expect(() => parseSuppression('host=plc-1')).toThrow(
      /--suppress "host=plc-1": host must be an IPv4 or IPv6/,
    );
  });
});
