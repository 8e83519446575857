"""A resumable toy job for the store's kill test: 12 units, then a table, then complete.

Usage: ``python tests/store_job.py OUT_DIR [SLEEP_SECONDS]``. Prints ``resumed <bool>`` first,
then ``cached`` on a cache hit, else ``computed <unit_id>`` for each unit it computes (not for
units it finds done).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from optiscope.store import RunDir

N_UNITS = 12
SPEC = {"job": "store-kill-test", "units": N_UNITS, "points": 64}


def compute_unit(index: int) -> dict[str, np.ndarray]:
    """A deterministic 'block of paths': a random walk seeded by the unit index."""
    rng = np.random.default_rng(1000 + index)
    steps = rng.normal(size=(SPEC["points"], 2))
    return {"path": np.cumsum(steps, axis=0), "loss": np.square(steps).sum(axis=1)}


def main(out: str, sleep_seconds: float) -> None:
    run = RunDir.open(out, kind="test-job", spec=SPEC, seeds={"base": 1000})
    print(f"resumed {run.resumed}", flush=True)
    if run.cached:
        print("cached", flush=True)
        return
    for index in range(N_UNITS):
        unit_id = f"unit-{index:02d}"
        if run.has_unit(unit_id):
            continue
        arrays = compute_unit(index)
        time.sleep(sleep_seconds)
        run.save_unit(unit_id, arrays, meta={"index": index})
        print(f"computed {unit_id}", flush=True)
    rows = []
    for index in range(N_UNITS):
        arrays, meta = run.load_unit(f"unit-{index:02d}")
        rows.append(
            {
                "unit": meta["index"],
                "final_x": float(arrays["path"][-1, 0]),
                "final_y": float(arrays["path"][-1, 1]),
                "mean_loss": float(arrays["loss"].mean()),
            }
        )
    run.write_table("summary", pd.DataFrame(rows))
    run.complete(n_units=N_UNITS)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 0.15)
