"""One colour, line style and marker per optimizer config, the same in every figure of a run.

Twelve configs on one canvas stay apart three ways: by colour (twelve colours whose pairwise CIE76
distance is at least 40, none close to viridis, none too light for a white background), by line
style (four, cycling) and by marker (twelve). Lines drawn on a coloured surface get an outline
(:func:`outline_for`) so a dark line reads on dark purple and a light one on yellow.
"""

from __future__ import annotations

__all__ = ["LINE_STYLES", "MARKERS", "PALETTE", "colour_for", "line_style_for", "outline_for"]

# Picked from the Okabe-Ito, Paul Tol and ColorBrewer colours for the largest smallest pairwise
# CIELAB distance (about 42) among those at least 20 away from every viridis colour and with
# lightness below 80; ordered so the first few also differ in lightness.
PALETTE: tuple[str, ...] = (
    "#EE7733",
    "#33BBEE",
    "#FF00FF",
    "#000000",
    "#FB9A99",
    "#800000",
    "#CCBB44",
    "#984EA3",
    "#117733",
    "#000080",
    "#EE3377",
    "#7F7F7F",
)
LINE_STYLES: tuple[str, ...] = ("-", "--", "-.", ":")
# No circle (the start marker) and no ring (the exit marker) among them.
MARKERS: tuple[str, ...] = ("s", "D", "^", "v", "P", "X", "*", "h", "p", "d", "<", ">")


def colour_for(index: int) -> str:
    """Colour of config ``index`` (cycles after the palette's end)."""
    return PALETTE[index % len(PALETTE)]


def line_style_for(index: int) -> tuple[str, str, str]:
    """``(colour, line style, marker)`` of config ``index``, as matplotlib names them.

    Colours and markers cycle after twelve configs, line styles after four, so the first twelve
    configs differ in colour and marker and neighbours also differ in line style.
    """
    return colour_for(index), LINE_STYLES[index % len(LINE_STYLES)], MARKERS[index % len(MARKERS)]


def outline_for(colour: str) -> str:
    """The outline that sets ``colour`` off any background: black around light colours, white
    around dark ones.

    The split is at relative luminance 0.179, where black and white have the same WCAG contrast
    ratio with the colour.
    """
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "black" if luminance > 0.179 else "white"
