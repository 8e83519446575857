"""``optiscope optimizers list|show`` and ``optiscope surfaces list|show``: the registries, searchable."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from optiscope.cli_app import handles_errors, optimizers_app, surfaces_app

__all__ = ["optimizers_list", "optimizers_show", "surfaces_list", "surfaces_show"]

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON (stable, documented in the README).")]
Grep = Annotated[
    str | None, typer.Option("--grep", help="Keep entries whose name, notes or formula contain TEXT.")
]


def _matches(text: str, needle: str | None) -> bool:
    return needle is None or needle.lower() in text.lower()


def _optimizer_lines(entry: dict[str, Any]) -> list[str]:
    aliases = f" (aliases: {', '.join(entry['aliases'])})" if entry["aliases"] else ""
    tags = f" [{', '.join(entry['tags'])}]" if entry.get("tags") else ""
    lines = [
        f"{entry['name']}{aliases}  source={entry['source']}{tags}",
        f"    defaults: {entry['defaults']}",
    ]
    if entry.get("notes"):
        lines.append(f"    notes: {entry['notes']}")
    if entry.get("conformance_exception"):
        lines.append(f"    exception: {entry['conformance_exception']}")
    return lines


@optimizers_app.command("list")
@handles_errors
def optimizers_list(
    as_json: AsJson = False,
    source: Annotated[
        str | None, typer.Option(help="Only this source: torch, pytorch_optimizer, optiscope or user.")
    ] = None,
    tag: Annotated[str | None, typer.Option(help="Only entries with this tag (e.g. adaptive, sign).")] = None,
    grep: Grep = None,
) -> None:
    """List every optimizer: name, aliases, source, defaults, tags and formula notes."""
    from optiscope.errors import SpecError
    from optiscope.optimizers import list_entries

    entries = [entry.describe() for entry in list_entries()]
    sources = sorted({entry["source"] for entry in entries} | {"user"})
    if source is not None and source not in sources:
        raise SpecError(f"--source must be one of {', '.join(sources)}; got {source!r}")
    kept = [
        entry
        for entry in entries
        if (source is None or entry["source"] == source)
        and (tag is None or tag in entry["tags"])
        and _matches(" ".join([entry["name"], *entry["aliases"], entry["notes"]]), grep)
    ]
    if as_json:
        typer.echo(json.dumps(kept, indent=2, default=str))
        return
    for entry in kept:
        typer.echo("\n".join(_optimizer_lines(entry)))
    if not kept:
        typer.echo("no optimizer matches (see `optiscope optimizers list` for all of them)")


@optimizers_app.command("show")
@handles_errors
def optimizers_show(
    name: Annotated[str, typer.Argument(help="An optimizer name or alias, e.g. adam or lamb_keras.")],
    as_json: AsJson = False,
) -> None:
    """One optimizer: defaults, flags, formula notes and its source library's documentation."""
    from optiscope.optimizers import get_entry
    from optiscope.optimizers.documentation import documentation_link

    entry = get_entry(name)
    described = {**entry.describe(), "documentation": documentation_link(entry)}
    if as_json:
        typer.echo(json.dumps(described, indent=2, default=str))
        return
    typer.echo("\n".join(_optimizer_lines(described)))
    flags = [
        flag
        for flag in ("elementwise", "needs_create_graph", "needs_closure", "needs_matrix")
        if described[flag]
    ]
    typer.echo(f"    flags: {', '.join(flags) if flags else 'none'}")
    typer.echo(f"    documentation: {described['documentation']}")


@surfaces_app.command("list")
@handles_errors
def surfaces_list(as_json: AsJson = False, grep: Grep = None) -> None:
    """List every surface: name, formula, domain, start point and known minima."""
    from optiscope.surfaces import list_surfaces

    described = [
        surface.describe()
        for surface in list_surfaces()
        if _matches(" ".join([surface.name, surface.formula, surface.description]), grep)
    ]
    if as_json:
        typer.echo(json.dumps(described, indent=2))
        return
    for surface in described:
        typer.echo(f"{surface['name']}: {surface['formula']}")
        typer.echo(f"    domain {surface['domain']}, start {surface['start']}, minima {surface['minima']}")
    if not described:
        typer.echo("no surface matches (see `optiscope surfaces list` for all of them)")


@surfaces_app.command("show")
@handles_errors
def surfaces_show(
    name: Annotated[
        str, typer.Argument(help="A surface name or spec, e.g. rosenbrock or 'f0:noise=lookup'.")
    ],
    as_json: AsJson = False,
) -> None:
    """One surface: formula, description, domain, starts, known minima and its options."""
    from optiscope.surfaces import get as get_surface

    described = get_surface(name).describe()
    if as_json:
        typer.echo(json.dumps(described, indent=2))
        return
    typer.echo(f"{described['name']}: {described['formula']}")
    if described["description"]:
        typer.echo(f"    {described['description']}")
    typer.echo(f"    domain {described['domain']}, start {described['start']}")
    typer.echo(f"    minima {described['minima']} (value {described['minimum_value']})")
    typer.echo(
        f"    stochastic: {'yes' if described['stochastic'] else 'no'}; options {described['options']}"
    )
