// `vigil serve --config FILE`: the same settings as the flags, in a JSON file (documented in
// deploy/aggregator.example.json). Validated at start: an unknown or bad key is named in the error. A flag given on
// the command line wins over the file.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { z } from 'zod';
import { UsageError } from '@vigil/shared';

export const AggregatorConfigSchema = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(0).max(65535),
    db: z.string().min(1),
    data_dir: z.string().min(1),
    cors: z.array(z.string().min(1)),
    anonymous: z.boolean(),
    tls_cert: z.string().min(1),
    tls_key: z.string().min(1),
    insecure_no_tls: z.boolean(),
    rate_limit: z.number().positive(),
    grpc_host: z.string().min(1),
    grpc_port: z.number().int().min(0).max(65535),
    retain_alerts: z.string().min(1),
    retain_aggregates: z.string().min(1),
    neo4j: z.string().min(1),
    neo4j_user: z.string().min(1),
    neo4j_database: z.string().min(1),
  })
  .partial()
  .strict();

export type AggregatorConfig = z.infer<typeof AggregatorConfigSchema>;

/** Reads and validates a config file; throws UsageError naming the file and the offending key. */
export function readAggregatorConfig(path: string): AggregatorConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`cannot read the config file ${path}: ${(err as Error).message}`);
  }
  const parsed = AggregatorConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    if (issue?.code === 'unrecognized_keys') {
      throw new UsageError(`${path}: unknown key "${issue.keys.join('", "')}"`);
    }
    throw new UsageError(`${path}: "${issue?.path.join('.') ?? ''}" ${issue?.message ?? 'is invalid'}`);
  }
  return parsed.data;
}

/** Fills the command's options from the file wherever the command line did not set them. */
export function applyAggregatorConfig(
  cmd: Command,
  raw: Record<string, unknown>,
  file: AggregatorConfig,
): void {
  const camel = (k: string): string => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  for (const [key, value] of Object.entries(file)) {
    const name = camel(key);
    if (cmd.getOptionValueSource(name) === 'cli') continue;
    raw[name] =
      key === 'cors' && Array.isArray(value)
        ? value.join(',')
        : typeof value === 'number'
          ? String(value)
          : value;
  }
}
