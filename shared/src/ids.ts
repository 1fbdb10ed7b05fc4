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

/** ATT&CK for ICS technique ids: T0800-T0899 (sub-techniques are not used in the ICS matrix). */
export const ICS_TECHNIQUE_PATTERN = /^T0\d{3}$/;
