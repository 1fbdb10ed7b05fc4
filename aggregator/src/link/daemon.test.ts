// The agent daemon end to end with real processes on loopback and mTLS: `vigil-agent run` with a packet source runs
// the detection pipeline and sends its alerts, per-second aggregates and health to a real aggregator; a `--sim` agent
// takes the demo's scenario pushes (injectScenario) and the injected attack comes back as the detectors' alert.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hasCommand, needComponent } from '@vigil/shared/testing';
import { enroll } from '@vigil/agent/link/identity';
import { replayDetect } from '@vigil/agent/detect/replay';
import { SHARED_PCAPS, sharedCaptures } from '@vigil/agent/testing-paths';
import { openStore } from '../store/open.js';
import type { Store } from '../store/types.js';
import { NoAgentError, type LinkServer } from './server.js';
import { issueToken, waitFor } from './testing/fixtures.js';
import { servedLink, type ServedLink } from './testing/served.js';
import {
  VIGIL,
  VIGIL_AGENT,
  enrollAgentProcess,
  freePort,
  runToEnd,
  start,
  type Proc,
} from './testing/processes.js';

const FAKE = join(SHARED_PCAPS, 'lemay_send_a_fake_command_modbus_6RTU_with_operate.pcap');

/** Real processes on a loaded 2-core machine: a start takes seconds. */
describe('vigil-agent run with a packet source (real processes)', { timeout: 120_000 }, () => {
  let dir: string;
  const procs: Proc[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-daemon-'));
  });
  afterEach(async () => {
    for (const p of procs.splice(0)) await p.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function proc(script: string, args: string[]): Proc {
    const p = start(script, args);
    procs.push(p);
    return p;
  }

  /** `vigil serve` on free ports; returns its HTTP base URL and agent port. */
  async function serve(aggDir: string, extra: string[] = []): Promise<{ url: string; grpcPort: number }> {
    const p = proc(VIGIL, ['serve', '--data-dir', aggDir, '--port', '0', '--grpc-port', '0', ...extra]);
    const http = await p.waitFor(/serving http:/, 30_000);
    const agents = await p.waitFor(/agents on/, 30_000);
    return {
      url: /(http:\/\/[^ ]+)/.exec(http)?.[1] ?? '',
      grpcPort: Number(/agents on [^ ]+:(\d+)/.exec(agents)?.[1]),
    };
  }

  async function withStore<T>(aggDir: string, f: (s: Store) => Promise<T>): Promise<T> {
    const store = await openStore(`sqlite:${join(aggDir, 'vigil.db')}`);
    try {
      return await f(store);
    } finally {
      await store.close();
    }
  }

  const haveCaptures = needComponent(
    'shared captures',
    sharedCaptures().length > 0,
    'expected at ../shared/pcaps',
  );

  it.skipIf(!haveCaptures)(
    '--pcap of a labeled capture delivers the pipeline alerts, its per-second aggregates and health to vigil serve',
    async () => {
      const aggDir = join(dir, 'aggregator');
      const agentDir = join(dir, 'agent');
      // The capture is from 2015: keep its records (the retention job would delete them at once).
      const { grpcPort } = await serve(aggDir, [
        '--retain-alerts',
        'forever',
        '--retain-aggregates',
        'forever',
      ]);
      await enrollAgentProcess({ aggDir, grpcPort, facility: 'lemay', agentDir });
      const expected: string[] = [];
      await replayDetect({
        file: FAKE,
        facility: 'lemay',
        baselineFile: FAKE,
        baselineSeconds: 280,
        learnMinutes: 0,
        onAlert: (a) => {
          expected.push(`${a.attack_type}@${a.timestamp}`);
        },
      });

      const agent = proc(VIGIL_AGENT, [
        'run',
        '--data-dir',
        agentDir,
        '--pcap',
        FAKE,
        '--baseline',
        FAKE,
        '--baseline-seconds',
        '280',
        '--heartbeat-seconds',
        '0.5',
        '--exit-when-delivered',
      ]);
      const code = await agent.exited;
      const healthy = await waitFor(
        () =>
          withStore(aggDir, async (s) => {
            const [a] = await s.listAgents('lemay');
            return a?.health !== null && a?.health !== undefined;
          }),
        10_000,
        200,
      );

      expect(code).toBe(0);
      expect(agent.lines.join('\n')).toMatch(/ended: 11166 frames, 1 alert\(s\) into the outbox/);
      expect(expected).toEqual([expect.stringMatching(/^T0855@/)]);
      await withStore(aggDir, async (s) => {
        const page = await s.queryAlerts({ facility: 'lemay', page: 1, limit: 10 });
        expect(page.items.map((a) => `${a.attack_type}@${a.timestamp}`)).toEqual(expected);
        // The capture spans 670 s of 2015 with a polling round every 10 s: 89 seconds carry traffic, one row each.
        const rows = await s.aggregates('lemay', '2015-01-01T00:00:00Z', '2016-01-01T00:00:00Z');
        expect(rows).toHaveLength(89);
        expect(rows.every((r) => r.packets_per_sec > 0)).toBe(true);
      });
      expect(healthy).toBe(true);
      // it skips federated rounds and says why, in its log and its heartbeat
      expect(agent.lines.join('\n')).toMatch(
        /federated learning: not taking part: a --pcap agent has no labelled/,
      );
      const [rec] = await withStore(aggDir, (s) => s.listAgents('lemay'));
      expect(rec?.health.fl_status).toMatch(/^not taking part: a --pcap agent has no labelled local data/);
    },
  );

  it('--sim goes live after its warm-up and /api/context/{id}/current shows its last seconds', async () => {
    const aggDir = join(dir, 'aggregator');
    const agentDir = join(dir, 'agent');
    const { url, grpcPort } = await serve(aggDir);
    await enrollAgentProcess({ aggDir, grpcPort, facility: 'water', agentDir });
    const tokenOut = await runToEnd(VIGIL, ['tokens', 'create', '--role', 'viewer', '--data-dir', aggDir]);
    const token =
      tokenOut.lines
        .filter((l) => l.trim() !== '')
        .at(-1)
        ?.trim() ?? '';

    const agent = proc(VIGIL_AGENT, [
      'run',
      '--data-dir',
      agentDir,
      '--sim',
      'water-a',
      '--warmup-minutes',
      '1',
      '--heartbeat-seconds',
      '0.5',
    ]);
    await agent.waitFor(/warm-up done/, 30_000);
    await agent.waitFor(/live: water-a/, 5_000);
    let body: { features: { seconds_with_data: number }; metrics: Record<string, unknown> } | undefined;
    const shown = await waitFor(
      async () => {
        const res = await fetch(`${url}/api/context/water/current`, {
          headers: { authorization: `Bearer ${token}` },
        });
        body = (await res.json()) as typeof body;
        return (body?.features.seconds_with_data ?? 0) >= 3;
      },
      20_000,
      250,
    );
    const health = await withStore(aggDir, async (s) => (await s.listAgents('water'))[0]?.health);

    expect(agent.lines.join('\n')).toMatch(/warm-up: simulating 1 minute\(s\) of water-a traffic/);
    expect(shown).toBe(true);
    expect(Number(body?.metrics.packets_per_sec)).toBeGreaterThan(0);
    expect(Object.keys(body?.metrics.protocol_distribution ?? {})).toContain('modbus');
    expect(health).toMatchObject({ capture_drops: 0, malformed_packets: 0, outbox_depth: 0 });
  });
});

describe('scenario pushes (in-process aggregator link, real agent processes)', { timeout: 120_000 }, () => {
  let fx: ServedLink;
  let server: LinkServer;
  const procs: Proc[] = [];

  beforeEach(async () => {
    fx = await servedLink();
    server = fx.server;
    fx.defer(async () => {
      for (const p of procs.splice(0)) await p.stop();
    });
  });
  afterEach(() => fx.cleanup());

  async function agent(facility: string, source: string[]): Promise<Proc> {
    const dataDir = join(fx.dir, facility);
    const token = await issueToken(fx.store, fx.ca, facility);
    await enroll({ aggregator: fx.address, token, dataDir });
    // The scenario mechanics under test here: rules only and no federated rounds (this in-process link serves no Fleet
    // API); the demo's end-to-end test runs the same scenarios with the models and federated learning on.
    const p = start(VIGIL_AGENT, ['run', '--data-dir', dataDir, '--no-models', '--no-federated', ...source]);
    procs.push(p);
    await p.waitFor(/connected to/, 30_000);
    return p;
  }

  /**
   * Twelve connection attempts to closed loopback ports, each refused with a reset as a scan's probes are; true when
   * the facility's agent turned them into a stored T0846 alert within 20 s.
   */
  async function scanComesBack(facility: string): Promise<boolean> {
    const closed = await Promise.all(Array.from({ length: 12 }, () => freePort()));
    for (const port of closed) {
      await new Promise<void>((resolve) => {
        const sock = connect({ host: '127.0.0.1', port });
        sock.once('error', () => resolve());
        sock.once('connect', () => {
          sock.destroy();
          resolve();
        });
      });
    }
    return waitFor(
      async () =>
        (await fx.store.queryAlerts({ facility, page: 1, limit: 50 })).items.some(
          (a) => a.attack_type === 'T0846',
        ),
      20_000,
      250,
    );
  }

  it('a --sim agent injects port-scan into its live traffic and the scan comes back as a T0846 alert', async () => {
    const p = await agent('water', ['--sim', 'water-a', '--warmup-minutes', '1']);
    await p.waitFor(/live: water-a/, 30_000);

    const ack = await server.injectScenario('water', 'port-scan', { duration_s: 30 });
    const alerted = await waitFor(
      async () =>
        (await fx.store.queryAlerts({ facility: 'water', page: 1, limit: 50 })).items.some(
          (a) => a.attack_type === 'T0846',
        ),
      30_000,
      250,
    );
    const reset = await server.injectScenario('water', 'reset');
    const unknown = await server.injectScenario('water', 'tea-break');
    const badParams = await server.injectScenario('water', 'port-scan', { duration_s: -1 });

    expect(ack).toEqual({ accepted: true, error: '' });
    expect(p.lines.join('\n')).toMatch(/scenario port-scan: port-scan from [\d.]+ for 30 s \(T0846\)/);
    expect(alerted).toBe(true);
    expect(reset).toEqual({ accepted: true, error: '' });
    expect(unknown.accepted).toBe(false);
    expect(unknown.error).toMatch(/unknown scenario tea-break \(known: reset, port-scan, .*multi-stage\)/);
    expect(badParams.accepted).toBe(false);
    expect(badParams.error).toMatch(/duration_s/);
  });

  it('multi-stage runs its chain in the live traffic: recon and the unauthorized writes each raise their alert', async () => {
    const p = await agent('factory', ['--sim', 'factory-c', '--warmup-minutes', '2', '--seed', '3']);
    await p.waitFor(/live: factory-c/, 30_000);

    // A short chain: scan for 9 s, Modbus recon from 9 s, coil and setpoint writes from 16 s.
    const ack = await server.injectScenario('factory', 'multi-stage', { duration_s: 30 });
    const stages = ['T0888', 'T0855', 'T0836'];
    const seen = new Set<string>();
    const all = await waitFor(
      async () => {
        for (const a of (await fx.store.queryAlerts({ facility: 'factory', page: 1, limit: 50 })).items)
          seen.add(a.attack_type);
        return stages.every((t) => seen.has(t));
      },
      45_000,
      500,
    );

    expect(ack).toEqual({ accepted: true, error: '' });
    expect(all).toBe(true);
    expect([...seen]).toEqual(expect.arrayContaining(stages));
  });

  it('refuses a scenario for a facility without a connected agent, and an agent without --sim answers why not', async () => {
    const haveCaptures = needComponent(
      'shared captures',
      sharedCaptures().length > 0,
      'expected at ../shared/pcaps',
    );
    await fx.store.addFacility({ id: 'empty', name: 'empty' });

    const none = server.injectScenario('empty', 'port-scan');

    await expect(none).rejects.toThrow(NoAgentError);
    await expect(none).rejects.toThrow(/no agent of facility empty is connected/);
    if (!haveCaptures) return;
    const replaying = await agent('replayed', ['--pcap', FAKE, '--speed', '1x', '--learn-minutes', '1']);
    const refused = await server.injectScenario('replayed', 'port-scan');
    expect(refused.accepted).toBe(false);
    expect(refused.error).toMatch(/this agent's source is --pcap .*; scenarios need --sim TOPOLOGY/);

    // The 670-s capture replays on its own timing; SIGTERM stops it midway, cleanly (exit code 0, no SIGKILL).
    await replaying.stop();
    expect(await replaying.exited).toBe(0);
    expect(replaying.lines.join('\n')).not.toMatch(/ended: 11166 frames/);
  });

  it('--interface captures live with dumpcap and refused connections on loopback come back as a T0846 alert', async () => {
    const haveDumpcap = needComponent('dumpcap', hasCommand('dumpcap'), 'apt-get install wireshark-common');
    if (!haveDumpcap) return;
    const p = await agent('loopback', [
      '--interface',
      'lo',
      '--capture-filter',
      `tcp and not port ${server.port}`,
      '--learn-minutes',
      '0',
    ]);
    await p.waitFor(/live: capturing on lo/, 30_000);

    const alerted = await scanComesBack('loopback');

    expect(alerted).toBe(true);
  });

  it('--capture-ring follows the capture helper ring of files and a scan on loopback comes back as a T0846 alert', async () => {
    const haveDumpcap = needComponent('dumpcap', hasCommand('dumpcap'), 'apt-get install wireshark-common');
    if (!haveDumpcap) return;
    // The capture helper as deploy/systemd/vigil-capture@.service runs it, into a ring in a directory of our own.
    const ringDir = join(fx.dir, 'capture');
    mkdirSync(ringDir);
    const helper = spawn(
      'dumpcap',
      [
        '-q',
        '-i',
        'lo',
        '-f',
        `tcp and not port ${server.port}`,
        '-b',
        'filesize:64',
        '-b',
        'files:8',
        '-g',
      ].concat(['-w', join(ringDir, 'lo.pcapng')]),
      { stdio: 'ignore' },
    );
    try {
      const p = await agent('ring', ['--capture-ring', join(ringDir, 'lo.pcapng'), '--learn-minutes', '0']);
      await p.waitFor(/live: following the capture helper's ring/, 30_000);
      const alerted = await scanComesBack('ring');

      expect(alerted).toBe(true);
    } finally {
      helper.kill('SIGTERM');
      await once(helper, 'exit');
    }
  });
});
