// What the daemon's detection pipeline sends over the link: its alerts through the outbox (written before they are
// sent, deleted on the aggregator's ack), the window's per-second aggregates once each second is complete, and the
// asset inventory's changes (both lossy under pressure, counted by the link), plus the health counters of the
// pipeline (capture drops, malformed packets) for the heartbeats.
import type { Detector } from '../detect/types.js';
import type { Alert, Clock } from '@vigil/shared';
import type { PbAssetChange } from '@vigil/proto/link';
import type { HostJson } from '../assets/inventory.js';
import type { RawPacket } from '../capture/types.js';
import type { Baseline } from '../detect/baseline.js';
import type { AgentAlert, Suppression } from '../detect/correlate.js';
import { DetectionEngine } from '../detect/engine.js';
import { OutboxFullError, type Outbox } from '../outbox/outbox.js';
import type { HealthSource, LinkClient } from './client.js';

/** Decoder counters that mean a malformed packet or PDU (the rest count normal events: retransmissions, fragments). */
const MALFORMED =
  /truncated|\.bad_|too_many|too_large|overflow|inconsistent|mismatch|malformed|bad_framing|bad_status_line|loop|pointer/;

/** A host is re-sent as `updated` when its last_seen moved this far since it was last sent (ms). */
const LAST_SEEN_REFRESH_MS = 60_000;

export interface PipelineFeedOptions {
  facility: string;
  clock: Clock;
  outbox: Outbox;
  link: Pick<LinkClient, 'notify' | 'sendAggregates' | 'sendInventory'>;
  baseline?: Baseline | undefined;
  /** Learning period from the first frame (ms on the clock). */
  learnMs: number;
  /** Model detectors beside the rules (loadModelDetectors); they learn in the same period. */
  detectors?: readonly Detector[] | undefined;
  /** The operator's suppressions: matching detections are dropped and counted (health `suppressed`). */
  suppress?: readonly Suppression[] | undefined;
  /**
   * When the outbox is full: true waits for the aggregator (a replayed file can wait), false refuses the alerts
   * (a live source cannot; the outbox logs and counts each one, reported as alerts_refused_outbox_full).
   */
  waitWhenFull: boolean;
  log: (line: string) => void;
  /** Wait between attempts while the outbox is full, ms (default 500). */
  fullRetryMs?: number;
}

function assetChange(h: HostJson, change: 'added' | 'updated'): PbAssetChange {
  const r = h.roles;
  const protocols: string[] = [];
  if (r.modbus_server !== undefined || r.modbus_client !== undefined) protocols.push('modbus');
  if (r.mqtt_broker !== undefined || r.mqtt_client !== undefined) protocols.push('mqtt');
  if (r.dns_server !== undefined || r.dns_client !== undefined) protocols.push('dns');
  if (r.http_server !== undefined || r.http_client !== undefined) protocols.push('http');
  const role =
    r.modbus_server !== undefined
      ? 'plc'
      : r.mqtt_broker !== undefined
        ? 'mqtt-broker'
        : r.modbus_client !== undefined
          ? 'modbus-client'
          : r.http_server !== undefined
            ? 'web-server'
            : r.dns_server !== undefined
              ? 'dns-server'
              : r.mqtt_client !== undefined
                ? 'mqtt-client'
                : 'unknown';
  return {
    change,
    address: h.ip,
    mac: h.mac ?? '',
    protocols,
    role,
    first_seen: h.first_seen,
    last_seen: h.last_seen,
  };
}

export class PipelineFeed {
  readonly engine: DetectionEngine;
  /** Alerts put into the outbox, and refused by a full one. */
  alertsQueued = 0;
  alertsRefused = 0;
  /** Frames the capture reader could not take (counted by its error callback). */
  captureDrops = 0;
  /** Packets the capture tool reports lost before they reached the reader (e.g. the kernel's buffer was full). */
  droppedByCapture: () => number = () => 0;
  private pending: Alert[] = [];
  private sending = true;
  private lastSec = -1;
  private readonly sent = new Map<string, { sig: string; lastSeenMs: number }>();

  constructor(private readonly o: PipelineFeedOptions) {
    this.engine = new DetectionEngine({
      facility: o.facility,
      clock: o.clock,
      baseline: o.baseline,
      learnMs: o.learnMs,
      detectors: o.detectors,
      suppress: o.suppress,
      onAlert: (a) => this.pending.push(toAlert(a)),
    });
  }

  /**
   * Sends the window's aggregates and the inventory only while true: a warm-up on past simulated time learns without
   * sending; turning it on again starts from the window's newest second.
   */
  setSending(on: boolean): void {
    if (on && !this.sending) this.lastSec = this.engine.analyzer.window.latestSecond;
    this.sending = on;
  }

  /** One frame (the clock was moved to its time). */
  handle(raw: RawPacket): void {
    this.engine.handle(raw);
    // Seconds before the newest one are complete.
    if (this.sending) this.sendSeconds(this.engine.analyzer.window.latestSecond - 1);
  }

  /**
   * Once a second of wall time on a live source: decides incidents on a quiet network, sends the aggregates of the
   * seconds that are over, and the inventory changes.
   */
  tick(live: boolean): void {
    if (live) this.engine.tick();
    if (!this.sending) return;
    const nowSec = Math.floor(this.o.clock.now() / 1000);
    this.sendSeconds(Math.min(this.engine.analyzer.window.latestSecond, nowSec - 1));
    this.sendInventory();
  }

  /** Moves the alerts decided so far into the outbox and tells the link (call between batches of frames). */
  async flush(): Promise<void> {
    await this.engine.settle();
    if (this.pending.length === 0) return;
    for (;;) {
      try {
        this.o.outbox.enqueue(this.pending);
        this.alertsQueued += this.pending.length;
        break;
      } catch (err) {
        if (!(err instanceof OutboxFullError)) throw err;
        if (!this.o.waitWhenFull) {
          this.alertsRefused += this.pending.length;
          break;
        }
        this.o.log('outbox full; waiting for the aggregator before reading on');
        await new Promise((r) => setTimeout(r, this.o.fullRetryMs ?? 500));
      }
    }
    this.pending = [];
    this.o.link.notify();
  }

  /** End of the source: decides every open incident and sends what is left. */
  async finish(): Promise<void> {
    await this.engine.finish();
    await this.flush();
    this.sendLast();
  }

  /** Sends the newest second too (no frame will complete it) and the inventory: the source has ended. */
  sendLast(): void {
    if (!this.sending) return;
    this.sendSeconds(this.engine.analyzer.window.latestSecond);
    this.sendInventory();
  }

  /** The pipeline's part of the agent health. */
  health(modelVersions: Record<string, string>): HealthSource {
    let malformed = 0;
    for (const [k, n] of Object.entries(this.engine.analyzer.pipeline.stats().counters)) {
      if (MALFORMED.test(k)) malformed += n;
    }
    return {
      capture_drops: this.captureDrops + this.droppedByCapture(),
      malformed_packets: malformed,
      model_versions: modelVersions,
      suppressed: Object.fromEntries(this.engine.correlator.suppressed),
    };
  }

  private sendSeconds(upTo: number): void {
    if (upTo <= this.lastSec) return;
    const w = this.engine.analyzer.window;
    // Only what the window still holds (a jump of packet time skips the seconds in between).
    const from = Math.max(this.lastSec + 1, w.latestSecond - 59);
    const rows = [];
    for (let s = from; s <= upTo; s++) {
      const r = w.row(s);
      if (r !== undefined && r.packets_per_sec > 0) rows.push(r);
    }
    this.lastSec = upTo;
    if (rows.length > 0) this.o.link.sendAggregates(rows);
  }

  private sendInventory(): void {
    const changes: PbAssetChange[] = [];
    for (const h of this.engine.analyzer.assets.toJson().hosts) {
      const c = assetChange(h, 'added');
      const sig = `${c.mac}|${c.role}|${c.protocols.join(',')}`;
      const seen = Date.parse(h.last_seen);
      const before = this.sent.get(h.ip);
      if (before === undefined) changes.push(c);
      else if (before.sig !== sig || seen - before.lastSeenMs >= LAST_SEEN_REFRESH_MS)
        changes.push({ ...c, change: 'updated' });
      else continue;
      this.sent.set(h.ip, { sig, lastSeenMs: seen });
    }
    if (changes.length > 0) this.o.link.sendInventory(changes);
  }
}

/** The link's Alert: the agent's alert without its evidence times (kept in the alert's own context). */
function toAlert(a: AgentAlert): Alert {
  const { first_seen: _first, last_seen: _last, ...alert } = a;
  return alert;
}
