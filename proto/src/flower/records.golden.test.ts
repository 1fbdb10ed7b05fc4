// Golden tests: our deflated messages (every object's bytes and sha256 id) equal what flwr 1.42's own Python code
// computes for the same messages (flower_oracle.py, run in the venv of deploy/python-venv.sh). Runtime: about 5 s
// (two Python runs; the first run of the suite also creates the venv, a few minutes).
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { oraclePython } from '@vigil/shared/testing';
import {
  arrayFromTensor,
  deflateMessage,
  inflateMessage,
  tensorFromArray,
  type ConfigValue,
  type FlMessage,
  type Metadata,
  type MetricValue,
} from './records.js';

const oracle = fileURLToPath(new URL('./flower_oracle.py', import.meta.url));
let python = '';

beforeAll(() => {
  python = oraclePython();
  if (python === '') return;
}, 600_000);

type Spec = Record<string, unknown>;

/** One message, described both for us and for the oracle. */
interface Case {
  name: string;
  message: FlMessage;
  spec: Spec;
}

function specValue(v: MetricValue | ConfigValue): Spec {
  if (Array.isArray(v)) return { list: (v as (MetricValue | ConfigValue)[]).map(specValue) };
  if (typeof v === 'number') return { float: v };
  if (typeof v === 'bigint') return { int: v.toString() };
  if (typeof v === 'boolean') return { bool: v };
  if (typeof v === 'string') return { str: v };
  return { bytes: Buffer.from(v).toString('hex') };
}

function metadataSpec(m: Metadata): Spec {
  return {
    run_id: m.runId,
    src_node_id: m.srcNodeId,
    dst_node_id: m.dstNodeId,
    reply_to_message_id: m.replyToMessageId,
    group_id: m.groupId,
    created_at: m.createdAt,
    ttl: m.ttl,
    message_type: m.messageType,
    src_task_id: m.srcTaskId ?? null,
    dst_task_id: m.dstTaskId ?? null,
  };
}

function makeCase(
  name: string,
  metadata: Metadata,
  content: {
    arrays?: [string, Record<string, { shape: number[]; values: number[] }>];
    records?: [string, 'metric' | 'config', Record<string, MetricValue | ConfigValue>][];
  } | null,
  error?: { code: bigint; reason: string },
): Case {
  if (error) {
    return {
      name,
      message: { metadata, content: null, error },
      spec: {
        metadata: metadataSpec(metadata),
        error: { code: error.code.toString(), reason: error.reason },
      },
    };
  }
  const rd: FlMessage['content'] = new Map();
  const specContent: Spec = {};
  if (content?.arrays) {
    const [key, arrays] = content.arrays;
    rd.set(key, {
      kind: 'array',
      items: new Map(
        Object.entries(arrays).map(([k, a]) => [k, arrayFromTensor(a.shape, Float32Array.from(a.values))]),
      ),
    });
    specContent[key] = { kind: 'array', items: arrays };
  }
  for (const [key, kind, items] of content?.records ?? []) {
    const entries = Object.entries(items);
    rd.set(
      key,
      kind === 'metric'
        ? { kind, items: new Map(entries as [string, MetricValue][]) }
        : { kind, items: new Map(entries as [string, ConfigValue][]) },
    );
    specContent[key] = { kind, items: Object.fromEntries(entries.map(([k, v]) => [k, specValue(v)])) };
  }
  return {
    name,
    message: { metadata, content: rd, error: null },
    spec: { metadata: metadataSpec(metadata), content: specContent },
  };
}

const instruction: Metadata = {
  runId: '5160001084387968025',
  messageId: '',
  srcNodeId: '1',
  dstNodeId: '16045212617395371234',
  replyToMessageId: '',
  groupId: '2',
  ttl: 43200,
  messageType: 'train',
  createdAt: 1763800123.456789,
  srcTaskId: '16749764279498748725',
};

const values = (n: number, scale: number) =>
  Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + scale) * scale);

const CASES: Case[] = [
  makeCase('a FedAvg train instruction', instruction, {
    arrays: [
      'arrays',
      {
        '0.kernel': { shape: [4, 3], values: values(12, 0.5) },
        '0.bias': { shape: [3], values: values(3, 0.1) },
        scalar: { shape: [], values: [2.5] },
        empty: { shape: [0, 2], values: [] },
      },
    ],
    records: [
      [
        'config',
        'config',
        {
          'server-round': 3n,
          lr: 0.01,
          proximal: false,
          name: 'vigil ü ✓',
          blob: Uint8Array.from([0, 1, 255]),
          negative: -42n,
          huge: 18446744073709551615n,
          floats: [0.5, -1.25],
          ints: [1n, -2n],
          flags: [true, false],
          words: ['a', 'b'],
          none: [],
        },
      ],
    ],
  }),
  makeCase(
    'a client reply with arrays and metrics',
    {
      ...instruction,
      srcNodeId: instruction.dstNodeId,
      dstNodeId: '1',
      replyToMessageId: 'c0d2faac4ece4051b696a8ebcdc741691097d6ae3c4e55fd5a5bff9c5373d27a',
      createdAt: 1763800130.5,
      ttl: 43192.956789,
      srcTaskId: undefined,
      dstTaskId: '16749764279498748725',
    },
    {
      arrays: ['arrays', { w: { shape: [2, 2], values: [0.25, -0.5, 1e-8, 3.4e38] } }],
      records: [
        ['metrics', 'metric', { 'num-examples': 480n, loss: 0.6931, accuracy: 0.75, trace: [0.1, 0.2] }],
      ],
    },
  ),
  makeCase(
    'an evaluate instruction with an empty record dict',
    { ...instruction, messageType: 'evaluate' },
    {},
  ),
  makeCase('an error reply', { ...instruction, srcTaskId: undefined }, null, {
    code: 3n,
    reason: 'ClientApp failed',
  }),
];

// Arrays longer than one chunk, with repeated chunks (zeros), under a 64-byte chunk size.
const CHUNKED = makeCase('a message whose arrays span several chunks', instruction, {
  arrays: [
    'arrays',
    {
      zeros: { shape: [40], values: new Array<number>(40).fill(0) },
      w: { shape: [5, 7], values: values(35, 2) },
    },
  ],
});

async function oracleRun(
  cases: Case[],
  chunkSize?: number,
): Promise<{ message_id: string; objects: [string, string][] }[]> {
  const env = {
    ...process.env,
    ...(chunkSize ? { FLWR_PRIVATE_MAX_ARRAY_CHUNK_SIZE: String(chunkSize) } : {}),
  };
  const run = promisify(execFile)(python, [oracle], { timeout: 60_000, maxBuffer: 1 << 24, env });
  run.child.stdin?.end(JSON.stringify(cases.map((c) => c.spec)));
  const { stdout } = await run;
  return JSON.parse(stdout) as { message_id: string; objects: [string, string][] }[];
}

function ours(c: Case, chunkSize?: number) {
  const d = deflateMessage(c.message, chunkSize);
  return {
    message_id: d.messageId,
    objects: [...d.objects].map(([id, b]) => [id, Buffer.from(b).toString('hex')]),
  };
}

describe('Flower message objects against flwr 1.42', () => {
  it('gives every object the bytes and sha256 id flwr computes', async (ctx) => {
    if (!python) ctx.skip();
    const want = await oracleRun(CASES);
    CASES.forEach((c, i) => expect(ours(c), c.name).toEqual(want[i]));
  }, 120_000);

  it('chunks arrays and lists repeated chunks once, as flwr does', async (ctx) => {
    if (!python) ctx.skip();
    const [want] = await oracleRun([CHUNKED], 64);
    const got = ours(CHUNKED, 64);
    expect(got.objects.length).toBeGreaterThan(4);
    expect(got).toEqual(want);
  }, 120_000);
});

describe('inflating our own deflated messages', () => {
  it('gives back the metadata, records and tensors that went in', () => {
    const c = CASES[1]!;
    const d = deflateMessage(c.message);
    const back = inflateMessage({ ...c.message.metadata, messageId: d.messageId }, d.objects);
    expect(back.content).toEqual(c.message.content);
    const w = back.content?.get('arrays');
    if (w?.kind !== 'array') throw new Error('arrays record missing');
    const t = tensorFromArray(w.items.get('w')!);
    expect(t.shape).toEqual([2, 2]);
    expect([...t.data]).toEqual([...Float32Array.from([0.25, -0.5, 1e-8, 3.4e38])]);
  });

  it('refuses an object whose content does not hash to its id', () => {
    const c = CASES[0]!;
    const d = deflateMessage(c.message);
    const [firstId, firstBytes] = [...d.objects][0]!;
    const tampered = Uint8Array.from(firstBytes);
    tampered[tampered.length - 1]! ^= 1;
    const objects = new Map(d.objects).set(firstId, tampered);
    expect(() => inflateMessage({ ...c.message.metadata, messageId: d.messageId }, objects)).toThrow(
      /hashing to/,
    );
  });

  it('refuses a message with a missing object', () => {
    const c = CASES[0]!;
    const d = deflateMessage(c.message);
    const objects = new Map(d.objects);
    objects.delete([...d.objects.keys()][0]!);
    expect(() => inflateMessage({ ...c.message.metadata, messageId: d.messageId }, objects)).toThrow(
      /missing/,
    );
  });
});
