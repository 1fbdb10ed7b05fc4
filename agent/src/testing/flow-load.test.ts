import { describe, expect, it } from 'vitest';
import { loadFlows } from './flow-load.js';

describe('loadFlows', () => {
  it('leaves every flow in the table with its exchange decoded', () => {
    const r = loadFlows(2000);
    expect(r.flows).toBe(2000);
    expect(r.events).toBe(4000);
  });
});
