// `vigil seed --alerts N`: realistic generated alerts (and recent per-second aggregates) for development, demos
// and benchmarks. Every seeded alert is flagged `generated` in the store.
import { randomInt } from 'node:crypto';
import { InvalidArgumentError, type Command } from 'commander';
import { isFacilityId, shippedCatalog, UsageError } from '@vigil/shared';
import { redactDbUrl } from '../config.js';
import { AlertSeeder } from '../seed/generate.js';
import { addStoreOptions, withStore, type StoreFlags } from './store-options.js';

interface SeedFlags extends StoreFlags {
  alerts: number;
  days: number;
  facilities?: string;
  seed?: number;
  aggregateSeconds: number;
}

const DEFAULT_FACILITIES = [
  { id: 'plant-a', name: 'Plant A (water treatment)' },
  { id: 'plant-b', name: 'Plant B (power substation)' },
  { id: 'plant-c', name: 'Plant C (manufacturing)' },
];
/** Alerts per seedAlerts call (one transaction); ~10 kB each with a full 60-s context. */
const BATCH = 20_000;

function integer(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}.`);
    }
    return n;
  };
}

export function registerSeed(program: Command): void {
  addStoreOptions(
    program
      .command('seed')
      .description('write realistic generated alerts (flagged as generated) for development and demos')
      .requiredOption('--alerts <n>', 'how many alerts to write', integer(0, 10_000_000))
      .option('--days <d>', 'spread the alerts over the last D days', integer(1, 3650), 7)
      .option(
        '--facilities <ids>',
        'comma-separated facility ids (created when missing; default: the existing facilities, else plant-a,plant-b,plant-c)',
      )
      .option('--seed <n>', 'random seed, for the same alerts every time', integer(0, 2 ** 31 - 1))
      .option(
        '--aggregate-seconds <s>',
        'also write this many seconds of per-second traffic aggregates per facility, ending now',
        integer(0, 86_400),
        300,
      ),
  ).action(async (flags: SeedFlags) => {
    const wanted = flags.facilities
      ?.split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    for (const id of wanted ?? []) {
      if (!isFacilityId(id)) {
        throw new UsageError(
          `--facilities: "${id}" is not a facility id; use lowercase letters, digits and -, e.g. plant-a`,
        );
      }
    }
    await withStore(flags, async (store, url) => {
      const existing = new Set((await store.listFacilities()).map((f) => f.id));
      const chosen =
        wanted !== undefined && wanted.length > 0
          ? wanted.map((id) => ({ id, name: id }))
          : existing.size > 0
            ? [...existing].map((id) => ({ id, name: id }))
            : DEFAULT_FACILITIES;
      for (const f of chosen) {
        if (!existing.has(f.id)) await store.addFacility(f);
      }
      const nowMs = Date.now();
      const seeder = new AlertSeeder({
        facilities: chosen.map((f) => f.id),
        nowMs,
        spanSeconds: flags.days * 86_400,
        seed: flags.seed ?? randomInt(2 ** 31 - 1),
        catalog: shippedCatalog(),
        count: flags.alerts,
      });
      let written = 0;
      for (let left = flags.alerts; left > 0; left -= BATCH) {
        written += await store.seedAlerts(seeder.batch(Math.min(BATCH, left)));
      }
      for (const f of chosen) {
        if (flags.aggregateSeconds > 0)
          await store.insertAggregates(seeder.aggregates(f.id, flags.aggregateSeconds));
      }
      process.stdout.write(
        `seeded ${written} generated alerts over ${flags.days} days for ${chosen.map((f) => f.id).join(', ')} ` +
          `into ${redactDbUrl(url)}\n`,
      );
    });
  });
}
