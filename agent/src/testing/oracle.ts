// The tshark oracle's two sides, shared by the shared-capture and the live-capture tests: tshark field extraction
// and `vigil-agent decode --format jsonl`, each reduced to one string per frame (Modbus trans_id, unit_id,
// func_code, exception code; MQTT msgtype and topics; DNS query names and types; HTTP method, URI and status).
import { execFile } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { runDecode } from '../cli/decode.js';

const run = promisify(execFile);

/** frame -> "trans;unit;fc;exceptions" with lists comma-joined, in PDU order. */
export type FrameFields = Map<number, string>;

export async function tsharkFields(file: string): Promise<FrameFields> {
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

export async function ourFields(file: string): Promise<FrameFields> {
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
