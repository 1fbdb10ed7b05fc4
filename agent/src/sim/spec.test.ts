import { describe, expect, it } from 'vitest';
import { parseAttackSpec } from './spec.js';

describe('parseAttackSpec', () => {
  it('reads a name and a start time in seconds, minutes or hours', () => {
    expect(parseAttackSpec('port-scan@120s')).toMatchObject({ attack: 'port-scan', atS: 120 });
    expect(parseAttackSpec('dns-tunnel@2m')).toMatchObject({ attack: 'dns-tunnel', atS: 120 });
    expect(parseAttackSpec('modbus-flood@1.5h')).toMatchObject({ attack: 'modbus-flood', atS: 5400 });
    expect(parseAttackSpec('modbus-recon@45')).toMatchObject({ attack: 'modbus-recon', atS: 45 });
  });

  it('reads the options', () => {
    const s = parseAttackSpec(
      'modbus-setpoint-write@5m:src=10.10.1.11,target=10.10.2.12,duration=90s,rate=2',
    );

    expect(s).toEqual({
      attack: 'modbus-setpoint-write',
      atS: 300,
      src: '10.10.1.11',
      target: '10.10.2.12',
      durationS: 90,
      rate: 2,
    });
  });

  it('rejects bad specs with a message that names the problem', () => {
    expect(() => parseAttackSpec('port-scan')).toThrow(/NAME@TIME/);
    expect(() => parseAttackSpec('nmap@10s')).toThrow(/unknown attack nmap/);
    expect(() => parseAttackSpec('port-scan@soon')).toThrow(/start soon/);
    expect(() => parseAttackSpec('port-scan@10s:src=10.1.1.300')).toThrow(/src: an IPv4 address/);
    expect(() => parseAttackSpec('port-scan@10s:speed=3')).toThrow(/speed/);
    expect(() => parseAttackSpec('port-scan@10s:rate')).toThrow(/key=value/);
    expect(() => parseAttackSpec('port-scan@10s:rate=-1')).toThrow(/rate/);
  });
});
