"""One colour per optimizer config, colour-blind safe, the same in every figure of a run."""

from __future__ import annotations

__all__ = ["PALETTE", "colour_for"]

# Okabe & Ito (2008), reordered so the first colours contrast well on a viridis background,
# then Paul Tol's "muted" scheme for runs beyond eight configs.
PALETTE: tuple[str, ...] = (
    "#E69F00",
    "#56B4E9",
    "#D55E00",
    "#CC79A7",
    "#F0E442",
    "#009E73",
    "#0072B2",
    "#000000",
    "#CC6677",
    "#332288",
    "#DDCC77",
    "#117733",
    "#88CCEE",
    "#882255",
    "#44AA99",
    "#999933",
    "#AA4499",
)


def colour_for(index: int) -> str:
    """Colour of config ``index`` (cycles after the palette's end)."""
    return PALETTE[index % len(PALETTE)]
