// Realistic generated alerts for development, demos and benchmarks (`vigil seed`). Every alert is flagged
// `generated` so nothing confuses it with a detection. Deterministic for a given seed: same seed, same alerts.
import type {
  AlertSource,
  AlertStatus,
  ProtocolDistribution,
  Severity,
  TimelinePoint,
  TimelineStatus,
} from '@vigil/shared';
import type { AttackCatalog, Technique } from '@vigil/shared';
import type { FacilityAggregate, StoredAlert } from '../store/types.js';
import { seededRng } from '@vigil/models';

/**
 * The version of what AlertSeeder writes for given options: change it with any change to the generated alerts, so a
 * benchmark's database seeded before (bench/api.ts caches one) is made again.
 */
export const SEED_DATA_VERSION = 2;

export interface SeedOptions {
  /** Facility ids the alerts belong to (at least one). */
  facilities: readonly string[];
  /** The newest alert is at most this time (ms since the epoch). */
  nowMs: number;
  /** Alerts spread uniformly over this many seconds before now. */
  spanSeconds: number;
  seed: number;
  catalog: AttackCatalog;
  /**
   * How many alerts will be asked for: when set, they come oldest first, one per equal slice of the span (at a random
   * time inside it), as an aggregator's ingest writes them; alerts beyond it fall anywhere in the span. Unset: every
   * alert falls anywhere in the span.
   */
  count?: number;
  /** Seconds between timeline points in the 60-s window (default 1: 60 points; 10 gives 6 lighter points). */
  timelineStepSeconds?: number;
}

/** Techniques a network sensor at a plant sees most; the rest of the matrix appears too, less often. */
const COMMON = new Set([
  'T0846',
  'T0855',
  'T0836',
  'T0814',
  'T0831',
  'T0888',
  'T0840',
  'T0869',
  'T0886',
  'T0843',
  'T0806',
  'T0858',
]);

const SEVERITY_WEIGHTS: readonly [Severity, number][] = [
  ['critical', 0.1],
  ['high', 0.25],
  ['medium', 0.35],
  ['low', 0.3],
];

const L1_MODELS = ['isolation-forest', 'autoencoder', 'rate-rules'] as const;
const L2_MODELS = ['lstm-classifier', 'gradient-boosting'] as const;
const PATTERNS: Record<
  string,
  { pattern: string; behavior: string; title: (ip: string, t: Technique) => string }
> = {
  discovery: {
    pattern: 'scan',
    behavior: 'one host contacting many addresses and ports in a short burst',
    title: (ip) => `Network scan from ${ip}`,
  },
  'impair-process-control': {
    pattern: 'burst',
    behavior: 'unexpected write commands to field devices',
    title: (ip, t) => `${t.name} from ${ip}`,
  },
  'inhibit-response-function': {
    pattern: 'flood',
    behavior: 'traffic volume far above baseline towards control devices',
    title: (ip, t) => `${t.name} against controllers from ${ip}`,
  },
  impact: {
    pattern: 'sustained',
    behavior: 'process values and commands diverge from the normal cycle',
    title: (_ip, t) => `${t.name} on the process network`,
  },
};
const DEFAULT_PATTERN = {
  pattern: 'anomaly',
  behavior: 'traffic that departs from the learned baseline',
  title: (ip: string, t: Technique) => `${t.name} suspected (${ip})`,
};

export class AlertSeeder {
  private readonly rand: () => number;
  private readonly techniques: { t: Technique; weight: number }[];
  private readonly totalWeight: number;
  private made = 0;

  constructor(private readonly options: SeedOptions) {
    if (options.facilities.length === 0) throw new RangeError('seeding needs at least one facility');
    const rng = seededRng(options.seed);
    this.rand = () => rng.next();
    this.techniques = options.catalog.techniques.map((t) => ({ t, weight: COMMON.has(t.id) ? 8 : 1 }));
    if (this.techniques.length === 0) throw new RangeError('the ATT&CK catalog has no techniques');
    this.totalWeight = this.techniques.reduce((s, x) => s + x.weight, 0);
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rand() * xs.length)] as T;
  }

  private technique(): Technique {
    let r = this.rand() * this.totalWeight;
    for (const x of this.techniques) {
      r -= x.weight;
      if (r < 0) return x.t;
    }
    return (this.techniques[this.techniques.length - 1] as { t: Technique }).t;
  }

  private severity(): Severity {
    let r = this.rand();
    for (const [s, w] of SEVERITY_WEIGHTS) {
      r -= w;
      if (r < 0) return s;
    }
    return 'low';
  }

  /** Recent alerts are mostly new; older ones have mostly been handled. */
  private status(ageSeconds: number): AlertStatus {
    const r = this.rand();
    if (ageSeconds < 3600) return r < 0.85 ? 'new' : 'acknowledged';
    if (ageSeconds < 86_400)
      return r < 0.4 ? 'new' : r < 0.7 ? 'acknowledged' : r < 0.92 ? 'resolved' : 'false-positive';
    return r < 0.1 ? 'new' : r < 0.2 ? 'acknowledged' : r < 0.85 ? 'resolved' : 'false-positive';
  }

  private uuid(): string {
    const hex = Array.from({ length: 32 }, () => Math.floor(this.rand() * 16).toString(16));
    hex[12] = '4';
    hex[16] = (Math.floor(this.rand() * 4) + 8).toString(16);
    const h = hex.join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  private ip(): string {
    return `10.${Math.floor(this.rand() * 4)}.${Math.floor(this.rand() * 8)}.${2 + Math.floor(this.rand() * 250)}`;
  }

  /** Shares of packets per protocol: the attack's protocol, one other seen protocol, and the rest. */
  private distribution(attackProtocol: string, share: number): ProtocolDistribution {
    const second = attackProtocol === 'modbus' ? this.pick(['mqtt', 'dns', 'http'] as const) : 'modbus';
    const secondShare = (1 - share) * (0.5 + this.rand() * 0.3);
    return {
      [attackProtocol]: round2(share),
      [second]: round2(secondShare),
      other: round2(Math.max(0, 1 - share - secondShare)),
    };
  }

  /** The 60-second window that ends at the alert: baseline traffic, then the attack rising in its last part. */
  private timeline(
    endMs: number,
    protocol: string,
  ): { points: TimelinePoint[]; peak: number; dests: number } {
    const baseline = 80 + this.rand() * 200;
    const onset = 20 + Math.floor(this.rand() * 30);
    const factor = 3 + this.rand() * 7;
    const points: TimelinePoint[] = [];
    let peak = 0;
    let dests = 0;
    const step = this.options.timelineStepSeconds ?? 1;
    for (let s = 59 % step; s < 60; s += step) {
      const attacking = s >= onset;
      const ramp = attacking ? Math.min(1, (s - onset + 1) / 5) : 0;
      const pps = Math.round(baseline * (1 + ramp * (factor - 1)) * (0.9 + this.rand() * 0.2));
      const ud = Math.round(3 + ramp * 40 * this.rand());
      const status: TimelineStatus = !attacking ? 'normal' : ramp < 1 ? 'suspicious' : 'attack';
      points.push({
        time: new Date(endMs - (59 - s) * 1000).toISOString(),
        packets_per_sec: pps,
        unique_dest_ips: ud,
        protocol_distribution: this.distribution(
          protocol,
          attacking ? 0.5 + ramp * 0.4 : 0.2 + this.rand() * 0.2,
        ),
        status,
      });
      peak = Math.max(peak, pps);
      dests = Math.max(dests, ud);
    }
    return { points, peak, dests };
  }

  next(): StoredAlert {
    const o = this.options;
    const i = this.made++;
    const ageSeconds =
      o.count !== undefined && i < o.count
        ? o.spanSeconds * (1 - (i + this.rand()) / o.count)
        : this.rand() * o.spanSeconds;
    const ms = Math.round(o.nowMs - ageSeconds * 1000);
    const timestamp = new Date(ms).toISOString();
    const t = this.technique();
    const kind = PATTERNS[t.tacticShortnames[0] ?? ''] ?? DEFAULT_PATTERN;
    const protocol = this.pick(['modbus', 'modbus', 'mqtt', 'http', 'dns'] as const);
    const src = this.ip();
    const { points, peak, dests } = this.timeline(ms, protocol);
    const last = points[points.length - 1];
    const baseline = points[0]?.packets_per_sec ?? 1;
    const l1 = 0.6 + this.rand() * 0.39;
    const l2 = 0.5 + this.rand() * 0.49;
    const sources: AlertSource[] = [
      {
        layer: 1,
        model_name: this.pick(L1_MODELS),
        confidence: round3(l1),
        detection_time: timestamp,
        evidence: `packets_per_sec ${peak} vs baseline ${baseline}`,
        context_evidence: `rise over the last ${points.filter((p) => p.status !== 'normal').length} s of the window`,
      },
      {
        layer: 2,
        model_name: this.pick(L2_MODELS),
        confidence: round3(l2),
        detection_time: timestamp,
        evidence: `classified as ${t.id} (${t.name})`,
        context_evidence: `${protocol} share rose to ${Math.round((last?.protocol_distribution[protocol] ?? 0) * 100)}%`,
      },
    ];
    if (this.rand() < 0.3) {
      sources.push({
        layer: 3,
        model_name: 'attack-graph-gnn',
        confidence: round3(0.4 + this.rand() * 0.5),
        detection_time: timestamp,
        evidence: `${t.id} follows earlier activity at this facility`,
        context_evidence: 'predicted next step of an observed technique',
      });
    }
    const confidence = round3(1 - sources.reduce((p, s) => p * (1 - s.confidence), 1));
    return {
      id: this.uuid(),
      timestamp,
      facility_id: this.pick(o.facilities),
      severity: this.severity(),
      title: kind.title(src, t),
      description: `${kind.behavior} (${protocol}, source ${src}, up to ${dests} destinations).`,
      status: this.status(ageSeconds),
      sources,
      correlation_confidence: confidence,
      correlation_summary: `${sources.length} detection layers agree on ${t.id}`,
      attack_type: t.id,
      attack_name: t.name,
      context_analysis: {
        duration: '60 seconds',
        pattern: kind.pattern,
        behavior: kind.behavior,
        timeline: points,
        evidence: {
          packets_per_sec: `peak ${peak}, baseline ${baseline}`,
          unique_dest_ips: String(dests),
          protocol: protocol,
          source_ip: src,
        },
      },
      generated: true,
    };
  }

  batch(n: number): StoredAlert[] {
    return Array.from({ length: n }, () => this.next());
  }

  /** Per-second aggregates for `facility` over the `seconds` before now (for the context endpoints). */
  aggregates(facility: string, seconds: number): FacilityAggregate[] {
    const rows: FacilityAggregate[] = [];
    const end = Math.floor(this.options.nowMs / 1000) * 1000;
    for (let s = seconds; s > 0; s--) {
      const pps = Math.round(150 + this.rand() * 60);
      const size = Math.round(120 + this.rand() * 400);
      rows.push({
        facility_id: facility,
        time: new Date(end - s * 1000).toISOString(),
        packets_per_sec: pps,
        bytes_per_sec: pps * size,
        unique_src_ips: 4 + Math.floor(this.rand() * 4),
        unique_dest_ips: 3 + Math.floor(this.rand() * 3),
        protocol_distribution: this.distribution('modbus', 0.55 + this.rand() * 0.1),
        failed_connections: this.rand() < 0.05 ? 1 : 0,
        avg_packet_size: size,
        inter_arrival_time: round3(1 / pps),
      });
    }
    return rows;
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
