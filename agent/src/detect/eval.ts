// Detection evaluation (`npm run eval`): the held-out simulated scenarios (every attack class on topologies and seeds
// never used for tuning) and the real labeled captures, written as the "Detection" section of models/EVAL.md (other
// sections of that file are left as they are). Rules only so far: the Layer 1/2 models are not in the agent yet.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ATTACK_NAMES, attackDef } from '../sim/attacks.js';
import { readCaptureFile } from '../capture/source.js';
import { SHARED_PCAPS } from '../testing-paths.js';
import type { AgentAlert } from './correlate.js';
import { replayDetect } from './replay.js';
import { runScenario } from './scenario.js';

export const SECTION_START = '<!-- detection-eval:start -->';
export const SECTION_END = '<!-- detection-eval:end -->';

const LEARN_S = 600;
const ATTACK_AT_S = 720;
const SCENARIOS = [
  { topology: 'water-b', seed: 303 },
  { topology: 'pipeline-d', seed: 303 },
] as const;

interface Row {
  cells: string[];
}

function table(head: string[], rows: Row[]): string {
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.cells.join(' | ')} |`),
  ].join('\n');
}

async function simulated(): Promise<string> {
  const rows: Row[] = [];
  for (const { topology, seed } of SCENARIOS) {
    for (const attack of ATTACK_NAMES) {
      if (topology === 'pipeline-d' && attackDef(attack).needs === 'broker') continue;
      const r = await runScenario({
        topology,
        seed,
        durationS: ATTACK_AT_S + 120,
        learnS: LEARN_S,
        attacks: [{ attack, atS: ATTACK_AT_S }],
      });
      const start = r.firstFrameMs[0] ?? NaN;
      const fitting = attackDef(attack).techniques;
      const hit = r.alerts.find((a) => fitting.includes(a.attack_type));
      const before = r.alerts.filter((a) => Date.parse(a.last_seen) < start).length;
      rows.push({
        cells: [
          topology,
          String(seed),
          attack,
          fitting.join(', '),
          hit === undefined
            ? 'MISSED'
            : `${hit.attack_type} (${[...new Set(hit.sources.map((x) => x.model_name))].join(' + ')})`,
          hit === undefined ? '-' : ((Date.parse(hit.timestamp) - start) / 1000).toFixed(2),
          String(r.alerts.length),
          String(before),
        ],
      });
    }
    const normal = await runScenario({
      topology,
      seed,
      durationS: LEARN_S + 3600,
      learnS: LEARN_S,
      attacks: [],
    });
    rows.push({
      cells: [
        topology,
        String(seed),
        'none (60 min normal)',
        '-',
        '-',
        '-',
        String(normal.alerts.length),
        '-',
      ],
    });
  }
  return table(
    [
      'topology',
      'seed',
      'attack',
      'labeled techniques',
      'first fitting alert (rule)',
      'delay s',
      'alerts',
      'false before attack',
    ],
    rows,
  );
}

async function firstLabeledMs(capture: string): Promise<number> {
  const labels = join(SHARED_PCAPS, 'labels', capture.replace(/\.pcap$/, '.csv'));
  const line = readFileSync(labels, 'utf8')
    .split('\n')
    .find((l) => l.split(';')[1]?.trim() === '1');
  const frame = Number(line?.split(';')[0]);
  let ms = NaN;
  await readCaptureFile(join(SHARED_PCAPS, capture), {
    onPacket: (p) => {
      if (p.frame === frame) ms = p.tsSec * 1000 + p.tsNsec / 1e6;
    },
  });
  return ms;
}

async function real(): Promise<string> {
  if (!existsSync(SHARED_PCAPS)) return '_../shared/pcaps is absent: real captures not evaluated._';
  const fake = 'lemay_send_a_fake_command_modbus_6RTU_with_operate.pcap';
  const rows: Row[] = [];
  for (const capture of [fake, 'lemay_characterization_modbus_6RTU_with_operate.pcap']) {
    const alerts: AgentAlert[] = [];
    await replayDetect({
      file: join(SHARED_PCAPS, capture),
      facility: 'lemay',
      baselineFile: join(SHARED_PCAPS, fake),
      baselineSeconds: 280,
      learnMinutes: 0,
      onAlert: (a) => {
        alerts.push(a);
      },
    });
    const start = await firstLabeledMs(capture);
    const first = alerts.find((a) => Date.parse(a.last_seen) >= start);
    const before = alerts.filter((a) => Date.parse(a.last_seen) < start).length;
    rows.push({
      cells: [
        capture,
        'first 280 s of the fake-command capture',
        first === undefined ? 'MISSED' : `${first.attack_type} ${first.attack_name}`,
        first === undefined ? '-' : first.sources.map((s) => s.model_name).join(' + '),
        first === undefined ? '-' : ((Date.parse(first.timestamp) - start) / 1000).toFixed(3),
        String(alerts.length),
        String(before),
      ],
    });
  }
  for (const [capture, minutes] of [
    ['iti_ModbusTCP_Modbus_modbus_test_2.pcap', 5],
    ['malcolm_MQTT.pcap', 3],
  ] as const) {
    const alerts: AgentAlert[] = [];
    await replayDetect({
      file: join(SHARED_PCAPS, capture),
      facility: 'benign',
      learnMinutes: minutes,
      onAlert: (a) => {
        alerts.push(a);
      },
    });
    rows.push({
      cells: [capture, `its own first ${minutes} min`, 'benign', '-', '-', String(alerts.length), '-'],
    });
  }
  return table(
    [
      'capture',
      'baseline',
      'first alert after the attack starts',
      'raised by',
      'delay s',
      'alerts',
      'false before',
    ],
    rows,
  );
}

/** Runs the evaluation and returns the section's markdown. */
export async function evaluateDetection(now: Date): Promise<string> {
  const sim = await simulated();
  const lemay = await real();
  return [
    SECTION_START,
    '## Detection (agent rules)',
    '',
    `Run ${now.toISOString()} with \`npm run eval\` on this machine (2 cores). Layer 1/2 models are not in the agent`,
    'yet: every figure below is the rules (baseline policy, Modbus protocol, scan, MQTT/DNS/HTTP) and the correlator.',
    "Delay: from the attack's first labeled packet to the alert's timestamp (packet time when it was decided); goal 5 s.",
    '',
    `### Held-out simulated plants (learning ${LEARN_S / 60} min, attack at ${ATTACK_AT_S / 60} min)`,
    '',
    sim,
    '',
    '### Real captures',
    '',
    lemay,
    '',
    'Not measured yet: per-packet precision/recall on the labeled captures, per-class F1 over many scenarios, ROC AUC',
    'of Layer 1 scores (no Layer 1 model in the agent yet).',
    SECTION_END,
  ].join('\n');
}

/** Replaces (or appends) the detection section of the markdown file at `path`. */
export function writeSection(path: string, section: string): void {
  const old = existsSync(path) ? readFileSync(path, 'utf8') : '# Model evaluations\n';
  const a = old.indexOf(SECTION_START);
  const b = old.indexOf(SECTION_END);
  const next =
    a >= 0 && b > a
      ? old.slice(0, a) + section + old.slice(b + SECTION_END.length)
      : `${old.trimEnd()}\n\n${section}\n`;
  writeFileSync(path, next);
}
