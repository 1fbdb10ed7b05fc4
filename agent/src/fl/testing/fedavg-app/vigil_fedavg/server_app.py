"""FedAvg ServerApp for the interop test: flwr's own FedAvg strategy, started from the initial arrays the test wrote
to `init-file` (JSON: [{"name", "shape", "values"}] in model order); the final global arrays go to `out-file` (same
format, plus the per-round aggregated client metrics)."""

import json

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    cfg = context.run_config
    with open(str(cfg["init-file"]), encoding="utf-8") as f:
        init = json.load(f)
    arrays = ArrayRecord(
        {a["name"]: Array(np.array(a["values"], dtype=np.float32).reshape(a["shape"])) for a in init}
    )
    strategy = FedAvg(
        fraction_train=1.0,
        fraction_evaluate=1.0,
        min_train_nodes=2,
        min_evaluate_nodes=2,
        min_available_nodes=2,
    )
    result = strategy.start(
        grid=grid,
        initial_arrays=arrays,
        num_rounds=int(cfg["num-server-rounds"]),
        timeout=120,
        train_config=ConfigRecord({"lr": float(cfg["lr"]), "local-epochs": int(cfg["local-epochs"])}),
    )
    out = {
        "arrays": [
            {"name": name, "shape": list(arr.shape), "values": arr.numpy().astype(np.float64).ravel().tolist()}
            for name, arr in result.arrays.items()
        ],
        "train_metrics": {str(r): dict(m) for r, m in result.train_metrics_clientapp.items()},
        "evaluate_metrics": {str(r): dict(m) for r, m in result.evaluate_metrics_clientapp.items()},
    }
    with open(str(cfg["out-file"]), "w", encoding="utf-8") as f:
        json.dump(out, f)
