// Live capture with real peers: dumpcap captures loopback while real programs talk - Mosquitto with MQTT 3.1, 3.1.1
// and 5.0 clients, dnsmasq answering dig over UDP and TCP, curl against a node:http server, and our own Modbus/TCP
// client and server. The capture is kept in test-artifacts/live-peers/ and run through the same tshark oracle as
// the shared captures; every protocol must reach a minimum number of PDUs so the test cannot pass empty.
// Only loopback addresses; every step is bounded in time (~10 s in all).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, needComponent } from '@vigil/shared/testing';
import type { DnsEvent } from '../decode/dns.js';
import type { HttpEvent } from '../decode/http.js';
import type { MqttEvent } from '../decode/mqtt.js';
import { runModbusClient, startModbusServer, type ModbusRequest } from '../testing/modbus-peer.js';
import { ourFields, tsharkFields } from '../testing/oracle.js';
import { portOpen, runCommand, startDaemon, waitUntil, type Daemon } from '../testing/processes.js';
import { REPO_ROOT } from '../testing-paths.js';
import { runDecode } from './decode.js';

const MQTT_HOST = '127.0.83.1';
const DNS_HOST = '127.0.53.1';
const HTTP_HOST = '127.0.80.1';
const HTTP_PORT = 8080;
const MODBUS_HOST = '127.0.2.1';
const DIR = join(REPO_ROOT, 'test-artifacts', 'live-peers');
const CAPTURE = join(DIR, 'live.pcapng');
/** Minimum application PDUs per protocol in the capture (tshark's count and ours). */
const MINIMUM = { modbus: 40, mqtt: 20, dns: 8, http: 8 };

const tools = ['dumpcap', 'tshark', 'mosquitto', 'mosquitto_pub', 'mosquitto_sub', 'dnsmasq', 'dig', 'curl'];
const missing = tools.filter((t) => !hasCommand(t));
const root = process.getuid?.() === 0;
const haveTools = needComponent(
  `live capture peers as root (${missing.join(', ') || 'all tools present'}${root ? '' : ', not root'})`,
  missing.length === 0 && root,
  'bash deploy/install-test-deps.sh (Debian: wireshark-common, tshark, mosquitto, mosquitto-clients, dnsmasq-base, bind9-dnsutils, curl); run as root (capture on lo, ports 53 and 502)',
);

interface FrameJson {
  frame: number;
  modbus?: unknown[];
  mqtt?: Omit<MqttEvent, 'protocol' | 'frame' | 'ts' | 'flow'>[];
  dns?: Omit<DnsEvent, 'protocol' | 'frame' | 'ts' | 'flow'>[];
  http?: Omit<HttpEvent, 'protocol' | 'frame' | 'ts' | 'flow'>[];
}

function httpServer(): Server {
  return createServer((req, res) => {
    if (req.url === '/chunked') {
      res.write('first part\n');
      res.write('second part\n');
      res.end();
    } else if (req.url === '/missing') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not here');
    } else {
      let n = 0;
      req.on('data', (d: Buffer) => (n += d.length));
      req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end(`${req.method} ${n}\n`));
    }
  });
}

async function mqttTraffic(): Promise<void> {
  const h = ['-h', MQTT_HOST];
  const sub = runCommand('mosquitto_sub', [
    ...h,
    '-V',
    'mqttv5',
    '-i',
    'sub-v5',
    '-t',
    'plant/#',
    '-C',
    '4',
    '-W',
    '10',
  ]);
  // Let the subscription land before publishing.
  await sleep(400);
  await runCommand('mosquitto_pub', [
    ...h,
    '-V',
    'mqttv311',
    '-i',
    'pub-v311',
    '-q',
    '1',
    '-t',
    'plant/tank1',
    '-m',
    '42',
  ]);
  await runCommand('mosquitto_pub', [
    ...h,
    '-V',
    'mqttv311',
    '-i',
    'pub-v311r',
    '-r',
    '-t',
    'plant/tank2',
    '-m',
    '7',
  ]);
  await runCommand('mosquitto_pub', [
    ...h,
    '-V',
    'mqttv5',
    '-i',
    'pub-v5',
    '-q',
    '2',
    '-t',
    'plant/pump',
    '-m',
    'on',
    '-D',
    'publish',
    'user-property',
    'site',
    'a',
    '-D',
    'publish',
    'message-expiry-interval',
    '60',
  ]);
  await runCommand('mosquitto_pub', [
    ...h,
    '-V',
    'mqttv31',
    '-i',
    'pub-v31',
    '-u',
    'op',
    '-P',
    'pw',
    '-t',
    'plant/valve',
    '-m',
    'x',
  ]);
  await sub;
  await runCommand('mosquitto_sub', [
    ...h,
    '-V',
    'mqttv5',
    '-i',
    'unsub-v5',
    '-c',
    '-t',
    'plant/x',
    '-U',
    'plant/x',
    '-E',
  ]);
  await runCommand('mosquitto_sub', [
    ...h,
    '-V',
    'mqttv311',
    '-i',
    'unsub-v311',
    '-c',
    '-t',
    'plant/y',
    '-U',
    'plant/y',
    '-E',
  ]);
}

async function dnsTraffic(): Promise<void> {
  const d = (...args: string[]): Promise<string> =>
    runCommand('dig', ['@' + DNS_HOST, '-b', '127.0.0.1', '+tries=1', '+time=2', ...args]);
  await d('plc1.plant.local', 'A');
  await d('plc1.plant.local', 'AAAA');
  await d('hmi.plant.local', 'TXT');
  await d('nothere.test', 'A');
  await d('+tcp', 'plc1.plant.local', 'A');
  await d('+tcp', 'gone.test', 'MX');
}

async function httpTraffic(): Promise<void> {
  const base = `http://${HTTP_HOST}:${HTTP_PORT}`;
  const c = (...args: string[]): Promise<string> =>
    runCommand('curl', ['-s', '-o', '/dev/null', '--max-time', '5', ...args]);
  await c('-A', 'vigil-live/1', `${base}/status?x=1`);
  await c(`${base}/chunked`);
  await c(`${base}/missing`);
  await c('-d', 'setpoint=12', `${base}/api/setpoint`);
  // Two requests over one kept-alive connection.
  await c(`${base}/a`, '-o', '/dev/null', `${base}/b`);
}

const MODBUS_REQUESTS: ModbusRequest[] = [];
for (let i = 0; i < 8; i++) {
  MODBUS_REQUESTS.push({ unit: 1, fc: 3, data: [0, i * 10, 0, 4] });
  MODBUS_REQUESTS.push({ unit: 1, fc: 6, data: [0, i, 0, i * 3] });
  MODBUS_REQUESTS.push({ unit: 2, fc: 16, data: [0, 100, 0, 2, 4, 0, 1, 0, 2] });
}
MODBUS_REQUESTS.push({ unit: 1, fc: 43, data: [14, 1, 0] });

describe.skipIf(!haveTools)('live capture of real peers agrees with tshark', () => {
  let ours = new Map<number, string>();
  let theirs = new Map<number, string>();
  let frames: FrameJson[] = [];
  let counters: Record<string, number> = {};

  beforeAll(async () => {
    rmSync(DIR, { recursive: true, force: true });
    mkdirSync(DIR, { recursive: true });
    const filter = [MQTT_HOST, DNS_HOST, HTTP_HOST, MODBUS_HOST].map((a) => `host ${a}`).join(' or ');
    const daemons: Daemon[] = [];
    const capture = startDaemon('dumpcap', [
      '-i',
      'lo',
      '-f',
      filter,
      '-w',
      CAPTURE,
      '-q',
      '-a',
      'duration:120',
    ]);
    const http = httpServer();
    let modbus: Awaited<ReturnType<typeof startModbusServer>> | undefined;
    try {
      await waitUntil(() => capture.stderr().includes('Capturing on'), 'dumpcap to start capturing');
      writeFileSync(join(DIR, 'mosquitto.conf'), `listener 1883 ${MQTT_HOST}\nallow_anonymous true\n`);
      daemons.push(startDaemon('mosquitto', ['-c', join(DIR, 'mosquitto.conf')]));
      daemons.push(
        startDaemon('dnsmasq', [
          '-k',
          '--conf-file=/dev/null',
          '--port=53',
          `--listen-address=${DNS_HOST}`,
          '--bind-interfaces',
          '--no-resolv',
          '--no-hosts',
          '--user=root',
          '--pid-file=',
          '--address=/plant.local/10.1.2.3',
          '--txt-record=hmi.plant.local,"vigil"',
          '--local=/test/',
        ]),
      );
      await new Promise<void>((resolve, reject) => {
        http.once('error', reject);
        http.listen(HTTP_PORT, HTTP_HOST, resolve);
      });
      modbus = await startModbusServer(MODBUS_HOST, 502);
      await waitUntil(() => portOpen(MQTT_HOST, 1883), 'mosquitto on 1883');
      await waitUntil(() => portOpen(DNS_HOST, 53), 'dnsmasq on 53');
      await mqttTraffic();
      await dnsTraffic();
      await httpTraffic();
      const answers = await runModbusClient(MODBUS_HOST, 502, MODBUS_REQUESTS);
      expect(answers).toHaveLength(MODBUS_REQUESTS.length);
      // Let the last packets reach the capture before it stops.
      await sleep(300);
    } finally {
      await capture.stop();
      for (const d of daemons) await d.stop();
      http.closeAllConnections();
      http.close();
      await modbus?.close();
    }
    [theirs, ours] = await Promise.all([tsharkFields(CAPTURE), ourFields(CAPTURE)]);
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    const { pipeline } = await runDecode(CAPTURE, { format: 'jsonl', stats: false }, out, new PassThrough());
    counters = pipeline.counters;
    frames = Buffer.concat(chunks)
      .toString('utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as FrameJson);
  }, 90_000);

  it('decodes every frame as tshark does', () => {
    const differences: string[] = [];
    for (const frame of new Set([...theirs.keys(), ...ours.keys()])) {
      if (theirs.get(frame) !== ours.get(frame)) {
        differences.push(`frame ${frame}: tshark ${theirs.get(frame) ?? '-'} ours ${ours.get(frame) ?? '-'}`);
      }
    }
    expect(differences).toEqual([]);
  });

  it('captured at least the minimum number of PDUs of every protocol, with no malformed input', () => {
    const count = (p: keyof typeof MINIMUM): number => frames.reduce((n, f) => n + (f[p]?.length ?? 0), 0);
    for (const p of Object.keys(MINIMUM) as (keyof typeof MINIMUM)[]) {
      expect(count(p), p).toBeGreaterThanOrEqual(MINIMUM[p]);
    }
    expect(
      Object.keys(counters).filter(
        (k) => /^(mqtt|dns|http|modbus)\./.test(k) && !k.endsWith('retransmission'),
      ),
    ).toEqual([]);
  });

  it('saw MQTT 3.1, 3.1.1 and 5.0 clients with their client ids, and v5 properties', () => {
    const mqtt = frames.flatMap((f) => f.mqtt ?? []);
    const connects = mqtt.filter((m) => m.msgtype === 1);
    expect(new Set(connects.map((c) => c.version))).toEqual(new Set([3, 4, 5]));
    expect(connects.map((c) => c.client_id)).toContain('pub-v5');
    expect(connects.find((c) => c.client_id === 'pub-v31')?.username_present).toBe(true);
    const v5pub = mqtt.find((m) => m.msgtype === 3 && m.topic === 'plant/pump' && !m.is_response);
    expect(v5pub?.properties?.map((p) => p.name)).toEqual(
      expect.arrayContaining(['user_property', 'message_expiry_interval']),
    );
    expect(mqtt.some((m) => m.msgtype === 10)).toBe(true);
  });

  it('saw DNS over UDP and TCP, and an NXDOMAIN answer', () => {
    const dns = frames.flatMap((f) => f.dns ?? []);
    expect(new Set(dns.map((d) => d.transport))).toEqual(new Set(['udp', 'tcp']));
    expect(dns.some((d) => d.is_response && d.rcode === 3 && d.qry_name === 'nothere.test')).toBe(true);
  });

  it('saw HTTP requests with host and user agent, a chunked response and a 404', () => {
    const http = frames.flatMap((f) => f.http ?? []);
    expect(http.find((h) => h.uri === '/status?x=1')).toMatchObject({
      method: 'GET',
      user_agent: 'vigil-live/1',
      host: `${HTTP_HOST}:${HTTP_PORT}`,
    });
    expect(http.find((h) => h.request_uri === '/chunked')).toMatchObject({
      status: 200,
      chunked: true,
      body_size: 23,
    });
    expect(http.some((h) => h.status === 404)).toBe(true);
  });
});
