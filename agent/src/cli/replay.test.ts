import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { ALERT_STATUSES, SEVERITIES, UsageError } from '@vigil/shared';
import { needComponent } from '@vigil/shared/testing';
import { SHARED_PCAPS, sharedCaptures } from '../testing-paths.js';
import { runReplay } from './replay.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function streams(): { out: PassThrough; err: PassThrough; text: () => { out: string; err: string } } {
  const out = new PassThrough();
  const err = new PassThrough();
  const o: Buffer[] = [];
  const e: Buffer[] = [];
  out.on('data', (b: Buffer) => o.push(b));
  err.on('data', (b: Buffer) => e.push(b));
  return { out, err, text: () => ({ out: Buffer.concat(o).toString(), err: Buffer.concat(e).toString() }) };
}

const FAKE = join(SHARED_PCAPS, 'lemay_send_a_fake_command_modbus_6RTU_with_operate.pcap');

describe('vigil-agent replay', () => {
  const have = needComponent('shared captures', sharedCaptures().length > 0, 'expected at ../shared/pcaps');

  it.skipIf(!have)('writes spec alerts as JSON lines and nothing to stderr when offline', async () => {
    const s = streams();
    const file = join(dir, 'alerts.jsonl');

    await runReplay(
      FAKE,
      { offline: true, alertsOut: file, baseline: FAKE, baselineSeconds: '280', facility: 'lemay' },
      s.out,
      s.err,
    );

    expect(s.text()).toEqual({ out: '', err: '' });
    const alerts = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(alerts).toHaveLength(1);
    const a = alerts[0] ?? {};
    expect(a.facility_id).toBe('lemay');
    expect(SEVERITIES).toContain(a.severity);
    expect(ALERT_STATUSES).toContain(a.status);
    expect(a.attack_type).toBe('T0855');
    for (const k of ['id', 'timestamp', 'title', 'description', 'sources', 'correlation_confidence']) {
      expect(a).toHaveProperty(k);
    }
    expect(a).toHaveProperty('context_analysis.timeline');
    expect(Date.parse(String(a.first_seen))).toBeLessThanOrEqual(Date.parse(String(a.timestamp)));
  });

  it.skipIf(!have)('a suppression drops the alert and, online, the summary counts it', async () => {
    const s = streams();

    await runReplay(
      FAKE,
      {
        offline: false,
        alertsOut: '-',
        baseline: FAKE,
        baselineSeconds: '280',
        suppress: ['technique=T0855'],
        // rules only: the models name this attack T0836 (Modify Parameter), which this suppression leaves alone
        models: false,
      },
      s.out,
      s.err,
    );

    const { out, err } = s.text();
    expect(out).toBe('');
    const summary = JSON.parse(err) as { alerts: number; suppressed: Record<string, number> };
    expect(summary.alerts).toBe(0);
    expect(summary.suppressed['new-master-write/T0855']).toBeGreaterThan(0);
  });

  it('refuses a missing file, a file that is no capture and --baseline-seconds without --baseline', async () => {
    const junk = join(dir, 'junk.pcap');
    writeFileSync(junk, 'not a capture at all, just text');
    const s = streams();

    await expect(
      runReplay(join(dir, 'nope.pcap'), { offline: true, alertsOut: '-' }, s.out, s.err),
    ).rejects.toThrow(UsageError);
    await expect(runReplay(junk, { offline: true, alertsOut: '-' }, s.out, s.err)).rejects.toThrow(
      /not a pcap/,
    );
    await expect(
      runReplay(junk, { offline: true, alertsOut: '-', baselineSeconds: '10' }, s.out, s.err),
    ).rejects.toThrow(/needs --baseline/);
    await expect(
      runReplay(junk, { offline: true, alertsOut: '-', learnMinutes: '-1' }, s.out, s.err),
    ).rejects.toThrow(UsageError);
  });
});
