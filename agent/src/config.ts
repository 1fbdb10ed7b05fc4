// The agent's configuration: a JSON file (documented in deploy/agent.example.json) and command-line flags, flags
// winning. Validated once at start; an unknown or bad key is named in the error.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { z } from 'zod';
import { UsageError } from '@vigil/shared';
import type { Suppression } from './detect/correlate.js';
import { MIN_OUTBOX_BYTES } from './outbox/outbox.js';
import { TOPOLOGY_NAMES } from './sim/topology.js';

/** Default learning period of the live sources (--interface, --capture-ring): a whole day of the plant's traffic. */
export const LIVE_LEARN_MINUTES = 24 * 60;
/** Default learning period of a capture file (--pcap), as `vigil-agent replay` has it. */
export const PCAP_LEARN_MINUTES = 5;
/** Longest learning period accepted: 30 days. */
export const MAX_LEARN_MINUTES = 30 * 24 * 60;

/** An IPv4 or IPv6 address, as the decoders print it (IPv6 lower-case). */
const ipAddress = z
  .string()
  .refine((a) => isIP(a) !== 0, 'must be an IPv4 or IPv6 address')
  .transform((a) => (isIP(a) === 6 ? new URL(`http://[${a}]/`).hostname.slice(1, -1) : a));

export const SUPPRESS_KEYS = ['facility', 'host', 'pair', 'rule', 'technique'] as const;

/** `CLIENT>SERVER` (that direction) or `A<>B` (either), addresses as the decoders print them. */
const hostPair = z.string().transform((p, ctx) => {
  const sep = p.includes('<>') ? '<>' : '>';
  const ends = p.split(sep);
  const a = ipAddress.safeParse(ends[0]);
  const b = ipAddress.safeParse(ends[1]);
  if (ends.length !== 2 || !a.success || !b.success) {
    ctx.addIssue({ code: 'custom', message: 'must be CLIENT>SERVER or A<>B with two IP addresses' });
    return z.NEVER;
  }
  return `${a.data}${sep}${b.data}`;
});

/**
 * Which detections the operator drops (an allow-list entry): every key given must match, at least one is given.
 * Dropped detections are counted by rule/technique (agent health `suppressed`), never silently forgotten.
 */
export const SuppressionSchema = z
  .object({
    /** The facility (an agent serves one; lets one file serve several agents). */
    facility: z.string().min(1).max(100).optional(),
    /** Either end of the detection. */
    host: ipAddress.optional(),
    pair: hostPair.optional(),
    /** A rule (e.g. new-service, first-write, scan) or a detector (modbus-policy, models). */
    rule: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'must be a rule or detector name such as new-service')
      .optional(),
    technique: z
      .string()
      .regex(/^T\d{4}(\.\d{3})?$/, 'must be an ATT&CK for ICS technique id such as T0855')
      .optional(),
  })
  .strict()
  .refine((s) => SUPPRESS_KEYS.some((k) => s[k] !== undefined), {
    message: `must name at least one of ${SUPPRESS_KEYS.join(', ')} (an empty entry would drop every detection)`,
  });

/** Parses a flag's `rule=new-service,host=10.0.0.5` into a suppression, validated as the config's entries are. */
export function parseSuppression(text: string): Suppression {
  const s: Record<string, string> = {};
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq);
    if (eq <= 0 || !(SUPPRESS_KEYS as readonly string[]).includes(key) || part.length === eq + 1) {
      throw new UsageError(
        `--suppress "${text}": each part must be KEY=VALUE with KEY one of ${SUPPRESS_KEYS.join(', ')}`,
      );
    }
    s[key] = part.slice(eq + 1);
  }
  const parsed = SuppressionSchema.safeParse(s);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new UsageError(
      `--suppress "${text}": ${i?.path.join('.') ?? ''} ${i?.message ?? 'invalid'}`.trim(),
    );
  }
  return parsed.data;
}

/** How a suppression is written on the command line (for the start log). */
export function describeSuppression(s: Suppression): string {
  return SUPPRESS_KEYS.filter((k) => s[k] !== undefined)
    .map((k) => `${k}=${s[k]}`)
    .join(',');
}

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
    /** --interface: BPF filter of the capture, e.g. to leave out the agent's own uplink ("not port 8443"). */
    capture_filter: z.string().optional(),
    /**
     * --interface: the capture tool. tcpdump reports the kernel's drop counters at every heartbeat; dumpcap only
     * when it stops.
     */
    capture_tool: z.enum(['dumpcap', 'tcpdump']).default('dumpcap'),
    /**
     * Live traffic from the capture helper's ring of files (what it passes to `dumpcap -w`, e.g.
     * /run/vigil-capture/eth1.pcapng; the systemd deployment): the agent itself needs no capture rights.
     */
    capture_ring: z.string().min(1).optional(),
    pcap: z.string().min(1).optional(),
    speed: z.enum(['max', '1x']).default('max'),
    /** Live simulated plant traffic of this topology (see `vigil-agent sim --list`), paced on the wall clock. */
    sim: z.enum(TOPOLOGY_NAMES as [string, ...string[]]).optional(),
    /** The simulation's seed (same seed and topology, same plant). */
    seed: z.number().int().min(0).max(0xffffffff).default(1),
    /** Minutes of normal traffic simulated as fast as possible before going live, to learn the baseline. */
    warmup_minutes: z
      .number()
      .positive()
      .max(24 * 60)
      .default(10),
    /** --sim: take part in federated rounds (Layer 2, trained locally with DP-SGD on the plant's own data). */
    federated: z.boolean().default(true),
    /** Run the Layer 1/2 models (agent/src/detect/ml) beside the rules; false: rules only. */
    models: z.boolean().default(true),
    /**
     * --interface, --capture-ring and --pcap: learn the baseline from the first N minutes of the source (default:
     * LIVE_LEARN_MINUTES for the live sources, PCAP_LEARN_MINUTES for a capture file); 0 learns nothing (only the
     * declared facts are known). Once learnt, the baseline is kept in the data dir and a restart does not learn again.
     */
    learn_minutes: z.number().min(0).max(MAX_LEARN_MINUTES).optional(),
    /**
     * --interface, --capture-ring and --pcap: while the learning period runs, what was learnt so far (the rules'
     * baseline and the models' learning) is stored in the data dir every N seconds of wall time, and at a clean stop;
     * a restart resumes the period from it. A hard kill loses at most the last N seconds of learning.
     */
    checkpoint_seconds: z.number().min(1).max(86_400).default(300),
    /**
     * Hosts that act as Modbus masters (e.g. the engineering workstation), declared by the operator: a baseline fact,
     * as if each had polled while learning. Not an allow-list: what such a host does is still judged (a device it
     * never addressed, a function or write address never used, a value out of a register's range, a flood).
     */
    known_masters: z.array(ipAddress).max(1000).default([]),
    /** Modbus pairs and the function codes they use, declared by the operator (baseline facts, as known_masters). */
    known_modbus: z
      .array(
        z
          .object({
            master: ipAddress,
            slave: ipAddress,
            functions: z.array(z.number().int().min(1).max(127)).min(1),
          })
          .strict(),
      )
      .max(10_000)
      .default([]),
    /**
     * Detections to drop (allow-list entries: a host pair, rule or technique the plant accepts), each
     * `{"rule": ..., "technique": ..., "host": IP, "pair": "A>B" | "A<>B", "facility": ...}`; counted in the agent
     * health (`suppressed`), never forgotten.
     */
    suppress: z.array(SuppressionSchema).max(1000).default([]),
    /** --interface and --pcap: learn the baseline from this capture of the same network instead. */
    baseline: z.string().min(1).optional(),
    /** Only the baseline capture's first N seconds. */
    baseline_seconds: z.number().positive().optional(),
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
  if (issue.code === 'unrecognized_keys') {
    const at = issue.path.length > 0 ? `${issue.path.join('.')}.` : '';
    return `${where}: unknown key "${issue.keys.map((k) => at + k).join('", "')}"`;
  }
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
    // A misspelt key first: it is why a required key is missing.
    const issues = parsed.error.issues;
    const issue = issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0];
    throw new UsageError(issue ? describe(issue, where) : `${where}: invalid configuration`);
  }
  const c = parsed.data;
  const sources = [c.alerts_in, c.interface, c.capture_ring, c.pcap, c.sim].filter((s) => s !== undefined);
  if (sources.length !== 1) {
    throw new UsageError(
      `${where}: give exactly one source: --alerts-in FILE, --interface IF, --capture-ring PATH, --pcap FILE or ` +
        '--sim TOPOLOGY',
    );
  }
  const given = (k: string): boolean => merged[k] !== undefined;
  const only = (keys: string[], allowed: boolean, what: string): void => {
    const k = keys.find(given);
    if (k !== undefined && !allowed) throw new UsageError(`${where}: "${k}" applies to ${what} only`);
  };
  only(['seed', 'warmup_minutes'], c.sim !== undefined, 'the --sim source');
  only(['speed'], c.pcap !== undefined, 'the --pcap source');
  only(['capture_filter', 'capture_tool'], c.interface !== undefined, 'the --interface source');
  only(['exit_when_delivered'], c.alerts_in !== undefined || c.pcap !== undefined, '--alerts-in and --pcap');
  only(
    ['learn_minutes', 'baseline', 'baseline_seconds', 'checkpoint_seconds'],
    c.interface !== undefined || c.capture_ring !== undefined || c.pcap !== undefined,
    'the --interface, --capture-ring and --pcap sources (--sim learns from its warm-up)',
  );
  only(['known_masters', 'known_modbus', 'suppress'], c.alerts_in === undefined, 'the packet sources');
  if (c.baseline_seconds !== undefined && c.baseline === undefined) {
    throw new UsageError(`${where}: "baseline_seconds" needs "baseline" (a capture to learn from)`);
  }
  if (c.learn_minutes !== undefined && c.baseline !== undefined) {
    throw new UsageError(`${where}: give "learn_minutes" or "baseline", not both`);
  }
  return c;
}
