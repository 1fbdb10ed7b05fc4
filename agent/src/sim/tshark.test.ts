// tshark as the oracle for the simulator's wire format: captures of every topology with every attack are read by
// tshark with checksum validation on; it must find no malformed packet, no bad checksum and no TCP sequence
// problem, and dissect the protocols we meant to send.
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, needComponent } from '@vigil/shared/testing';
import { ATTACK_NAMES, attackDef } from './attacks.js';
import { writeSimulation, type SimulationSummary } from './output.js';
import { Simulator } from './simulator.js';
import { TOPOLOGIES, TOPOLOGY_NAMES } from './topology.js';

const run = promisify(execFile);
const haveTshark = needComponent(
  'tshark',
  hasCommand('tshark'),
  'apt-get install tshark; deploy/install-test-deps.sh',
);
const CHECKS = [
  '-o',
  'ip.check_checksum:TRUE',
  '-o',
  'tcp.check_checksum:TRUE',
  '-o',
  'udp.check_checksum:TRUE',
];

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-sim-tshark-'));
});
afterAll(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

/** Every attack, one after another (20 s each, the chain 60 s), on top of the plant's normal traffic. */
async function capture(topology: string): Promise<{ file: string; summary: SimulationSummary }> {
  const hasBroker = TOPOLOGIES[topology]!.broker !== undefined;
  const runnable = ATTACK_NAMES.filter((a) => hasBroker || attackDef(a).needs !== 'broker');
  const attacks = runnable.map((attack, i) => ({
    attack,
    atS: 5 + i * 12,
    durationS: attack === 'multi-stage' ? 60 : 20,
    // A lighter flood keeps the capture small; the flood's framing is the same at any rate.
    ...(attack === 'modbus-flood' ? { rate: 0.25 } : {}),
  }));
  const sim = new Simulator({
    topology,
    seed: 21,
    startMs: Date.UTC(2026, 0, 6, 10),
    durationS: 180,
    attacks,
  });
  const file = join(dir, `${topology}.pcap`);
  const out = createWriteStream(file);
  const summary = await writeSimulation(sim, { pcap: out });
  out.end();
  await finished(out);
  return { file, summary };
}

describe.skipIf(!haveTshark)('simulated captures read by tshark', () => {
  it.each(TOPOLOGY_NAMES)(
    '%s: no malformed packets, bad checksums or sequence problems; every protocol dissected',
    async (topology) => {
      const { file, summary } = await capture(topology);

      // One pass: the per-frame fields, then the expert summary (tap output follows the frames).
      const { stdout } = await run(
        'tshark',
        [
          '-r',
          file,
          ...CHECKS,
          '-T',
          'fields',
          '-e',
          'frame.protocols',
          '-e',
          '_ws.col.Info',
          '-z',
          'expert',
        ],
        { maxBuffer: 512 * 1024 * 1024 },
      );
      // Frame lines are never empty (frame.protocols always has a value); the summary starts after a blank line.
      const split = stdout.indexOf('\n\n');
      const lines = stdout.slice(0, split).trimEnd().split('\n');
      const expert = stdout.slice(split);

      expect(lines).toHaveLength(summary.frames);
      expect(stdout).not.toMatch(/Malformed/i);
      expect(expert).not.toMatch(/^Errors \(/m);
      // Warnings: only the resets of the port scan and the chain's scan, nothing about sequence numbers or lengths.
      const warns = expert.split(/^Warns \(\d+\)$/m)[1]?.split(/^Notes \(/m)[0] ?? '';
      const summaries = warns
        .split('\n')
        .filter((l) => /^\s+\d+\s+\S/.test(l))
        .map((l) => l.replace(/^\s+\d+\s+/, '').trim());
      expect(summaries.length).toBeGreaterThan(0);
      expect(summaries.every((l) => l.endsWith('Connection reset (RST)'))).toBe(true);
      const mqtt = TOPOLOGIES[topology]!.broker === undefined ? [] : ['mqtt'];
      for (const proto of ['modbus', 'dns', 'http', ...mqtt]) {
        expect(
          lines.some((l) => l.split('\t')[0]!.split(':').includes(proto)),
          proto,
        ).toBe(true);
      }
    },
  );
});
