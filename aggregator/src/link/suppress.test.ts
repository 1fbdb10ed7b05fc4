// The operator's suppressions in the running agent (real processes: `vigil-agent run` against an in-process
// aggregator link with mTLS). The engineering workstation's coil write to a PLC after the learning period is an
// alert (T0855, baseline-restart.test.ts); suppressed by its host pair it raises none, and the agent's health, as the
// aggregator stores it per facility, counts the dropped detections by rule and technique.
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { enroll } from '@vigil/agent/link/identity';
import { issueToken } from './testing/fixtures.js';
import { servedLink, type ServedLink } from './testing/served.js';
import { VIGIL_AGENT, runToEnd, start } from './testing/processes.js';

const WORKSTATION = '10.10.1.20';
const PLC = '10.10.2.11';

describe('suppressions in the running agent (real processes)', { timeout: 180_000 }, () => {
  let fx: ServedLink;

  beforeEach(async () => {
    fx = await servedLink();
  });
  afterEach(() => fx.cleanup());

  it('drops the detections of a suppressed host pair, raises no alert of them and counts them in the health', async () => {
    const capture = join(fx.dir, 'plant.pcap');
    const sim = await runToEnd(VIGIL_AGENT, [
      'sim',
      '--topology',
      'water-a',
      '--seed',
      '21',
      '--out',
      capture,
      '--minutes',
      '3',
      '--start',
      '2026-01-05T08:00:00Z',
      '--attack',
      `modbus-coil-write@140s:src=${WORKSTATION},target=${PLC}`,
    ]);
    expect(sim.code, sim.lines.join('\n')).toBe(0);
    const dataDir = join(fx.dir, 'plant');
    await enroll({ aggregator: fx.address, token: await issueToken(fx.store, fx.ca, 'plant'), dataDir });

    const agent = start(VIGIL_AGENT, [
      'run',
      '--data-dir',
      dataDir,
      '--no-federated',
      '--heartbeat-seconds',
      '0.2',
      '--pcap',
      capture,
      '--learn-minutes',
      '2',
      '--suppress',
      `pair=${WORKSTATION}>${PLC}`,
    ]);
    try {
      // unsuppressed, this capture gives two alerts, both from the pair: T0855 (the write) and T0888 (its read)
      await agent.waitFor(/plant\.pcap ended: \d+ frames, 0 alert\(s\) into the outbox/, 60_000);
      let suppressed: Record<string, number> = {};
      for (let i = 0; i < 100 && !Object.keys(suppressed).some((k) => k.endsWith('/T0855')); i++) {
        const health = (await fx.store.listAgents('plant'))[0]?.health as
          { suppressed?: Record<string, number> } | undefined;
        suppressed = health?.suppressed ?? {};
        await new Promise((r) => setTimeout(r, 100));
      }

      expect(agent.lines.join('\n')).toMatch(
        /suppressing \(counted in the health's suppressed\): pair=10\.10\.1\.20>10\.10\.2\.11/,
      );
      expect((await fx.store.queryAlerts({ facility: 'plant', page: 1, limit: 100 })).items).toEqual([]);
      expect(suppressed['new-master-write/T0855'], JSON.stringify(suppressed)).toBeGreaterThan(0);
    } finally {
      await agent.stop();
    }
  });
});
