import { describe, expect, it } from 'vitest';
import { notTakingPart } from './participate.js';

describe('notTakingPart', () => {
  it('says why capture, interface, alert-forwarding and --no-federated agents skip federated rounds', () => {
    expect(notTakingPart({ pcap: 'a.pcap', federated: true })).toMatch(
      /^not taking part: a --pcap agent has no labelled local data for Layer 2 .*run with --sim\)$/,
    );
    expect(notTakingPart({ interface: 'eth1', federated: true })).toMatch(
      /a --interface agent has no labelled/,
    );
    expect(notTakingPart({ alerts_in: 'x.jsonl', federated: true })).toMatch(
      /--alerts-in forwards recorded alerts/,
    );
    expect(notTakingPart({ sim: 'water-a', federated: false })).toBe(
      'not taking part: started with --no-federated',
    );
    expect(notTakingPart({ sim: 'water-a', federated: true })).toBeNull();
  });
});
