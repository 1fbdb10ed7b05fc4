// Flower's "inflatable object" byte format (flwr 1.42, supercore/inflatable), which its object store and the Fleet
// API's PushObject/PullObject carry:
//
//   <type> SP <child id>,<child id>,... SP <body length in decimal> NUL <body>
//
// and an object's id is the lowercase hex SHA-256 of those bytes. A Message is a tree of such objects (Message ->
// RecordDict -> records -> Array -> ArrayChunk); a parent's header lists its distinct children's ids.
import { createHash } from 'node:crypto';

export type ObjectType =
  'Message' | 'RecordDict' | 'ArrayRecord' | 'MetricRecord' | 'ConfigRecord' | 'Array' | 'ArrayChunk';
const TYPES: readonly string[] = [
  'Message',
  'RecordDict',
  'ArrayRecord',
  'MetricRecord',
  'ConfigRecord',
  'Array',
  'ArrayChunk',
];

/** An object whose bytes do not follow the format, or whose content does not hash to its id. */
export class ObjectFormatError extends Error {
  override readonly name = 'ObjectFormatError';
}

export function objectId(content: Uint8Array): string {
  return createHash('sha256').update(content).digest('hex');
}

export function isObjectId(s: string): boolean {
  return /^[0-9a-f]{64}$/.test(s);
}

/** Builds an object's bytes from its type, the ids of its distinct children (in order) and its body. */
export function deflateObject(type: ObjectType, children: readonly string[], body: Uint8Array): Uint8Array {
  const head = Buffer.from(`${type} ${children.join(',')} ${body.length}`, 'utf8');
  const out = new Uint8Array(head.length + 1 + body.length);
  out.set(head, 0);
  out[head.length] = 0;
  out.set(body, head.length + 1);
  return out;
}

export interface ParsedObject {
  type: ObjectType;
  children: string[];
  body: Uint8Array;
}

/** Splits an object's bytes into type, children and body, checking the format (not the id). */
export function parseObject(content: Uint8Array): ParsedObject {
  const nul = content.indexOf(0);
  if (nul < 0) throw new ObjectFormatError('object has no header (no NUL divider)');
  if (nul > 64 * 1024) throw new ObjectFormatError('object header longer than 64 KiB');
  const head = Buffer.from(content.subarray(0, nul)).toString('utf8');
  const parts = head.split(' ');
  if (parts.length !== 3)
    throw new ObjectFormatError(`object header "${head.slice(0, 80)}" does not have 3 fields`);
  const [type, kids, len] = parts as [string, string, string];
  if (!TYPES.includes(type)) throw new ObjectFormatError(`unknown object type "${type.slice(0, 40)}"`);
  const children = kids === '' ? [] : kids.split(',');
  for (const c of children)
    if (!isObjectId(c)) throw new ObjectFormatError(`child id "${c.slice(0, 80)}" is not a sha256`);
  const body = content.subarray(nul + 1);
  if (!/^\d+$/.test(len) || Number(len) !== body.length) {
    throw new ObjectFormatError(`object body is ${body.length} bytes, header says ${len.slice(0, 20)}`);
  }
  return { type: type as ObjectType, children, body };
}

/**
 * JSON as Python's json.dumps() writes it with default arguments (", " and ": " separators, ensure_ascii), for the
 * bodies of RecordDict, ArrayRecord and Array objects: the bytes must match Flower's for the ids to match.
 */
export function pythonJson(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return pythonString(value);
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error('pythonJson: only integers are supported');
    return String(value);
  }
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  if (value instanceof Map) {
    return `{${[...(value as Map<string, unknown>)].map(([k, v]) => `${pythonString(k)}: ${pythonJson(v)}`).join(', ')}}`;
  }
  if (typeof value === 'object') {
    return `{${Object.entries(value)
      .map(([k, v]) => `${pythonString(k)}: ${pythonJson(v)}`)
      .join(', ')}}`;
  }
  throw new Error(`pythonJson: cannot encode a ${typeof value}`);
}

const SHORT: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\b': '\\b',
  '\f': '\\f',
};

function pythonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    const code = s.charCodeAt(i);
    const short = SHORT[ch];
    if (short) out += short;
    else if (code < 0x20 || code > 0x7e) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}
