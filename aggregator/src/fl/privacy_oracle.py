"""Oracle for privacy.oracle.test.ts: a facility's epsilon after FL rounds, from Google's dp-accounting.

stdin: JSON list of {"delta", "rounds": [{"local": [{"sigma", "sampleRate", "steps"}], "central": sigma or null}]}.
Each round costs, at every Renyi order, the smaller of its local DP-SGD RDP (the composed Poisson-subsampled Gaussian
events) and the central Gaussian mechanism's RDP (GaussianDpEvent(central)); rounds compose by adding RDP.
stdout: JSON list of epsilons (Opacus's orders, as the ledger uses).
"""
import json
import sys

import dp_accounting
from dp_accounting.rdp import rdp_privacy_accountant

ORDERS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))


def rdp_of(events):
    acc = rdp_privacy_accountant.RdpAccountant(ORDERS)
    for e in events:
        acc.compose(e)
    # the accountant's per-order RDP (no public getter; this oracle needs the curve itself to take the minimum)
    return list(acc._rdp)


out = []
for case in json.load(sys.stdin):
    total = [0.0] * len(ORDERS)
    for r in case["rounds"]:
        local = rdp_of(
            [
                dp_accounting.SelfComposedDpEvent(
                    dp_accounting.PoissonSampledDpEvent(s["sampleRate"], dp_accounting.GaussianDpEvent(s["sigma"])),
                    s["steps"],
                )
                for s in r["local"]
            ]
        )
        if r["central"] is not None:
            central = rdp_of([dp_accounting.GaussianDpEvent(r["central"])])
            local = [min(a, b) for a, b in zip(local, central)]
        total = [t + x for t, x in zip(total, local)]
    eps, _ = rdp_privacy_accountant.compute_epsilon(ORDERS, total, case["delta"])
    out.append(eps)
json.dump(out, sys.stdout)
