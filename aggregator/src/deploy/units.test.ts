// The systemd units and example config files in deploy/: systemd-analyze verify accepts the units (in a throwaway
// root holding the system units and stand-ins for the binaries they start), each unit is sandboxed, only the capture
// helper holds CAP_NET_RAW, and the example configs pass the same validation the programs run at start.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, needComponent } from '@vigil/shared/testing';
import { resolveAgentConfig, readConfigFile } from '@vigil/agent/config';
import { UsageError } from '@vigil/shared';
import { readAggregatorConfig } from '../cli/serve-config.js';

const DEPLOY = fileURLToPath(new URL('../../../deploy/', import.meta.url));
const UNITS = join(DEPLOY, 'systemd');
const unitFiles = readdirSync(UNITS).filter((f) => f.endsWith('.service'));
const unitText = (f: string): string => readFileSync(join(UNITS, f), 'utf8');

describe('deploy/systemd units', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'vigil-units-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it.runIf(needComponent('systemd-analyze', hasCommand('systemd-analyze'), 'apt-get install systemd'))(
    'pass systemd-analyze verify without a warning',
    () => {
      cpSync('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true });
      mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
      mkdirSync(join(root, 'usr/bin'), { recursive: true });
      for (const f of unitFiles) cpSync(join(UNITS, f), join(root, 'etc/systemd/system', f));
      for (const f of unitFiles) {
        for (const m of unitText(f).matchAll(/^ExecStart=(\S+)/gm)) {
          const bin = join(root, m[1] ?? '');
          writeFileSync(bin, '#!/bin/sh\n');
          chmodSync(bin, 0o755);
        }
      }
      const names = unitFiles.map((f) =>
        f.endsWith('@.service') ? f.replace('@.service', '@eth0.service') : f,
      );

      const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, ...names], { encoding: 'utf8' });

      expect(r.stderr + r.stdout).toBe('');
      expect(r.status).toBe(0);
    },
  );

  it.each(unitFiles)('%s runs as its own user, sandboxed', (f) => {
    const text = unitText(f);
    expect(text).toMatch(/^User=vigil[a-z-]*$/m);
    expect(text).toMatch(/^ProtectSystem=strict$/m);
    expect(text).toMatch(/^PrivateTmp=yes$/m);
    expect(text).toMatch(/^NoNewPrivileges=yes$/m);
  });

  it('grants CAP_NET_RAW to the capture helper only', () => {
    const holders = unitFiles.filter((f) =>
      /^(Ambient|CapabilityBounding)\w*=.*CAP_NET_RAW/m.test(unitText(f)),
    );
    expect(holders).toEqual(['vigil-capture@.service']);
    for (const f of unitFiles.filter((u) => u !== 'vigil-capture@.service')) {
      expect(unitText(f)).toMatch(/^CapabilityBoundingSet=$/m);
    }
  });
});

describe('deploy example configs', () => {
  it('the agent example passes the agent config validation', () => {
    const path = join(DEPLOY, 'agent.example.json');
    expect(() => resolveAgentConfig(readConfigFile(path), {}, path)).not.toThrow();
  });

  it('the agent example follows the ring the capture helper writes, which the agent may read', () => {
    const agent = resolveAgentConfig(
      readConfigFile(join(DEPLOY, 'agent.example.json')),
      {},
      'agent.example.json',
    );
    const exec = /^ExecStart=(.*)$/m.exec(unitText('vigil-capture@.service'))?.[1] ?? '';
    const out = / -w (\S+)/.exec(exec)?.[1] ?? '';

    expect(exec).toMatch(/ -b files:\d+ /);
    // Without -g dumpcap creates its files 0600, unreadable to the agent in the vigil-capture group.
    expect(exec).toMatch(/ -g /);
    expect(agent.capture_ring).toBe(out.replace('%i', 'eth1'));
    expect(unitText('vigil-agent.service')).toMatch(/^SupplementaryGroups=vigil-capture$/m);
  });

  it('the aggregator example passes the aggregator config validation', () => {
    expect(() => readAggregatorConfig(join(DEPLOY, 'aggregator.example.json'))).not.toThrow();
  });

  it('names the bad key of a config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-config-'));
    try {
      const agent = join(dir, 'agent.json');
      writeFileSync(agent, JSON.stringify({ data_dir: '/x', alerts_in: '/a', outbox_max_byte: 5 }));
      const aggregator = join(dir, 'aggregator.json');
      writeFileSync(aggregator, JSON.stringify({ grpc_port: 'eighty' }));

      expect(() => resolveAgentConfig(readConfigFile(agent), {}, agent)).toThrow(
        /unknown key "outbox_max_byte"/,
      );
      expect(() => readAggregatorConfig(aggregator)).toThrow(UsageError);
      expect(() => readAggregatorConfig(aggregator)).toThrow(/"grpc_port"/);
      // the CLI prints the same message and exits 2
      const r = spawnSync(
        process.execPath,
        [fileURLToPath(new URL('../../bin/vigil.js', import.meta.url)), 'serve', '--config', aggregator],
        {
          encoding: 'utf8',
        },
      );
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/grpc_port/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
