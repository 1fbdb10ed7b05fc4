// The tshark oracle: every shared capture is decoded by `vigil-agent decode` and by tshark, and the Modbus fields
// (transaction id, unit id, function code, exception code) are compared frame by frame. Remaining differences are
// listed below with their reason; anything else fails.
import { execFile } from 'node:child_process';
import { basename } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { hasCommand, needComponent } from '@vigil/shared/testing';
import { SHARED_PCAPS, sharedCaptures } from '../testing-paths.js';
import { runDecode } from './decode.js';

const run = promisify(execFile);

/**
 * Frames where we knowingly differ from tshark 4.0, as `file#frame` -> reason. In all three tshark flags the
 * segment as a retransmission and does not dissect it; we decode the bytes we had not seen yet.
 */
const KNOWN_DIFFERENCES: Record<string, string> = {
  'iti_ModbusTCP_mb2.pcap#1131':
    'retransmission that also carries 48 new bytes (4 requests after an incomplete 12-byte PDU); tshark skips the whole segment, we decode the new bytes',
  'iti_ModbusTCP_mb2.pcap#13176':
    'retransmission that extends past the data seen before; tshark skips it, we decode the bytes not seen before',
  'iti_bro_modbus_modbusBig.pcap#3150':
    'spurious retransmission whose original is missing from the capture (the peer had acked it); tshark skips it, we decode the only copy captured',
};

/** frame -> "trans;unit;fc;exceptions" with lists comma-joined, in PDU order. */
type FrameFields = Map<number, string>;

async function tsharkFields(file: string): Promise<FrameFields> {
  const { stdout } = await run(
    'tshark',
    [
      '-r',
      file,
      '-Y',
      'mbtcp or mqtt or dns or http',
      '-T',
      'fields',
      '-E',
      'separator=;',
      '-E',
      'aggregator=,',
      '-e',
      'frame.number',
    ].concat(
      [
        '-e',
        'mbtcp.trans_id',
        '-e',
        'mbtcp.unit_id',
        '-e',
        'modbus.func_code',
        '-e',
        'modbus.exception_code',
      ],
      APP_FIELDS.flatMap((f) => ['-e', f]),
    ),
    { maxBuffer: 256 * 1024 * 1024 },
  );
  const out: FrameFields = new Map();
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    const [frame, ...rest] = line.split(';');
    out.set(Number(frame), rest.join(';'));
  }
  return out;
}

/** tshark fields of the other application protocols, compared after the Modbus ones (see appColumns). */
const APP_FIELDS = [
  'mqtt.msgtype',
  'mqtt.topic',
  'dns.qry.name',
  'dns.qry.type',
  'http.request.method',
  'http.request.uri',
  'http.response.code',
];

interface AppJson {
  mqtt?: { msgtype: number; topic?: string; topics?: string[] }[];
  dns?: { questions: { name: string; type: number }[] }[];
  http?: { method?: string; uri?: string; status?: number }[];
}

/** Our columns for APP_FIELDS: lists comma-joined in PDU order, as tshark aggregates them. */
function appColumns(o: AppJson): string[] {
  const mqtt = o.mqtt ?? [];
  const q = (o.dns ?? []).flatMap((d) => d.questions);
  const http = o.http ?? [];
  const list = <T>(xs: (T | undefined)[]): string => xs.filter((x) => x !== undefined).join(',');
  return [
    list(mqtt.map((m) => m.msgtype)),
    list(mqtt.flatMap((m) => (m.topic !== undefined ? [m.topic] : (m.topics ?? [])))),
    list(q.map((x) => x.name)),
    list(q.map((x) => x.type)),
    list(http.map((h) => h.method)),
    list(http.map((h) => h.uri)),
    list(http.map((h) => h.status)),
  ];
}

interface ModbusJson {
  trans_id: number;
  unit_id: number;
  func_code: number;
  exception_code?: number;
}

async function ourFields(file: string): Promise<FrameFields> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await runDecode(file, { format: 'jsonl', stats: false }, out, new PassThrough());
  const fields: FrameFields = new Map();
  for (const line of Buffer.concat(chunks).toString('utf8').split('\n')) {
    if (line === '') continue;
    const o = JSON.parse(line) as { frame: number; modbus?: ModbusJson[] } & AppJson;
    const m = o.modbus ?? [];
    fields.set(
      o.frame,
      [
        m.map((x) => x.trans_id).join(','),
        m.map((x) => x.unit_id).join(','),
        m.map((x) => x.func_code).join(','),
        m.flatMap((x) => (x.exception_code === undefined ? [] : [x.exception_code])).join(','),
        ...appColumns(o),
      ].join(';'),
    );
  }
  return fields;
}

const haveTshark = needComponent(
  'tshark',
  hasCommand('tshark'),
  'apt-get install tshark (deploy/install-test-deps.sh)',
);
const captures = sharedCaptures();
const havePcaps = needComponent('shared captures', captures.length > 0, `expected at ${SHARED_PCAPS}`);

describe.skipIf(!haveTshark || !havePcaps)('decode agrees with tshark on every shared capture', () => {
  it.each(captures.map((f) => [basename(f), f]))('%s', async (name, file) => {
    const [theirs, ours] = await Promise.all([tsharkFields(file), ourFields(file)]);
    const differences: string[] = [];
    for (const frame of new Set([...theirs.keys(), ...ours.keys()])) {
      const t = theirs.get(frame);
      const o = ours.get(frame);
      if (t === o) continue;
      if (KNOWN_DIFFERENCES[`${name}#${frame}`] !== undefined) continue;
      differences.push(`frame ${frame}: tshark ${t ?? '-'} ours ${o ?? '-'}`);
    }
    expect(differences).toEqual([]);
    // A listed difference that no longer occurs must be removed from the list.
    for (const key of Object.keys(KNOWN_DIFFERENCES).filter((k) => k.startsWith(`${name}#`))) {
      const frame = Number(key.split('#')[1]);
      expect(theirs.get(frame), key).not.toEqual(ours.get(frame));
    }
  });
});
