"""Oracle for accountants.oracle.test.ts: epsilon from Google's dp-accounting for each query on stdin.

stdin: JSON list of {"sigma", "sampleRate", "steps", "delta"}; stdout: JSON list of {"rdp", "pld"}.
RDP uses Opacus's orders; PLD uses dp-accounting's PLDAccountant with a 1e-4 loss discretisation.
"""
import json
import sys

import dp_accounting
from dp_accounting.pld import pld_privacy_accountant
from dp_accounting.rdp import rdp_privacy_accountant

ORDERS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))

out = []
for q in json.load(sys.stdin):
    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(q["sampleRate"], dp_accounting.GaussianDpEvent(q["sigma"])), q["steps"]
    )
    rdp = rdp_privacy_accountant.RdpAccountant(ORDERS)
    rdp.compose(event)
    pld = pld_privacy_accountant.PLDAccountant(value_discretization_interval=1e-4)
    pld.compose(event)
    out.append({"rdp": rdp.get_epsilon(q["delta"]), "pld": pld.get_epsilon(q["delta"])})
json.dump(out, sys.stdout)
