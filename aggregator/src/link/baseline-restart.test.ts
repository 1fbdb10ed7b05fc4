// The agent keeps its learnt baseline across restarts (real processes: `vigil-agent run` against an in-process
// aggregator link with mTLS). A first run learns from a simulated plant's first 2 minutes and stores the baseline
// (and the models' local one) in its data dir; the restarted agent loads it and detects from the first packet of the
// next capture: a coil write 30 s in is an alert, where relearning would have taken it for normal. A damaged file is
// refused with the reason and the agent learns again instead of failing. `vigil-agent baseline show|reset` print
// and forget what was learnt.
// A learning period survives a restart too: the agent learns for 3 minutes and its first capture ends after 1.5 of
// them: it stores a checkpoint of what it learnt so far, and `baseline show` and its health say it is still learning.
// Restarted on the next capture, it resumes the period with the 1.5 minutes left (not 3 from zero), stores the whole
// baseline (packet time from the first capture to the end of the period: nothing after it is learnt), and alerts on a
// coil write 10 s after the period ends, which learning from zero would have taken as normal. The models' learning
// is checkpointed with it: the restarted agent's forest and L1b threshold learn from both captures (more windows
// than the period's second half holds).
// A hard kill (SIGKILL) in the learning period loses only what came after the last checkpoint (every second here,
// --checkpoint-seconds 1): the restart resumes the rules' baseline and the models from it.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { enroll } from '@vigil/agent/link/identity';
import { issueToken } from './testing/fixtures.js';
import { servedLink, type ServedLink } from './testing/served.js';
import { VIGIL_AGENT, runToEnd, start } from './testing/processes.js';

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

  type Run = (args: string[]) => Promise<{ code: number | null; lines: string[] }>;

  /**
   * Two captures of the plant an hour apart, the second with the workstation's coil write `writeAt` into it, and an
   * enrolled agent's data dir; `run` starts `vigil-agent run` on it.
   */
  async function plant(o: {
    firstMinutes: string;
    nextMinutes: string;
    writeAt: string;
  }): Promise<{ first: string; next: string; dataDir: string; run: Run }> {
    const first = join(fx.dir, 'first.pcap');
    const next = join(fx.dir, 'next.pcap');
    await sim(first, ['--minutes', o.firstMinutes, '--start', '2026-01-05T08:00:00Z']);
    await sim(next, [
      '--minutes',
      o.nextMinutes,
      '--start',
      '2026-01-05T09:00:00Z',
      '--attack',
      `modbus-coil-write@${o.writeAt}:src=${WORKSTATION},target=${PLC}`,
    ]);
    const dataDir = join(fx.dir, 'plant');
    await enroll({ aggregator: fx.address, token: await issueToken(fx.store, fx.ca, 'plant'), dataDir });
    const run: Run = (args) =>
      runToEnd(VIGIL_AGENT, [
        'run',
        '--data-dir',
        dataDir,
        '--no-federated',
        '--exit-when-delivered',
        ...args,
      ]);
    return { first, next, dataDir, run };
  }

  it('a restarted agent loads its baseline and detects at once; a damaged one is refused and relearnt', async () => {
    const {
      first: learn,
      next: later,
      dataDir,
      run,
    } = await plant({
      firstMinutes: '2.5',
      nextMinutes: '1',
      writeAt: '30s',
    });

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

  it('a restart in the learning period resumes it from the checkpoint with its remaining time', async () => {
    const {
      first,
      next,
      dataDir,
      run: runWith,
    } = await plant({
      firstMinutes: '1.5',
      nextMinutes: '2',
      writeAt: '100s',
    });
    const run = (pcap: string): ReturnType<Run> => runWith(['--pcap', pcap, '--learn-minutes', '3']);
    const show = async (): Promise<string> => {
      const r = await runToEnd(VIGIL_AGENT, ['baseline', 'show', '--data-dir', dataDir]);
      expect(r.code, r.lines.join('\n')).toBe(0);
      return r.lines.join('\n');
    };

    const one = await run(first);
    const health1 = (await fx.store.listAgents('plant'))[0]?.health;
    const shown1 = await show();
    const two = await run(next);
    const shown2 = await show();

    const out1 = one.lines.join('\n');
    expect(one.code, out1).toBe(0);
    expect(out1).toMatch(
      /baseline: learning checkpoint stored in .*baseline\.json: \S+ \(1\.5 min of 3\.0 min learnt\)/,
    );
    expect(health1?.baseline_status).toMatch(
      /^learning the baseline from the capture's first 3 minute\(s\) \(packet time\)/,
    );
    expect(shown1).toMatch(/STILL LEARNING \(a checkpoint\): 1\.5 of 3\.0 min of the learning period learnt/);
    expect(shown1).toMatch(/models: learning \(checkpointed in baseline-models-[0-9a-f]{16}\.bin\)/);
    const kept = /models' learning so far: (\d+) kept flow-second\(s\), (\d+) window step\(s\)/.exec(shown1);
    expect(Number(kept?.[2])).toBeGreaterThanOrEqual(85); // the first capture's 90 s
    const out2 = two.lines.join('\n');
    expect(two.code, out2).toBe(0);
    expect(out2).toContain(
      `models resumed from ${/baseline-models-\w+\.bin/.exec(shown1)?.[0]}: ${kept?.[1]} kept learning flow-second(s), ${kept?.[2]} window step(s)`,
    );
    // the forest learnt from the rows of both captures, the L1b threshold from windows of both: the period's
    // second half alone has 90 steps (31 windows of 60)
    const local =
      /models' local baseline: learnt from learning period at \S+: (\d+) flow-second\(s\), (\d+) window\(s\)/.exec(
        shown2,
      );
    expect(Number(local?.[1]), shown2).toBeGreaterThan(1.5 * Number(kept?.[1]));
    expect(Number(local?.[2])).toBeGreaterThan(100);
    expect(Number(local?.[2])).toBeLessThanOrEqual(180 - 59);
    expect(out2).toMatch(
      /learning the baseline, resumed from the checkpoint .*baseline\.json .*: 1\.5 min of 3 minute\(s\) learnt, 1\.5 min left \(packet time\)/,
    );
    expect(out2).toMatch(
      /baseline learnt from the first 3 minute\(s\) of --pcap .*\(resumed after a restart\) and stored in .* \(models: saved\)/,
    );
    // learnt from both captures, and nothing after the period's end (09:01:30) was learnt
    const span = /packet time (\S+) \.\. (\S+)/.exec(shown2);
    expect(shown2).not.toMatch(/STILL LEARNING/);
    expect(Date.parse(span?.[1] ?? '')).toBeLessThan(Date.parse('2026-01-05T08:00:05Z'));
    expect(Date.parse(span?.[2] ?? '')).toBeGreaterThan(Date.parse('2026-01-05T09:01:25Z'));
    // (the period resumes at the next capture's first packet, a few ms after 09:00:00)
    expect(Date.parse(span?.[2] ?? '')).toBeLessThan(Date.parse('2026-01-05T09:01:30.5Z'));
    const alerts = (await fx.store.queryAlerts({ facility: 'plant', page: 1, limit: 100 })).items;
    const write = alerts.find(
      (a) => a.attack_type === 'T0855' && Date.parse(a.timestamp) >= Date.parse('2026-01-05T09:01:40Z'),
    );
    expect(write, JSON.stringify(alerts.map((a) => [a.timestamp, a.attack_type]))).toBeDefined();
    expect(Date.parse(write!.timestamp)).toBeLessThan(Date.parse('2026-01-05T09:01:45Z'));
  });

  it('a hard kill in the learning period loses only what came after the last checkpoint', async () => {
    const { first, next, dataDir, run } = await plant({
      firstMinutes: '0.5',
      nextMinutes: '1.5',
      writeAt: '80s',
    });
    const args = ['--learn-minutes', '1', '--checkpoint-seconds', '1'];
    const one = start(VIGIL_AGENT, [
      'run',
      '--data-dir',
      dataDir,
      '--no-federated',
      '--pcap',
      first,
      '--speed',
      '1x',
      ...args,
    ]);
    const seen = await one
      .waitFor(
        /learning checkpoint stored .*\((0\.[1-9]) min of 1\.0 min learnt\); models' learning in \S+ \((\d+) kept/,
        60_000,
      )
      .finally(() => one.kill9());
    const two = await run(['--pcap', next, ...args]);

    const [, minutes, rows] = /\((0\.\d) min of .* \((\d+) kept/.exec(seen) ?? [];
    const out2 = two.lines.join('\n');
    expect(two.code, out2).toBe(0);
    const resumed = /resumed from the checkpoint .*: (\d\.\d) min of 1 minute\(s\) learnt/.exec(out2);
    expect(Number(resumed?.[1]), out2).toBeGreaterThanOrEqual(Number(minutes));
    expect(Number(resumed?.[1])).toBeLessThan(0.5); // the first capture's 30 s at 1x had not run
    const models = /models resumed from baseline-models-\w+\.bin: (\d+) kept learning flow-second/.exec(out2);
    expect(Number(models?.[1]), out2).toBeGreaterThanOrEqual(Number(rows));
    expect(out2).toMatch(/\(resumed after a restart\) and stored in .* \(models: saved\)/);
  });
});
