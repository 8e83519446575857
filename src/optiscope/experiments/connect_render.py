"""A stored connectivity study, drawn: loss and accuracy along each curve, and the Bezier training."""

from __future__ import annotations

from optiscope.experiments.protocol import Style
from optiscope.store import RunDir
from optiscope.viz.connect_figures import bezier_training_figure, connectivity_figure

__all__ = ["CONTROL_FILE", "render_connect"]

CONTROL_FILE = "bezier_control.safetensors"


def render_connect(run_dir: RunDir, style: Style) -> None:
    """Draw a stored connect study with ``style`` (the connect kind's ``render``)."""
    title = str(run_dir.manifest.get("title", run_dir.path.name))
    options = style.save_options()
    figure = connectivity_figure(run_dir.read_table("curves"), run_dir.read_table("summary"), title=title)
    run_dir.save_figure(figure, "connectivity.png", **options)
    if (run_dir.path / "bezier_training.parquet").is_file():
        training = run_dir.read_table("bezier_training")
        run_dir.save_figure(bezier_training_figure(training, title=title), "bezier_training.png", **options)
