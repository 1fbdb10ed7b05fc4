import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '@vigil/shared';
import type { FLRound } from '@vigil/shared';
import { CentralDp, FedAvg, FedProx, SecureDpSgd, type TrimmedMean } from '../fl/strategy.js';
import { LocalFleet, localModel, modelArrays } from '../fl/testing/local-fleet.js';
import { openStore } from '../store/open.js';
import { parseStrategy, updateProtection } from './serve-fl.js';
import { registerServe } from './serve.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-serve-fl-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('--fl-strategy', () => {
  it('builds FedAvg, FedProx, trimmed mean and the central-DP wrapper', () => {
    const prox = parseStrategy('fedprox:0.01');
    const trim = parseStrategy('trimmed-mean:0.2');
    const dp = parseStrategy('fedavg+central-dp:1.5:0.8');

    expect(parseStrategy('fedavg').name).toBe('fedavg');
    expect(prox).toBeInstanceOf(FedProx);
    expect((prox as FedProx).proximalMu).toBe(0.01);
    expect((trim as TrimmedMean).beta).toBe(0.2);
    expect(dp).toBeInstanceOf(CentralDp);
    expect((dp as CentralDp).options).toMatchObject({ clipNorm: 1.5, noiseMultiplier: 0.8 });
    expect(dp.name).toBe('central-dp(fedavg)');
  });

  it('builds secure aggregation with distributed DP, and the privacy metrics then name it', () => {
    const s = parseStrategy('secagg-dp:1.3:0.01:1:0.8');

    expect(s).toBeInstanceOf(SecureDpSgd);
    expect((s as SecureDpSgd).options).toEqual({
      noiseMultiplier: 1.3,
      sampleRate: 0.01,
      clipNorm: 1,
      learningRate: 0.8,
    });
    expect(updateProtection('TLS 1.3 (mTLS)', s)).toBe('TLS 1.3 (mTLS) + pairwise-masked secure aggregation');
    expect(updateProtection('TLS 1.3 (mTLS)', new FedAvg())).toBe('TLS 1.3 (mTLS)');
  });

  it('refuses unknown names and bad numbers with a usage error naming the flag', () => {
    for (const bad of [
      'fedsgd',
      'fedprox',
      'fedprox:x',
      'trimmed-mean:0.7',
      'fedavg+noise:1:1',
      'fedavg:1',
      'secagg-dp:1:0.01:1',
      'secagg-dp:1:2:1:0.5',
      'secagg-dp:1:0.01:1:0.5+central-dp:1:1',
    ]) {
      expect(() => parseStrategy(bad)).toThrow(UsageError);
      expect(() => parseStrategy(bad)).toThrow(/--fl-strategy/);
    }
  });
});

describe('vigil serve with an attached FL transport', () => {
  it('runs scheduled rounds with the chosen strategy, reports the transport encryption and stores the models', async () => {
    const db = `sqlite:${join(dir, 'serve-fl.db')}`;
    const seed = await openStore(db);
    await seed.addFacility({ id: 'plant-a', name: 'Plant A' });
    await seed.addFacility({ id: 'plant-b', name: 'Plant B' });
    await seed.close();
    const fleet = new LocalFleet(
      ['plant-a', 'plant-b'].map((f, i) => ({
        nodeId: String(900 + i),
        facilityId: f,
        seed: 70 + i,
        trainExamples: 100,
        validationExamples: 30,
        shift: 0.1 * i,
      })),
    );
    let ready: (u: string) => void = () => undefined;
    const url = new Promise<string>((r) => (ready = r));
    let stop: (why: string) => void = () => undefined;
    const program = new Command().exitOverride();
    registerServe(program, {
      fl: {
        encryption: 'TLS 1.3 (mTLS)',
        attach: () => ({ transport: fleet, initialArrays: () => modelArrays(localModel(1)) }),
      },
      onReady: (info) => ready(info.url),
      stop: new Promise<string>((r) => (stop = r)),
    });

    const serving = program.parseAsync(
      [
        'serve',
        '--port',
        '0',
        '--grpc-port',
        '0',
        '--db',
        db,
        '--anonymous',
        '--fl-schedule',
        '1s',
        '--fl-strategy',
        'fedprox:0.1',
      ],
      { from: 'user' },
    );
    const base = await url;
    let rounds: { rounds: FLRound[] } = { rounds: [] };
    for (let i = 0; i < 150 && rounds.rounds.filter((r) => r.status === 'completed').length < 1; i++) {
      await new Promise((r) => setTimeout(r, 100));
      rounds = (await (await fetch(`${base}/api/fl/rounds`)).json()) as { rounds: FLRound[] };
    }
    const privacy = (await (await fetch(`${base}/api/fl/privacy-metrics`)).json()) as {
      encryption: string;
      epsilon: number;
    };
    stop('test over');
    await serving;
    const after = await openStore(db);
    const models = await after.listModelVersions(10, 0);
    await after.close();

    expect(rounds.rounds.some((r) => r.status === 'completed' && r.clients_active === 2)).toBe(true);
    expect(privacy.encryption).toBe('TLS 1.3 (mTLS)');
    expect(privacy.epsilon).toBeGreaterThan(0);
    expect(fleet.received[0]?.config).toMatchObject({ 'proximal-mu': 0.1 });
    expect(models.total).toBeGreaterThanOrEqual(1);
  });
});
