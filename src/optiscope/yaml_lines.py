"""Where a field sits in a YAML document, so a spec error can say ``FILE:LINE: field: problem``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

__all__ = ["key_line", "line_of"]


def line_of(text: str, loc: Sequence[Any]) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (or of its nearest parent that exists)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        node = _child(node, part)
    if node is not None:
        line = node.start_mark.line + 1
    return line


def _child(node: yaml.Node, part: Any) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == str(part):
                return value
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]
    return None


def key_line(text: str, name: str) -> int | None:
    """The 1-based line of the first mapping key ``name`` anywhere in the document (a field whose
    error was raised from a nested spec, such as a sweep's ``base``), or None."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    pending = [root] if root is not None else []
    while pending:
        node = pending.pop(0)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == name:
                    return key.start_mark.line + 1
                pending.append(value)
        elif isinstance(node, yaml.SequenceNode):
            pending.extend(node.value)
    return None
