import { describe, expect, it } from 'vitest';
import { UsageError } from '@vigil/shared';
import { resolveAgentConfig } from './config.js';

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
});
