// Where the shipped MITRE ATT&CK for ICS bundle lives. MITRE's notice (LICENSE.txt) travels with every copy.
import { fileURLToPath } from 'node:url';

/** Absolute path of the shipped ATT&CK for ICS STIX 2.1 bundle (v18.1). */
export const ATTACK_BUNDLE_PATH = fileURLToPath(new URL('../data/mitre/ics-attack.json', import.meta.url));
/** Absolute path of MITRE's license notice that accompanies the bundle. */
export const ATTACK_LICENSE_PATH = fileURLToPath(new URL('../data/mitre/LICENSE.txt', import.meta.url));
