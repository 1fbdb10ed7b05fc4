import { describe, expect, it } from 'vitest';
import type { AgentRecord } from '../store/types.js';
import { facilityStatus } from './status.js';

const agent = (last: string | null): AgentRecord => ({
  id: 'a',
  facility_id: 'plant-a',
  enrolled_at: '2026-01-01T00:00:00.000Z',
  last_heartbeat: last,
  health: {},
});

describe('facilityStatus', () => {
  const now = Date.parse('2026-01-01T12:00:00.000Z');

  it('is online, delayed or offline by the age of the newest heartbeat', () => {
    expect(facilityStatus([agent('2026-01-01T11:59:50.000Z')], now)).toBe('online');
    expect(facilityStatus([agent('2026-01-01T11:59:00.000Z')], now)).toBe('delayed');
    expect(facilityStatus([agent('2026-01-01T11:50:00.000Z')], now)).toBe('offline');
  });

  it('takes the newest heartbeat of several agents and treats no heartbeat as offline', () => {
    expect(facilityStatus([agent('2026-01-01T11:00:00.000Z'), agent('2026-01-01T11:59:59.000Z')], now)).toBe(
      'online',
    );
    expect(facilityStatus([agent(null)], now)).toBe('offline');
    expect(facilityStatus([], now)).toBe('offline');
  });
});
