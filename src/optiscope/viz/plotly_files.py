"""Interactive figures as small script files, and one shared plotly.js per run tree.

A figure is stored as ``figures/<name>.plotly.js``, a script that adds the figure's JSON to
``window.optiscopeFigures``. A page loads it with ``<script src>``, which works from ``file://``
(a ``fetch`` of a ``.json`` file does not). plotly.js itself (about 4.8 MB) is written once per
run tree, in ``<tree root>/assets/``, and every report of the tree links to that one copy.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from optiscope.errors import StoreError
from optiscope.store import RunDir, atomic_write_text
from optiscope.store.layout import SHARED_ASSETS_DIR

__all__ = [
    "ASSETS_DIR",
    "FIGURE_SUFFIX",
    "LEGACY_SUFFIX",
    "plotly_asset_name",
    "read_plotly",
    "save_plotly",
    "write_plotly_asset",
]

FIGURE_SUFFIX = ".plotly.js"
# Figures stored before the script files: plain plotly JSON, embedded inline by the report.
LEGACY_SUFFIX = ".plotly.json"
ASSETS_DIR = SHARED_ASSETS_DIR
_REGISTRY = "window.optiscopeFigures"
_HEADER = f"{_REGISTRY} = {_REGISTRY} || {{}}; {_REGISTRY}["
_ASSIGN = "] = "
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def save_plotly(run_dir: RunDir, figure: Any, name: str) -> Path:
    """Store a plotly ``figure`` as ``figures/<name>.plotly.js`` of ``run_dir``; its path.

    Args:
        run_dir: the run directory that owns the figure.
        figure: a ``plotly.graph_objects.Figure``.
        name: the figure's name: letters, digits, ``_``, ``.`` and ``-``; no folder.

    Raises:
        StoreError: ``name`` is not a plain file name, or the file cannot be written.
    """
    if not _NAME.fullmatch(name) or name.endswith((FIGURE_SUFFIX, LEGACY_SUFFIX)):
        raise StoreError(f"interactive figure name {name!r} must be a plain name such as 'contour'")
    # "</" would end an inline <script>; "<\/" is the same string to JSON and JavaScript.
    payload = figure.to_json().replace("</", "<\\/")
    text = f"{_HEADER}{json.dumps(name)}{_ASSIGN}{payload};\n"
    return run_dir.write_text(f"figures/{name}{FIGURE_SUFFIX}", text)


def read_plotly(path: Path) -> dict[str, Any]:
    """The figure dict (``data``, ``layout``, maybe ``frames``) of a ``.plotly.js`` file.

    Raises:
        StoreError: the file cannot be read or was not written by :func:`save_plotly`.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not text.startswith(_HEADER):
        raise StoreError(f"{path} is not an optiscope interactive figure")
    decoder = json.JSONDecoder()
    try:
        _name, end = decoder.raw_decode(text, len(_HEADER))
        if not text.startswith(_ASSIGN, end):
            raise ValueError(f"no {_ASSIGN!r} after the figure's name")
        figure, end = decoder.raw_decode(text, end + len(_ASSIGN))
    except ValueError as exc:
        raise StoreError(f"{path} is corrupt: {exc}") from exc
    if text[end:].strip() != ";" or not isinstance(figure, dict):
        raise StoreError(f"{path} is corrupt: unexpected text after the figure")
    return figure


def plotly_asset_name() -> str:
    """``plotly-<plotly.js version>.min.js``: the file name of the installed plotly.js."""
    from plotly.offline import get_plotlyjs_version

    return f"plotly-{get_plotlyjs_version()}.min.js"


def write_plotly_asset(root: Path) -> Path:
    """``root/assets/plotly-<version>.min.js``, written (atomically) only if it is not there yet."""
    from plotly.offline import get_plotlyjs

    target = Path(root) / ASSETS_DIR / plotly_asset_name()
    if not target.is_file():
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {target.parent}: {exc.strerror or exc}") from exc
        atomic_write_text(target, get_plotlyjs())
    return target
