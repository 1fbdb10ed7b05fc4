// `vigil-agent run`: the agent daemon. Sends what its source produces through the outbox and the link until SIGINT
// or SIGTERM. Flags override the config file and are enough without one.
import { join } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '@vigil/shared';
import { readConfigFile, resolveAgentConfig } from '../config.js';
import { forwardAlertsFile } from '../link/alerts-in.js';
import { LinkClient } from '../link/client.js';
import { loadIdentity } from '../link/identity.js';
import { modelVersions, pushHandler } from '../link/pushes.js';
import { Outbox } from '../outbox/outbox.js';

interface RunFlags {
  config?: string;
  aggregator?: string;
  dataDir?: string;
  alertsIn?: string;
  exitWhenDelivered?: boolean;
  interface?: string;
  pcap?: string;
  speed?: string;
  outboxMaxBytes?: string;
  heartbeatSeconds?: string;
}

const num = (s: string | undefined): number | string | undefined =>
  s === undefined ? undefined : Number.isFinite(Number(s)) ? Number(s) : s;

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the agent: forward detections to the aggregator (nothing is lost: outbox + acks)')
    .option('--config <file>', 'JSON config file (see deploy/agent.example.json); flags override it')
    .option('--aggregator <host:port>', 'aggregator agent port (default: the one enrolled with)')
    .option('--data-dir <dir>', 'identity, outbox and models')
    .option('--alerts-in <file>', 'forward alerts from a JSON-lines file (one Alert per line)')
    .option('--exit-when-delivered', 'with --alerts-in: exit once every alert is acknowledged')
    .option('--interface <if>', 'capture live from a network interface')
    .option('--pcap <file>', 'replay a capture file')
    .option('--speed <max|1x>', 'replay speed for --pcap')
    .option('--outbox-max-bytes <n>', 'upper bound of the outbox database in bytes')
    .option('--heartbeat-seconds <s>', 'heartbeat period')
    .action(async (f: RunFlags) => {
      const file = f.config !== undefined ? readConfigFile(f.config) : {};
      const c = resolveAgentConfig(
        file,
        {
          aggregator: f.aggregator,
          data_dir: f.dataDir,
          alerts_in: f.alertsIn,
          exit_when_delivered: f.exitWhenDelivered,
          interface: f.interface,
          pcap: f.pcap,
          speed: f.speed,
          outbox_max_bytes: num(f.outboxMaxBytes),
          heartbeat_seconds: num(f.heartbeatSeconds),
        },
        f.config ?? 'options',
      );
      if (c.alerts_in === undefined) {
        throw new UsageError(
          'this build forwards alerts from --alerts-in FILE only; --interface and --pcap need the capture pipeline',
        );
      }
      const identity = loadIdentity(c.data_dir);
      const address = c.aggregator ?? identity.aggregator;
      const outbox = new Outbox({ path: join(c.data_dir, 'outbox.db'), maxBytes: c.outbox_max_bytes });
      const link = new LinkClient({
        address,
        identity,
        outbox,
        heartbeatMs: c.heartbeat_seconds * 1000,
        onPush: pushHandler(c.data_dir),
        health: () => ({ capture_drops: 0, malformed_packets: 0, model_versions: modelVersions(c.data_dir) }),
      });
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        await link.start();
        process.stdout.write(
          `vigil-agent: ${identity.facilityId}/${identity.agentId} -> ${address}, outbox ${outbox.depth().count} waiting\n`,
        );
        const r = await forwardAlertsFile({
          file: c.alerts_in,
          outbox,
          onEnqueued: () => link.notify(),
          signal: stop.signal,
        });
        process.stdout.write(
          `vigil-agent: read ${r.forwarded} alerts from ${c.alerts_in} (${r.rejected} rejected)\n`,
        );
        await new Promise<void>((resolve) => {
          if (stop.signal.aborted) return resolve();
          stop.signal.addEventListener('abort', () => resolve(), { once: true });
          if (c.exit_when_delivered) {
            const t = setInterval(() => {
              if (outbox.depth().count === 0) {
                clearInterval(t);
                process.stdout.write('vigil-agent: every alert delivered\n');
                resolve();
              }
            }, 100);
            stop.signal.addEventListener('abort', () => clearInterval(t), { once: true });
          }
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await link.shutdown();
        outbox.close();
      }
    });
}
