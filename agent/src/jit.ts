// V8 tuning for the per-packet path, applied once at process start (the vigil-agent entry point and the
// benchmarks). The path from a captured frame to its feature record is a chain of small calls (pcap record ->
// headers -> flow -> reassembly -> decoder -> event and packet hooks -> window, inventory, features) that V8 inlines
// into one optimized function until a cumulative bytecode budget (920 bytes by default) runs out; past it every
// call is a real call. A larger budget lets the whole chain inline: measured in bench/RESULTS.md (Modbus capture,
// decode + features + window + inventory, about a quarter less CPU per packet). It only changes which calls the
// optimizing compiler inlines, never what the code computes.
import { setFlagsFromString } from 'node:v8';

/** Cumulative bytecode size V8 may inline into one optimized function (V8's default: 920). */
export const INLINE_BUDGET_BYTES = 3000;

let tuned = false;

/** Raises V8's inlining budget for this process; call before the packet path runs (later calls do nothing). */
export function tuneJit(): void {
  if (tuned) return;
  tuned = true;
  setFlagsFromString(`--max-inlined-bytecode-size-cumulative=${INLINE_BUDGET_BYTES}`);
}
