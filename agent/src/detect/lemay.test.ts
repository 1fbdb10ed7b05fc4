// The rules on real labeled captures (../shared/pcaps/lemay_*, one 6-RTU SCADA network): the baseline is learnt
// from the first 280 s of the fake-command capture (normal polling), as ../shared/pcaps/README.md prescribes. The
// fake Write Single Coil and the characterization sweep must each raise an alert with a fitting technique within
// 5 s of their first labeled packet, and nothing else may alert; benign real captures learnt from their own first
// minutes raise no alert at all.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { needComponent } from '@vigil/shared/testing';
import { readCaptureFile } from '../capture/source.js';
import { SHARED_PCAPS, sharedCaptures } from '../testing-paths.js';
import type { AgentAlert } from './correlate.js';
import { replayDetect } from './replay.js';

const FAKE = join(SHARED_PCAPS, 'lemay_send_a_fake_command_modbus_6RTU_with_operate.pcap');
const SWEEP = join(SHARED_PCAPS, 'lemay_characterization_modbus_6RTU_with_operate.pcap');

/** Packet time (ms) of the first frame labeled 1 in labels/<capture>.csv. */
async function firstAttackMs(capture: string): Promise<number> {
  const name = capture.slice(capture.lastIndexOf('/') + 1).replace(/\.pcap$/, '.csv');
  const first = readFileSync(join(SHARED_PCAPS, 'labels', name), 'utf8')
    .split('\n')
    .map((l) => l.split(';'))
    .find(([, label]) => label?.trim() === '1');
  const frame = Number(first?.[0]);
  let ms = NaN;
  await readCaptureFile(capture, {
    onPacket: (p) => {
      if (p.frame === frame) ms = p.tsSec * 1000 + p.tsNsec / 1e6;
    },
  });
  return ms;
}

async function alertsOf(
  file: string,
  baseline: { file: string; seconds: number } | number,
): Promise<AgentAlert[]> {
  const alerts: AgentAlert[] = [];
  await replayDetect({
    file,
    facility: 'lemay-6rtu',
    ...(typeof baseline === 'number'
      ? { learnMinutes: baseline }
      : { baselineFile: baseline.file, baselineSeconds: baseline.seconds, learnMinutes: 0 }),
    onAlert: (a) => {
      alerts.push(a);
    },
  });
  return alerts;
}

describe('real labeled captures (lemay)', () => {
  const have = needComponent('shared captures', sharedCaptures().length > 0, 'expected at ../shared/pcaps');
  const baseline = { file: FAKE, seconds: 280 };

  it.skipIf(!have)(
    'the fake Write Single Coil raises one T0855 alert within 5 s and nothing else alerts',
    async () => {
      const start = await firstAttackMs(FAKE);

      const alerts = await alertsOf(FAKE, baseline);

      expect(alerts.map((a) => a.attack_type)).toEqual(['T0855']);
      const a = alerts[0];
      const delay = Date.parse(a?.timestamp ?? '') - start;
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(5000);
      expect(a?.first_seen).toBe(new Date(start).toISOString());
      expect(a?.sources.some((s) => s.model_name === 'modbus-policy/new-master-write')).toBe(true);
      expect(a?.context_analysis.timeline.length).toBeGreaterThan(0);
    },
  );

  it.skipIf(!have)(
    'the characterization sweep raises one discovery alert within 5 s of its first packet',
    async () => {
      const start = await firstAttackMs(SWEEP);

      const alerts = await alertsOf(SWEEP, baseline);

      expect(alerts).toHaveLength(1);
      expect(['T0888', 'T0861']).toContain(alerts[0]?.attack_type);
      const delay = Date.parse(alerts[0]?.timestamp ?? '') - start;
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(5000);
    },
  );

  it.skipIf(!have).each([
    ['iti_ModbusTCP_Modbus_modbus_test_2.pcap', 5],
    ['malcolm_MQTT.pcap', 3],
  ])('benign %s learnt from its first %i minutes raises no alert', async (file, minutes) => {
    const alerts = await alertsOf(join(SHARED_PCAPS, file), minutes);

    expect(alerts.map((a) => a.correlation_summary)).toEqual([]);
  });
});
