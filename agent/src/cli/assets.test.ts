// The inventory of real captures agrees with what tshark sees: Modbus servers with the unit ids they answer for,
// MQTT client ids, and every IP address in the capture.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { UsageError } from '@vigil/shared';
import { hasCommand, needComponent } from '@vigil/shared/testing';
import { SHARED_PCAPS, sharedCaptures } from '../testing-paths.js';
import { runAssets } from './assets.js';

const run = promisify(execFile);

async function tshark(file: string, filter: string, fields: string[]): Promise<string[][]> {
  const { stdout } = await run(
    'tshark',
    ['-r', file, '-Y', filter, '-T', 'fields', '-E', 'separator=;', ...fields.flatMap((f) => ['-e', f])],
    {
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split(';'));
}

const haveTshark = needComponent(
  'tshark',
  hasCommand('tshark'),
  'apt-get install tshark (deploy/install-test-deps.sh)',
);
const havePcaps = needComponent(
  'shared captures',
  sharedCaptures().length > 0,
  `expected at ${SHARED_PCAPS}`,
);

describe.skipIf(!haveTshark || !havePcaps)('vigil-agent assets', () => {
  it('lists every Modbus server with the unit ids of its responses, as tshark sees them', async () => {
    const file = join(SHARED_PCAPS, 'iti_ModbusTCP_modbus_test_data_part1.pcap');
    const rows = await tshark(file, 'mbtcp && tcp.srcport == 502', ['ip.src', 'mbtcp.unit_id']);
    const expected = new Map<string, Set<number>>();
    for (const [ip = '', units = ''] of rows) {
      for (const u of units.split(','))
        (expected.get(ip) ?? expected.set(ip, new Set()).get(ip))?.add(Number(u));
    }
    const report = await runAssets(file, { window: false }, new PassThrough());
    const servers = new Map(
      report.hosts.flatMap((h) =>
        h.roles.modbus_server ? [[h.ip, new Set(h.roles.modbus_server.unit_ids)] as const] : [],
      ),
    );
    expect(expected.size).toBeGreaterThan(0);
    expect(servers).toEqual(expected);
    const ips = await tshark(file, 'ip', ['ip.src', 'ip.dst']);
    expect(new Set(report.hosts.map((h) => h.ip))).toEqual(new Set(ips.flat()));
  });

  it('lists MQTT client ids and the broker, and the window of the capture', async () => {
    const file = join(SHARED_PCAPS, 'emre_MQTT_mqtt_user_credentials.pcap');
    const rows = await tshark(file, 'mqtt.msgtype == 1', ['ip.src', 'ip.dst', 'mqtt.clientid']);
    const report = await runAssets(file, { window: true }, new PassThrough());
    const byIp = new Map(report.hosts.map((h) => [h.ip, h]));
    expect(rows.length).toBeGreaterThan(0);
    for (const [client = '', broker = '', id = ''] of rows) {
      expect(byIp.get(client)?.roles.mqtt_client?.client_ids).toContain(id);
      expect(byIp.get(broker)?.roles.mqtt_broker).toBe(true);
    }
    expect(report.window?.length).toBeGreaterThan(0);
    expect(report.window?.reduce((n, r) => n + r.packets_per_sec, 0)).toBeGreaterThan(0);
  });

  it('rejects a file that is not a capture with a usage error', async () => {
    await expect(
      runAssets(join(SHARED_PCAPS, 'README.md'), { window: false }, new PassThrough()),
    ).rejects.toBeInstanceOf(UsageError);
  });
});
