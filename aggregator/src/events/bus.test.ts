import { describe, expect, it } from 'vitest';
import { LocalEventBus, type BusEvent } from './bus.js';

describe('LocalEventBus', () => {
  it('delivers each event to every listener even when one throws', () => {
    const errors: unknown[] = [];
    const bus = new LocalEventBus((e) => errors.push(e));
    const seen: BusEvent[] = [];
    bus.subscribe(() => {
      throw new Error('listener bug');
    });
    bus.subscribe((e) => seen.push(e));

    bus.publish({ type: 'health', data: { status: 'healthy' } });

    expect(seen).toEqual([{ type: 'health', data: { status: 'healthy' } }]);
    expect(errors).toHaveLength(1);
  });

  it('stops delivering to an unsubscribed listener and after close', async () => {
    const bus = new LocalEventBus();
    const seen: string[] = [];
    const off = bus.subscribe((e) => seen.push(e.type));
    bus.publish({ type: 'alert_created', data: {} });
    off();
    bus.publish({ type: 'alert_updated', data: {} });
    bus.subscribe((e) => seen.push(e.type));
    await bus.close();
    bus.publish({ type: 'alert_updated', data: {} });

    expect(seen).toEqual(['alert_created']);
  });
});
