"""The teaching study: stored state traces reproduce the optimizer, figures and report are written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from optiscope.experiments.teaching_study import TeachingStudy, run_teaching_study


def test_teaching_study_stores_traces_draws_figures_and_caches(tmp_path: Path) -> None:
    study = TeachingStudy(
        optimizers=("momentum:lr=0.05,momentum=0.9", "adam:lr=0.2"),
        steps=12,
        show=(0, 5),
        views=("state", "adagrad", "regression"),
    )
    run = run_teaching_study(study, tmp_path / "teach")
    figures = sorted(path.name for path in (run.path / "figures").iterdir())
    assert figures == [
        "adagrad-full-vs-diagonal.png",
        "regression-surfaces.png",
        "state-00-momentum.png",
        "state-01-adam.png",
    ]
    assert json.loads((run.path / "manifest.json").read_text())["status"] == "complete"
    page = (run.path / "report.html").read_text()
    assert all(f'src="figures/{name}"' in page for name in figures), "the report links every figure"
    assert len(page) < 100_000, "figures are linked, not embedded"

    arrays, meta = run.load_kept("trace00")  # the traces are results: kept after the caches go
    assert meta["spec"] == "momentum:lr=0.05,momentum=0.9"
    # The EMA momentum's stored velocity is the EMA of the stored gradients, written out here.
    velocity, expected = np.zeros(2), []
    for gradient in arrays["gradients"]:
        velocity = 0.9 * velocity + 0.1 * gradient
        expected.append(velocity.copy())
    (name,) = [key for key in arrays if key.startswith("state.")]
    np.testing.assert_allclose(arrays[name], np.array(expected), rtol=1e-12)
    np.testing.assert_allclose(arrays["updates"], -0.05 * np.array(expected), rtol=1e-12)

    again = run_teaching_study(study, tmp_path / "teach")
    assert again.cached
