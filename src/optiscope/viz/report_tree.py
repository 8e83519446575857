"""The tree of run directories a report sits in: its parent run, the tree's root, its child runs.

A child run is a sub-folder that holds ``manifest.json`` (a step of an experiment, a panel
cell), or one a plain folder deeper (a sweep's ``cells/NNN-*/``). The parent is found by the
same rule upwards, so a sweep cell's parent is the sweep.
"""

from __future__ import annotations

from pathlib import Path

from optiscope.store.layout import OWNED_FOLDERS
from optiscope.store.manifest import MANIFEST_NAME
from optiscope.viz.plotly_files import ASSETS_DIR

__all__ = ["child_runs", "parent_run", "tree_root"]

# Folders that never hold child runs; skipped without listing them.
_NOT_CHILDREN = (*OWNED_FOLDERS, ASSETS_DIR)


def _is_run(path: Path) -> bool:
    return (path / MANIFEST_NAME).is_file()


def parent_run(run: Path) -> Path | None:
    """The run directory holding ``run``: its parent, or its grandparent through a plain folder."""
    run = run.resolve()
    parent = run.parent
    if parent == run:
        return None
    if _is_run(parent):
        return parent
    if parent.parent != parent and _is_run(parent.parent):
        return parent.parent
    return None


def tree_root(run: Path) -> Path:
    """The top-most run directory above ``run`` (``run`` itself when nothing holds it)."""
    root = run.resolve()
    while (parent := parent_run(root)) is not None:
        root = parent
    return root


def child_runs(run: Path) -> list[tuple[str, Path]]:
    """``(relative name, path)`` of each child run of ``run``, sorted by name.

    The name is the folder (``02-adam``) or, one plain folder deeper, ``cells/000-lr=0.1``.
    """
    children = []
    for entry in sorted(run.iterdir()):
        if not entry.is_dir() or entry.name.startswith(".") or entry.name in _NOT_CHILDREN:
            continue
        if _is_run(entry):
            children.append((entry.name, entry))
            continue
        children.extend(
            (f"{entry.name}/{inner.name}", inner)
            for inner in sorted(entry.iterdir())
            if inner.is_dir() and _is_run(inner)
        )
    return children
