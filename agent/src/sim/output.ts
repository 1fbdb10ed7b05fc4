// Writes a simulation as a classic pcap (µs timestamps, Ethernet) and, beside it, the per-frame labels:
// one line per frame, `frame;label;technique;attack` (no header), where frame is the 1-based frame number, label is
// 0 (normal) or 1 (attack) as in ../shared/pcaps/labels/*.csv, technique the ATT&CK for ICS id (e.g. T0846) and
// attack the simulator's attack name (e.g. port-scan); both are empty for normal frames.
import { once } from 'node:events';
import { pcapHeader, pcapRecord } from '../capture/pcap-writer.js';
import { paced, type PaceOptions } from './live.js';
import type { SimFrame, Simulator } from './simulator.js';

export interface SimulationOutput {
  pcap: NodeJS.WritableStream;
  labels?: NodeJS.WritableStream | undefined;
}

export interface SimulationSummary {
  frames: number;
  bytes: number;
  /** Frames per ATT&CK technique id. */
  techniques: Record<string, number>;
  /** Frames per attack name. */
  attacks: Record<string, number>;
  firstUs: number | undefined;
  lastUs: number | undefined;
}

/** The label line of one frame (with its newline). */
export function labelLine(frame: number, f: SimFrame): string {
  return f.label === undefined ? `${frame};0;;\n` : `${frame};1;${f.label.technique};${f.label.attack}\n`;
}

/** One pcap record (header + frame) of a simulated frame. */
export function pcapRecordOf(f: SimFrame): Buffer {
  return pcapRecord(Math.floor(f.tUs / 1e6), f.tUs % 1e6, f.data);
}

/** Output is gathered in blocks of this size (records are written straight into them) before each write. */
const BLOCK_BYTES = 1 << 20;

async function write(w: NodeJS.WritableStream, chunk: Buffer | string): Promise<void> {
  if (!w.write(chunk)) await once(w as NodeJS.EventEmitter, 'drain');
}

/** Runs the simulation to its end into the outputs (with backpressure); the streams are left open. */
export async function writeSimulation(sim: Simulator, out: SimulationOutput): Promise<SimulationSummary> {
  const s: SimulationSummary = {
    frames: 0,
    bytes: 0,
    techniques: {},
    attacks: {},
    firstUs: undefined,
    lastUs: undefined,
  };
  // The stream keeps a written block until it is flushed, so every block is a fresh buffer.
  let block = Buffer.allocUnsafe(BLOCK_BYTES);
  let off = pcapHeader().copy(block, 0);
  let labels = '';
  for (let f = sim.next(); f !== undefined; f = sim.next()) {
    s.frames++;
    s.bytes += f.data.length;
    s.firstUs ??= f.tUs;
    s.lastUs = f.tUs;
    if (f.label !== undefined) {
      s.techniques[f.label.technique] = (s.techniques[f.label.technique] ?? 0) + 1;
      s.attacks[f.label.attack] = (s.attacks[f.label.attack] ?? 0) + 1;
    }
    if (out.labels) labels += labelLine(s.frames, f);
    if (off + 16 + f.data.length > block.length) {
      await write(out.pcap, block.subarray(0, off));
      if (out.labels) await write(out.labels, labels);
      block = Buffer.allocUnsafe(Math.max(BLOCK_BYTES, 16 + f.data.length));
      off = 0;
      labels = '';
    }
    block.writeUInt32LE(Math.floor(f.tUs / 1e6), off);
    block.writeUInt32LE(f.tUs % 1e6, off + 4);
    block.writeUInt32LE(f.data.length, off + 8);
    block.writeUInt32LE(f.data.length, off + 12);
    f.data.copy(block, off + 16);
    off += 16 + f.data.length;
  }
  if (off > 0) await write(out.pcap, block.subarray(0, off));
  if (out.labels && labels !== '') await write(out.labels, labels);
  return s;
}

/**
 * Writes the simulation as it is played at `pace.speed` (1 = real time): each frame's record and label are written
 * when the frame is due, so a reader of the output sees a live capture. Stops early when `pace.signal` aborts.
 */
export async function streamSimulation(
  sim: Simulator,
  out: SimulationOutput,
  pace: PaceOptions,
): Promise<SimulationSummary> {
  const s: SimulationSummary = {
    frames: 0,
    bytes: 0,
    techniques: {},
    attacks: {},
    firstUs: undefined,
    lastUs: undefined,
  };
  await write(out.pcap, pcapHeader());
  for await (const f of paced(sim, pace)) {
    s.frames++;
    s.bytes += f.data.length;
    s.firstUs ??= f.tUs;
    s.lastUs = f.tUs;
    if (f.label !== undefined) {
      s.techniques[f.label.technique] = (s.techniques[f.label.technique] ?? 0) + 1;
      s.attacks[f.label.attack] = (s.attacks[f.label.attack] ?? 0) + 1;
    }
    await write(out.pcap, pcapRecordOf(f));
    if (out.labels) await write(out.labels, labelLine(s.frames, f));
  }
  return s;
}

/** Parses a label file written by writeSimulation (and the two-column shared ones): frame -> label. */
export function parseLabels(
  text: string,
): { frame: number; label: number; technique: string; attack: string }[] {
  const rows: { frame: number; label: number; technique: string; attack: string }[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const [frame = '', label = '', technique = '', attack = ''] = line.split(';');
    rows.push({ frame: Number(frame), label: Number(label), technique, attack });
  }
  return rows;
}
