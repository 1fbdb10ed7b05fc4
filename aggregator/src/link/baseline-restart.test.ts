// The agent keeps its learnt baseline across restarts (real processes: `vigil-agent run` against an in-process
// aggregator link with mTLS). A first run learns from a simulated plant's first 2 minutes and stores the baseline
// (and the models' local one) in its data dir; the restarted agent loads it and detects from the first packet of the
// next capture: a coil write 30 s in is an alert, where relearning would have taken it for normal. A damaged file is
// refused with the reason and the agent learns again instead of failing. `vigil-agent baseline show|reset` print
// and forget what was learnt.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { enroll } from '@vigil/agent/link/identity';
import { issueToken } from './testing/fixtures.js';
import { servedLink, type ServedLink } from './testing/served.js';
import { VIGIL_AGENT, runToEnd } from './testing/processes.js';

const WORKSTATION = '10.10.1.20';
const PLC = '10.10.2.11';

describe('the learnt baseline across agent restarts (real processes)', { timeout: 240_000 }, () => {
  let fx: ServedLink;

  beforeEach(async () => {
    fx = await servedLink();
  });
  afterEach(() => fx.cleanup());

  async function sim(out: string, args: string[]): Promise<void> {
    const r = await runToEnd(VIGIL_AGENT, [
      'sim',
      '--topology',
      'water-a',
      '--seed',
      '21',
      '--out',
      out,
      ...args,
    ]);
    expect(r.code, r.lines.join('\n')).toBe(0);
  }

  it('a restarted agent loads its baseline and detects at once; a damaged one is refused and relearnt', async () => {
    const learn = join(fx.dir, 'learn.pcap');
    const later = join(fx.dir, 'later.pcap');
    await sim(learn, ['--minutes', '2.5', '--start', '2026-01-05T08:00:00Z']);
    await sim(later, [
      '--minutes',
      '1',
      '--start',
      '2026-01-05T09:00:00Z',
      '--attack',
      `modbus-coil-write@30s:src=${WORKSTATION},target=${PLC}`,
    ]);
    const dataDir = join(fx.dir, 'plant');
    await enroll({ aggregator: fx.address, token: await issueToken(fx.store, fx.ca, 'plant'), dataDir });
    const run = (args: string[]): Promise<{ code: number | null; lines: string[] }> =>
      runToEnd(VIGIL_AGENT, [
        'run',
        '--data-dir',
        dataDir,
        '--no-federated',
        '--exit-when-delivered',
        ...args,
      ]);

    const first = await run(['--pcap', learn, '--learn-minutes', '2']);
    const second = await run(['--pcap', later]);
    const health = (await fx.store.listAgents('plant'))[0]?.health;
    const shown = await runToEnd(VIGIL_AGENT, ['baseline', 'show', '--data-dir', dataDir]);

    const out1 = first.lines.join('\n');
    expect(first.code, out1).toBe(0);
    expect(out1).toMatch(/learning the baseline from the capture's first 2 minute\(s\)/);
    expect(out1).toMatch(
      /baseline learnt from the first 2 minute\(s\) of --pcap .* stored in .*baseline\.json \(models: saved\)/,
    );
    const out2 = second.lines.join('\n');
    expect(second.code, out2).toBe(0);
    expect(out2).toMatch(/baseline loaded from .*baseline\.json .*no learning period, detection on/);
    expect(out2).not.toMatch(/learning the baseline/);
    expect(health?.baseline_status).toMatch(
      /^loaded from .*baseline\.json \(learnt from the first 2 minute\(s\) of --pcap .*, stored 20/,
    );
    const alerts = (await fx.store.queryAlerts({ facility: 'plant', page: 1, limit: 100 })).items;
    const write = alerts.find(
      (a) => a.attack_type === 'T0855' && Date.parse(a.timestamp) >= Date.parse('2026-01-05T09:00:30Z'),
    );
    expect(write, JSON.stringify(alerts.map((a) => [a.timestamp, a.attack_type]))).toBeDefined();
    expect(Date.parse(write!.timestamp)).toBeLessThan(Date.parse('2026-01-05T09:00:35Z'));
    const show = shown.lines.join('\n');
    expect(shown.code, show).toBe(0);
    expect(show).toMatch(/facility plant; learnt from the first 2 minute\(s\) of --pcap/);
    expect(show).toMatch(/models: saved/);
    expect(show).toMatch(/Modbus pairs \(\d+\):\n {4}10\.10\.1\.\d+ -> 10\.10\.2\.\d+: functions /);

    // damaged: refused with the reason, learnt again, no failed start
    const file = join(dataDir, 'baseline.json');
    writeFileSync(file, readFileSync(file, 'utf8').slice(0, 200));
    const third = await run(['--pcap', learn, '--learn-minutes', '2']);
    const out3 = third.lines.join('\n');
    expect(third.code, out3).toBe(0);
    expect(out3).toMatch(/stored baseline .*baseline\.json refused: not valid JSON .*; learning again/);
    expect(out3).toMatch(/baseline learnt from the first 2 minute\(s\) of --pcap .* stored in/);

    const reset = await runToEnd(VIGIL_AGENT, ['baseline', 'reset', '--data-dir', dataDir]);
    const after = await runToEnd(VIGIL_AGENT, ['baseline', 'show', '--data-dir', dataDir]);
    expect(reset.lines.join('\n')).toMatch(/removed .*baseline\.json\n.*removed .*local-baseline\.json/s);
    expect(after.lines.join('\n')).toMatch(
      /no baseline stored in .*: the agent learns one at its next start/,
    );
  });
});
