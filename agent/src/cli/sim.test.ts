import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '@vigil/shared';
import { readCaptureFile } from '../capture/source.js';
import { runSim } from './sim.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-sim-cli-'));
});
afterAll(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

function streams(): { out: PassThrough; err: PassThrough; text: () => string } {
  const out = new PassThrough();
  const err = new PassThrough();
  const chunks: Buffer[] = [];
  err.on('data', (c: Buffer) => chunks.push(c));
  return { out, err, text: () => Buffer.concat(chunks).toString('utf8') };
}

describe('vigil-agent sim', () => {
  it('writes a capture and its labels; the same arguments write the same bytes', async () => {
    const args = (n: number): Parameters<typeof runSim>[0] => ({
      topology: 'water-a',
      seed: '7',
      minutes: '1.5',
      attack: ['port-scan@20s:duration=30s', 'modbus-recon@40s'],
      out: join(dir, `a${n}.pcap`),
      labels: join(dir, `a${n}.csv`),
    });
    const s = streams();

    const summary = await runSim(args(1), s.out, s.err);
    await runSim(args(2), streams().out, streams().err);

    const frames: number[] = [];
    const stats = await readCaptureFile(join(dir, 'a1.pcap'), { onPacket: (p) => frames.push(p.frame) });
    const labels = (await readFile(join(dir, 'a1.csv'), 'utf8')).trimEnd().split('\n');
    expect(stats.errors).toEqual({});
    expect(frames).toHaveLength(summary!.frames);
    expect(labels).toHaveLength(summary!.frames);
    expect(labels.filter((l) => l.includes(';1;T0846;port-scan'))).toHaveLength(
      summary!.techniques['T0846']!,
    );
    expect(labels.filter((l) => l.includes(';1;T0888;modbus-recon'))).toHaveLength(
      summary!.techniques['T0888']!,
    );
    expect(await readFile(join(dir, 'a2.pcap'))).toEqual(await readFile(join(dir, 'a1.pcap')));
    expect(await readFile(join(dir, 'a2.csv'))).toEqual(await readFile(join(dir, 'a1.csv')));
    const line = JSON.parse(s.text()) as { frames: number; techniques: Record<string, number> };
    expect(line.frames).toBe(summary!.frames);
  });

  it('plays the capture live at the given speed: the same frames, spread over the simulated time', async () => {
    const base = { topology: 'pipeline-d', seed: '3', minutes: '0.1', attack: ['port-scan@1s'] };
    await runSim({ ...base, out: join(dir, 'fast.pcap') }, new PassThrough(), new PassThrough());

    const t0 = performance.now();
    await runSim({ ...base, speed: '30', out: join(dir, 'live.pcap') }, new PassThrough(), new PassThrough());
    const elapsed = performance.now() - t0;

    expect(await readFile(join(dir, 'live.pcap'))).toEqual(await readFile(join(dir, 'fast.pcap')));
    expect(elapsed).toBeGreaterThan(150);
  });

  it('lists the topologies and attacks with their techniques', async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));

    await runSim({ list: true }, out, new PassThrough());

    const text = Buffer.concat(chunks).toString('utf8');
    expect(text).toMatch(/water-a/);
    expect(text).toMatch(/factory-c/);
    expect(text).toMatch(/program-download\s+T0843/);
  });

  it.each([
    [{ topology: 'nowhere', out: 'x.pcap' }, /--topology must be one of water-a/],
    [{ topology: 'water-a', seed: 'abc', out: 'x.pcap' }, /--seed must be an integer/],
    [{ topology: 'water-a', minutes: '0', out: 'x.pcap' }, /--minutes must be positive/],
    [{ topology: 'water-a', start: 'yesterday', out: 'x.pcap' }, /--start must be an ISO date/],
    [{ topology: 'water-a' }, /--out FILE.pcap is required/],
    [{ topology: 'water-a', out: 'x.pcap', attack: ['nmap@1s'] }, /unknown attack nmap/],
    [{ topology: 'pipeline-d', out: 'x.pcap', attack: ['mqtt-bruteforce@1s'] }, /needs an MQTT broker/],
    [{ topology: 'water-a', out: 'x.pcap', speed: '0' }, /--speed must be positive/],
    [
      { topology: 'water-a', out: '/nonexistent-dir/x.pcap' },
      /cannot write \/nonexistent-dir\/x.pcap: ENOENT/,
    ],
  ])('rejects bad arguments with a usage error: %o', async (opts, message) => {
    await expect(
      runSim({ seed: '1', minutes: '1', ...opts }, new PassThrough(), new PassThrough()),
    ).rejects.toSatisfy((e: unknown) => e instanceof UsageError && message.test(e.message));
  });
});
