// The physical processes behind the PLCs' registers: a water tank with a level controller, a substation feeder with
// its breaker, and a conveyor line. Each integrates in simulated time; the register map is what Modbus masters read
// and what writes (legitimate or not) change, so an unauthorized write has a visible physical effect.
import type { Rng } from './prng.js';

export type ProcessKind = 'tank' | 'feeder' | 'conveyor';

/** Hours of the day (UTC) of a simulated time in microseconds. */
export function hourOfDay(tUs: number): number {
  return (((tUs / 3_600_000_000) % 24) + 24) % 24;
}

/** Activity of the plant by time of day: about 0.3 at 03:00, 1.0 at 15:00 (a smooth daily cycle). */
export function diurnal(tUs: number): number {
  return 0.65 - 0.35 * Math.cos((2 * Math.PI * (hourOfDay(tUs) - 3)) / 24);
}

const clampU16 = (v: number): number => Math.max(0, Math.min(65535, Math.round(v)));

/** Register map sizes every simulated PLC exposes (addresses beyond them raise exception 2). */
export const REGISTERS = { holding: 32, input: 16, coils: 32, discretes: 16 } as const;

export class PhysicalProcess {
  readonly holding = new Uint16Array(REGISTERS.holding);
  readonly input = new Uint16Array(REGISTERS.input);
  readonly coils = new Uint8Array(REGISTERS.coils);
  readonly discretes = new Uint8Array(REGISTERS.discretes);
  private lastUs: number;
  /** Continuous state (register values are its rounded view). */
  private x = 0;
  private y = 0;

  constructor(
    readonly kind: ProcessKind,
    private readonly rng: Rng,
    startUs: number,
  ) {
    this.lastUs = startUs;
    const h = this.holding;
    const c = this.coils;
    if (kind === 'tank') {
      this.x = rng.uniform(45, 75); // level %
      h[1] = 4000; // low setpoint (0.01 %)
      h[2] = 8000; // high setpoint
      h[4] = 85; // pump speed %
      h[5] = 150; // chlorine dose setpoint (0.01 mg/l)
      h[6] = 9500; // high alarm limit
      h[7] = 500; // low alarm limit
      c[0] = 0; // pump running
      c[1] = 1; // auto mode
      c[2] = 1; // inlet valve open
    } else if (kind === 'feeder') {
      this.x = rng.uniform(300, 500); // current A
      h[0] = 11000; // 110.00 kV
      h[4] = 1200; // trip current setpoint A
      h[5] = 9; // tap position
      c[0] = 1; // breaker closed
      c[1] = 1; // remote control enabled
      c[2] = 1; // protection enabled
    } else {
      this.x = 0; // actual speed rpm
      this.y = rng.int(50_000); // part counter
      h[0] = 1200; // speed setpoint rpm
      h[3] = 450; // motor temperature 0.1 °C
      h[5] = rng.between(100, 999); // batch id
      c[1] = 0; // reject gate
      c[2] = 0; // emergency stop
    }
    this.update(0, startUs);
  }

  /** Integrates the process up to time tUs (in steps of at most one second). */
  advance(tUs: number): void {
    while (this.lastUs < tUs) {
      const stepUs = Math.min(1_000_000, tUs - this.lastUs);
      this.lastUs += stepUs;
      this.update(stepUs / 1e6, this.lastUs);
    }
  }

  private update(dt: number, tUs: number): void {
    const h = this.holding;
    const ir = this.input;
    const c = this.coils;
    const di = this.discretes;
    const rng = this.rng;
    const load = diurnal(tUs);
    if (this.kind === 'tank') {
      const inflow = c[0] && c[2] ? 12 * (h[4]! / 100) : 0; // l/s
      const outflow = 7 * load;
      this.x = Math.max(0, Math.min(100, this.x + (inflow - outflow) * 0.014 * dt));
      if (c[1]) {
        if (this.x * 100 < h[1]!) c[0] = 1;
        else if (this.x * 100 > h[2]!) c[0] = 0;
      }
      h[0] = clampU16(this.x * 100);
      h[3] = clampU16(outflow * 10);
      ir[0] = clampU16((c[0] ? 420 : 180) + rng.normal() * 4); // pressure 0.01 bar
      ir[1] = clampU16(inflow * 10 + rng.normal()); // flow 0.1 l/s
      ir[2] = clampU16(140 + 30 * load + rng.normal() * 2); // water temperature 0.1 °C
      ir[3] = clampU16(35 + rng.normal() * 3); // turbidity 0.01 NTU
      di[0] = h[0] > h[6]! ? 1 : 0;
      di[1] = h[0] < h[7]! ? 1 : 0;
    } else if (this.kind === 'feeder') {
      const closed = c[0] === 1;
      const target = closed ? 250 + 700 * load : 0;
      this.x += (target - this.x) * Math.min(1, dt / 30) + (closed ? rng.normal() * 3 : 0);
      if (closed && c[2] && this.x > h[4]!) c[0] = 0; // protection trips the breaker
      h[0] = clampU16(11000 + rng.normal() * 15 - (closed ? this.x * 0.4 : 0) + (h[5]! - 9) * 60);
      h[1] = clampU16(this.x);
      h[2] = clampU16(((h[0] / 100) * this.x * 1.732 * 0.95) / 100); // 0.1 MW
      h[3] = clampU16(h[2] * 0.3);
      ir[0] = clampU16(5000 + rng.normal() * 2); // 0.01 Hz
      this.y += (300 + this.x * 0.45 - this.y) * Math.min(1, dt / 600);
      ir[1] = clampU16(this.y); // transformer oil 0.1 °C
      di[0] = closed ? 0 : 1;
    } else {
      const h24 = hourOfDay(tUs);
      const shift = h24 >= 6 && h24 < 22;
      if (c[2]) c[0] = 0;
      else c[0] = shift ? 1 : 0;
      const target = c[0] ? h[0]! : 0;
      this.x += (target - this.x) * Math.min(1, dt / 5);
      this.y += (this.x / 60) * 0.5 * dt; // parts per second at speed
      h[1] = clampU16(this.x);
      h[2] = clampU16(this.y % 65536);
      h[3] = clampU16(h[3]! + (250 + this.x * 0.25 - h[3]!) * Math.min(1, dt / 120) + rng.normal() * 0.5);
      if (rng.chance(0.002 * dt * (this.x / 1200))) h[4] = (h[4]! + 1) & 0xffff;
      ir[0] = clampU16(this.x * 0.15 + Math.abs(rng.normal()) * 8); // vibration 0.01 mm/s
      ir[1] = clampU16(this.x * 0.9 + rng.normal() * 5); // motor current 0.01 A
      di[0] = this.x > 10 && rng.chance(0.5) ? 1 : 0;
    }
  }
}
