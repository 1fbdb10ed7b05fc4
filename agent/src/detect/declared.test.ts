// Declared known masters (the config's known_masters): the engineering workstation of water-a (seed 21) makes two
// routine engineering changes (read, write within range, read back) after a 10-min learning period in which it wrote
// nothing. Declared, it is a known master: those changes raise nothing, while its attacks are still judged (a value
// out of a register's learnt range, a first write of a pair, a function never used).
import { describe, expect, it } from 'vitest';
import { topologySpec } from '../sim/topology.js';
import type { AttackSpec } from '../sim/attacks.js';
import { Baseline } from './baseline.js';
import type { AgentAlert } from './correlate.js';
import { runScenario } from './scenario.js';

const WORKSTATION = topologySpec('water-a').engineering;

async function alerts(declared: boolean, attacks: AttackSpec[] = []): Promise<AgentAlert[]> {
  const baseline = new Baseline();
  if (declared) baseline.declare({ masters: [WORKSTATION], pairs: [] });
  const r = await runScenario({
    topology: 'water-a',
    seed: 21,
    durationS: 2100,
    learnS: 600,
    attacks,
    baseline,
  });
  return r.alerts;
}

const rules = (a: AgentAlert): string[] => a.sources.map((s) => s.model_name.replace('modbus-policy/', ''));

describe('a declared known master', () => {
  it("is judged as a learnt master: the workstation's routine engineering changes raise no alert", async () => {
    const undeclared = await alerts(false);

    const declared = await alerts(true);

    expect(undeclared.map(rules)).toEqual([
      ['new-service', 'new-master', 'new-master-write'],
      ['new-service', 'new-master', 'new-master-write'],
    ]);
    expect(declared).toEqual([]);
  });

  it('is no allow-list: its out-of-range setpoint writes are still an alert', async () => {
    const found = await alerts(true, [{ attack: 'modbus-setpoint-write', atS: 1500, src: WORKSTATION }]);

    expect(found.map((a) => [a.attack_type, rules(a)])).toEqual([
      ['T0836', ['setpoint-out-of-range', 'new-modbus-pair']],
    ]);
  });

  it('is no allow-list: a declared pair still alerts on a function it was not declared with', async () => {
    const baseline = new Baseline();
    const slave = topologySpec('water-a').plcs[0]!.ip;
    baseline.declare({ masters: [], pairs: [{ master: WORKSTATION, slave, functions: [3] }] });

    const r = await runScenario({
      topology: 'water-a',
      seed: 21,
      durationS: 900,
      learnS: 600,
      attacks: [{ attack: 'modbus-coil-write', atS: 700, src: WORKSTATION, target: slave }],
      baseline,
    });

    expect(r.alerts.map((a) => [a.attack_type, rules(a)[0]])).toContainEqual(['T0855', 'first-write']);
  });
});
