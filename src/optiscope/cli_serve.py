"""``optiscope serve``: the browser playground on a local web server."""

from __future__ import annotations

import ipaddress
from typing import Annotated

import typer

from optiscope.cli_app import app, handles_errors
from optiscope.errors import SpecError

__all__ = ["is_loopback", "serve_command"]

_MISSING_EXTRA = "the playground needs FastAPI and uvicorn: pip install 'optiscope[serve]'"


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


@app.command("serve")
@handles_errors
def serve_command(
    host: Annotated[
        str, typer.Option(help="Address to listen on; anything but loopback exposes the server.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    max_steps: Annotated[int, typer.Option(help="Steps per run a request may ask for.")] = 2000,
    max_starts: Annotated[int, typer.Option(help="Start points per paths request.")] = 32,
    max_grid: Annotated[int, typer.Option(help="Points per axis of a basin map's start grid.")] = 30,
    max_optimizers: Annotated[int, typer.Option(help="Optimizer configs per request.")] = 8,
    time_limit: Annotated[float, typer.Option(help="Seconds one request may compute.")] = 20.0,
    max_runs: Annotated[int, typer.Option(help="Requests computing or queued at once.")] = 64,
) -> None:
    """The browser playground: pick a surface and optimizers, click start points, watch the paths.

    Serves one page and a JSON API (see the README) with the same engine and registry as the
    CLI; everything the page loads comes from this server, so it works offline.
    """
    try:
        import uvicorn

        from optiscope.serve import ServeLimits, create_app
    except ImportError as error:
        if error.name not in {"fastapi", "uvicorn", "starlette"}:
            raise
        raise SpecError(_MISSING_EXTRA) from None
    limits = ServeLimits(max_steps=max_steps, max_starts=max_starts, max_grid=max_grid,
                         max_optimizers=max_optimizers, time_limit_s=time_limit,
                         max_runs=max_runs)  # fmt: skip
    if not is_loopback(host):
        typer.echo(
            f"warning: listening on {host}, not on loopback: anyone who can reach this machine can run "
            "optimizers on its CPU (requests stay within the limits above). Use --host 127.0.0.1 to keep "
            "it local.",
            err=True,
        )
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"optiscope playground on http://{shown}:{port}/ (Ctrl+C stops it)")
    uvicorn.run(create_app(limits), host=host, port=port, log_level="warning")
