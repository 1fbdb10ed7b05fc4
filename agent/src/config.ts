// The agent's configuration: a JSON file (documented in deploy/agent.example.json) and command-line flags, flags
// winning. Validated once at start; an unknown or bad key is named in the error.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { UsageError } from '@vigil/shared';
import { MIN_OUTBOX_BYTES } from './outbox/outbox.js';

export const AgentConfigSchema = z
  .object({
    /** HOST:PORT of the aggregator's agent port (default: where the agent enrolled). */
    aggregator: z.string().min(3).optional(),
    /** Where the identity, the outbox and the models live. */
    data_dir: z.string().min(1),
    /** Alerts to forward from a JSON-lines file. */
    alerts_in: z.string().min(1).optional(),
    /** Exit once everything read from alerts_in is acknowledged (scripted replays). */
    exit_when_delivered: z.boolean().default(false),
    /** Live capture interface, or a capture file to replay (the capture pipeline). */
    interface: z.string().min(1).optional(),
    pcap: z.string().min(1).optional(),
    speed: z.enum(['max', '1x']).default('max'),
    /** Upper bound of the outbox database, bytes. */
    outbox_max_bytes: z
      .number()
      .int()
      .min(MIN_OUTBOX_BYTES)
      .default(256 * 1024 * 1024),
    /** Heartbeat period, seconds. */
    heartbeat_seconds: z.number().min(0.1).max(300).default(5),
  })
  .strict();

export type AgentConfig = z.infer<typeof AgentConfigSchema>;

function describe(issue: z.core.$ZodIssue, where: string): string {
  if (issue.code === 'unrecognized_keys') return `${where}: unknown key "${issue.keys.join('", "')}"`;
  const key = issue.path.join('.') || '(top level)';
  return `${where}: "${key}" ${issue.message}`;
}

/** Reads a config file (JSON); throws UsageError naming the file and the offending key. */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the config file ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new UsageError(`config file ${path} must hold a JSON object`);
  }
  return raw as Record<string, unknown>;
}

/** Merges file and flags (flags win) and validates the result. */
export function resolveAgentConfig(
  file: Record<string, unknown>,
  flags: Record<string, unknown>,
  where: string,
): AgentConfig {
  const merged: Record<string, unknown> = { ...file };
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) merged[k] = v;
  const parsed = AgentConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(issue ? describe(issue, where) : `${where}: invalid configuration`);
  }
  const c = parsed.data;
  const sources = [c.alerts_in, c.interface, c.pcap].filter((s) => s !== undefined);
  if (sources.length !== 1) {
    throw new UsageError(
      `${where}: give exactly one source: --alerts-in FILE, --interface IF or --pcap FILE`,
    );
  }
  return c;
}
