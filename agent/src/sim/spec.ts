// Parses the command line's attack specs: NAME@TIME[:key=value,...], e.g. `port-scan@120s`,
// `modbus-setpoint-write@5m:src=10.10.1.11,target=10.10.2.12,duration=90s,rate=2`. Times take s, m or h (bare
// numbers are seconds). Validated with zod; errors name the spec and what is wrong.
import { z } from 'zod';
import { ATTACK_NAMES, isAttackName, type AttackSpec } from './attacks.js';

const duration = z
  .string()
  .regex(/^\d+(\.\d+)?(s|m|h)?$/, 'a time like 90, 90s, 2m or 1h')
  .transform((s) => {
    const n = parseFloat(s);
    return s.endsWith('h') ? n * 3600 : s.endsWith('m') ? n * 60 : n;
  });

const ipv4 = z
  .string()
  .regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/, 'an IPv4 address')
  .refine((s) => s.split('.').every((p) => Number(p) <= 255), 'an IPv4 address');

const options = z
  .object({
    src: ipv4.optional(),
    target: ipv4.optional(),
    duration: duration.refine((d) => d > 0, 'a positive duration').optional(),
    rate: z.coerce.number().positive().max(100).optional(),
  })
  .strict();

/** Parses one spec; throws an Error with a one-line message on bad input. */
export function parseAttackSpec(text: string): AttackSpec {
  const m = /^([a-z0-9-]+)@([^:]+)(?::(.*))?$/.exec(text);
  if (m === null)
    throw new Error(`attack "${text}": expected NAME@TIME[:key=value,...], e.g. port-scan@120s`);
  const [, name = '', time = '', rest] = m;
  if (!isAttackName(name))
    throw new Error(`attack "${text}": unknown attack ${name} (known: ${ATTACK_NAMES.join(', ')})`);
  const at = duration.safeParse(time);
  if (!at.success) throw new Error(`attack "${text}": start ${time} is not a time like 90, 90s, 2m or 1h`);
  const kv: Record<string, string> = {};
  for (const part of rest === undefined || rest === '' ? [] : rest.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`attack "${text}": option "${part}" is not key=value`);
    kv[part.slice(0, eq)] = part.slice(eq + 1);
  }
  const o = options.safeParse(kv);
  if (!o.success) {
    const issue = o.error.issues[0];
    const where = issue?.path.join('.') ?? '';
    throw new Error(
      `attack "${text}": ${where === '' ? '' : `${where}: `}${issue?.message ?? 'bad options'} (options: src, target, duration, rate)`,
    );
  }
  return {
    attack: name,
    atS: at.data,
    durationS: o.data.duration,
    src: o.data.src,
    target: o.data.target,
    rate: o.data.rate,
  };
}
