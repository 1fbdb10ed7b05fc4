// `vigil demo`: aggregator + three simulated facilities' agents + dashboard on embedded defaults, until Ctrl-C.
// `vigil demo scenario port-scan|multi-stage|fl-round|reset [--facility F]`: asks a running demo (its API) for a
// scenario; the alerts, rounds and predictions it causes come from the agents' detectors and the aggregator's engines.
import { join } from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { UsageError } from '@vigil/shared';
import { resolveDataDir } from '../config.js';
import { DEMO_FACILITIES, runDemo } from '../demo/run-demo.js';

const DemoOptions = z.object({
  dataDir: z.string().min(1).optional(),
  port: z.coerce.number({ error: 'expected a port number' }).int().min(0).max(65535),
  grpcPort: z.coerce.number({ error: 'expected a port number' }).int().min(0).max(65535),
  warmupMinutes: z.coerce
    .number({ error: 'expected minutes' })
    .positive()
    .max(24 * 60),
  readyTimeout: z.coerce.number({ error: 'expected seconds' }).positive(),
});

const SCENARIO_NAMES = ['port-scan', 'multi-stage', 'fl-round', 'reset'] as const;

function parse<T>(schema: z.ZodType<T>, raw: unknown, command: string): T {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const flag = String(issue?.path[0] ?? '').replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`);
  throw new UsageError(`${command}: --${flag}: ${issue?.message ?? 'invalid'} (see vigil ${command} --help)`);
}

interface ScenarioOptions {
  facility?: string;
  url: string;
  token?: string;
  wait?: boolean;
  timeout: string;
}

interface ScenarioState {
  scenario_id: string;
  outcome: string;
  alert_ids: string[];
}

/** Polls /api/demo/status until the scenario ends; prints each alert that showed it. */
async function waitForOutcome(
  id: string,
  o: ScenarioOptions,
  headers: Record<string, string>,
): Promise<void> {
  const timeoutMs = Number(o.timeout) * 1000;
  if (!(timeoutMs > 0)) throw new UsageError(`--timeout ${o.timeout}: expected seconds`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(new URL('/api/demo/status', o.url), { headers });
    const status = (await res.json()) as {
      last_scenario: ScenarioState | null;
      active_scenarios: ScenarioState[];
    };
    const s = [status.last_scenario, ...status.active_scenarios].find((x) => x?.scenario_id === id);
    if (s !== undefined && s !== null && s.outcome !== 'running') {
      for (const alertId of s.alert_ids) {
        const a = (await (await fetch(new URL(`/api/alerts/${alertId}`, o.url), { headers })).json()) as {
          timestamp: string;
          severity: string;
          attack_type: string;
          attack_name: string;
          title: string;
        };
        process.stdout.write(
          `  ${a.timestamp} ${a.severity} ${a.attack_type} ${a.attack_name}: ${a.title}\n`,
        );
      }
      if (s.outcome !== 'detected') throw new UsageError(`scenario ${id} ended ${s.outcome}`);
      process.stdout.write(`scenario ${id}: detected\n`);
      return;
    }
    if (Date.now() > deadline) throw new UsageError(`scenario ${id} still running after ${o.timeout} s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function scenario(name: string, o: ScenarioOptions): Promise<void> {
  if (!(SCENARIO_NAMES as readonly string[]).includes(name)) {
    throw new UsageError(`unknown scenario ${name}; choose one of ${SCENARIO_NAMES.join(', ')}`);
  }
  const needsFacility = name === 'port-scan' || name === 'multi-stage';
  if (needsFacility && o.facility === undefined) {
    throw new UsageError(`scenario ${name} needs --facility (e.g. ${DEMO_FACILITIES[0]?.id ?? 'plant-a'})`);
  }
  const path = name === 'reset' ? '/api/demo/reset' : `/api/demo/scenarios/${name}`;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
  let res: Response;
  try {
    res = await fetch(new URL(path, o.url), {
      method: 'POST',
      headers,
      body: needsFacility ? JSON.stringify({ facility_id: o.facility }) : undefined,
    });
  } catch (err) {
    throw new UsageError(
      `cannot reach the aggregator at ${o.url} (${(err as Error).message}); is vigil demo running?`,
    );
  }
  const body = await res.text();
  if (!res.ok) {
    let message = body;
    try {
      message = (JSON.parse(body) as { error: { message: string } }).error.message;
    } catch {
      // not the API's error shape: print what came back
    }
    throw new UsageError(`scenario ${name} refused (HTTP ${res.status}): ${message}`);
  }
  process.stdout.write(`${body}\n`);
  const id = (JSON.parse(body) as { scenario_id?: string }).scenario_id;
  if (o.wait === true && id !== undefined) await waitForOutcome(id, o, headers);
}

export function registerDemo(program: Command): void {
  const demo = program
    .command('demo')
    .description(
      'run the whole system: aggregator, dashboard and three simulated facilities with live agents (Ctrl-C stops)',
    )
    .option('--data-dir <dir>', 'demo state (default: demo/ in $VIGIL_DATA_DIR or ./.vigil)')
    .option('--port <n>', 'dashboard and API port', '8000')
    .option('--grpc-port <n>', 'agent port (0 picks a free port)', '0')
    .option('--warmup-minutes <m>', 'simulated normal traffic each agent learns its baseline from', '10')
    .option('--ready-timeout <s>', 'how long to wait for the facilities to come online', '110')
    .action(async (raw: Record<string, unknown>) => {
      const o = parse(DemoOptions, raw, 'demo');
      const dataDir =
        o.dataDir !== undefined ? resolveDataDir(o.dataDir) : join(resolveDataDir(undefined), 'demo');
      const say = (line: string): void => void process.stdout.write(`${line}\n`);
      const running = await runDemo({
        dataDir,
        host: '127.0.0.1',
        port: o.port,
        grpcPort: o.grpcPort,
        facilities: DEMO_FACILITIES,
        warmupMinutes: o.warmupMinutes,
        readyTimeoutMs: o.readyTimeout * 1000,
        say,
      });
      say(`\nVigil demo running. Dashboard: ${running.url}/`);
      say(`Try: npx vigil demo scenario port-scan --facility ${DEMO_FACILITIES[0]?.id ?? ''}`);
      say('     npx vigil demo scenario multi-stage --facility substation-b');
      say('Ctrl-C stops everything.');
      await new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          say(`vigil demo: ${signal}, stopping the agents and the aggregator`);
          process.off('SIGINT', onInt);
          process.off('SIGTERM', onTerm);
          resolve();
        };
        const onInt = (): void => stop('SIGINT');
        const onTerm = (): void => stop('SIGTERM');
        process.on('SIGINT', onInt);
        process.on('SIGTERM', onTerm);
      });
      await running.stop();
      say('vigil demo: stopped');
    });

  demo
    .command('scenario <name>')
    .description(`ask a running aggregator for a demo scenario: ${SCENARIO_NAMES.join(', ')}`)
    .option('--facility <id>', 'the facility whose live traffic gets the attack (port-scan, multi-stage)')
    .option('--url <url>', 'the aggregator API', 'http://127.0.0.1:8000')
    .option('--token <token>', 'operator API token (not needed against the demo: anonymous on loopback)')
    .option('--wait', "wait until the scenario's alerts arrive and print them (port-scan, multi-stage)")
    .option('--timeout <s>', 'with --wait: give up after this many seconds', '180')
    .action(async (name: string, o: ScenarioOptions) => {
      await scenario(name, o);
    });
}
