"""The page's setup written out as an ``optiscope paths`` command and as a YAML experiment.

Both say exactly what the page ran (canonical optimizer specs, the starts or the start grid, the
engine options that differ from their defaults), so running either reproduces the page's paths.
"""

from __future__ import annotations

import shlex
from typing import Any

import yaml

from optiscope.paths import EngineOptions
from optiscope.serve.requests import PathsJob

__all__ = ["command_line", "experiment_document", "experiment_yaml"]

_DEFAULTS = EngineOptions()
_OUT = "runs/playground"


def _changed_options(job: PathsJob) -> dict[str, Any]:
    """The engine options the page set away from their defaults: grad_noise, seed, tol."""
    return {
        name: getattr(job.options, name)
        for name in ("grad_noise", "seed", "tol")
        if getattr(job.options, name) != getattr(_DEFAULTS, name)
    }


def command_line(job: PathsJob, out: str = _OUT) -> str:
    """The ``optiscope paths`` command that runs ``job`` (quoted for a POSIX shell)."""
    words = ["optiscope", "paths", job.surface_text]
    for spec in job.specs:
        words += ["--opt", spec.to_string()]
    if job.grid is not None:
        words.append(f"--starts={job.grid}x{job.grid}")
    else:
        # --start=X,Y: a negative X would otherwise read as an option.
        words += [f"--start={x!r},{y!r}" for x, y in job.starts.tolist()]
    words += ["--steps", str(job.options.steps)]
    if job.noise is not None:
        words += ["--noise", job.noise]
    for name, value in _changed_options(job).items():
        words += [f"--{name.replace('_', '-')}", repr(value)]
    words += ["--out", out]
    return shlex.join(words)


def experiment_document(job: PathsJob, name: str = "playground") -> dict[str, Any]:
    """An experiment of one ``paths`` step that runs ``job`` (``optiscope run FILE --out DIR``)."""
    step: dict[str, Any] = {
        "kind": "paths",
        "name": name,
        "surface": job.surface_spec,
        "optimizers": [spec.to_string() for spec in job.specs],
    }
    if job.grid is not None:
        step["start_grid"] = job.grid
    else:
        step["starts"] = job.starts.tolist()
    step["steps"] = job.options.steps
    step.update(_changed_options(job))
    return {"name": name, "title": "Paths from the optiscope playground", "steps": [step]}


def experiment_yaml(job: PathsJob, name: str = "playground") -> str:
    """:func:`experiment_document` as YAML text."""
    return yaml.safe_dump(experiment_document(job, name), sort_keys=False, default_flow_style=None)
