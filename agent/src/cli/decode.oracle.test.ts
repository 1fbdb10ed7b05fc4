// The tshark oracle: every shared capture is decoded by `vigil-agent decode` and by tshark, and the Modbus fields
// (transaction id, unit id, function code, exception code), MQTT msgtype/topics, DNS query name/type and HTTP
// method/URI/status are compared frame by frame (testing/oracle.ts). Remaining differences are
// listed below with their reason; anything else fails.
import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasCommand, needComponent } from '@vigil/shared/testing';
import { SHARED_PCAPS, sharedCaptures } from '../testing-paths.js';
import { ourFields, tsharkFields } from '../testing/oracle.js';

/**
 * Frames where we knowingly differ from tshark 4.0, as `file#frame` -> reason. In all three tshark flags the
 * segment as a retransmission and does not dissect it; we decode the bytes we had not seen yet.
 */
const KNOWN_DIFFERENCES: Record<string, string> = {
  'iti_ModbusTCP_mb2.pcap#1131':
    'retransmission that also carries 48 new bytes (4 requests after an incomplete 12-byte PDU); tshark skips the whole segment, we decode the new bytes',
  'iti_ModbusTCP_mb2.pcap#13176':
    'retransmission that extends past the data seen before; tshark skips it, we decode the bytes not seen before',
  'iti_bro_modbus_modbusBig.pcap#3150':
    'spurious retransmission whose original is missing from the capture (the peer had acked it); tshark skips it, we decode the only copy captured',
};

const haveTshark = needComponent(
  'tshark',
  hasCommand('tshark'),
  'apt-get install tshark (deploy/install-test-deps.sh)',
);
const captures = sharedCaptures();
const havePcaps = needComponent('shared captures', captures.length > 0, `expected at ${SHARED_PCAPS}`);

describe.skipIf(!haveTshark || !havePcaps)('decode agrees with tshark on every shared capture', () => {
  it.each(captures.map((f) => [basename(f), f]))('%s', async (name, file) => {
    const [theirs, ours] = await Promise.all([tsharkFields(file), ourFields(file)]);
    const differences: string[] = [];
    for (const frame of new Set([...theirs.keys(), ...ours.keys()])) {
      const t = theirs.get(frame);
      const o = ours.get(frame);
      if (t === o) continue;
      if (KNOWN_DIFFERENCES[`${name}#${frame}`] !== undefined) continue;
      differences.push(`frame ${frame}: tshark ${t ?? '-'} ours ${o ?? '-'}`);
    }
    expect(differences).toEqual([]);
    // A listed difference that no longer occurs must be removed from the list.
    for (const key of Object.keys(KNOWN_DIFFERENCES).filter((k) => k.startsWith(`${name}#`))) {
      const frame = Number(key.split('#')[1]);
      expect(theirs.get(frame), key).not.toEqual(ours.get(frame));
    }
  });
});
