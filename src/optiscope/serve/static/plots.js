// The playground's figures (plotly.js, served by the app): the contour with paths, start points,
// teaching arrows and basin maps; the 3-D surface with the paths riding on it; loss per step.

/* global Plotly */

const COLOURS = [
  "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
  "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
];
const BASIN_COLOURS = ["#4c72b0", "#55a868", "#c44e52", "#8172b2", "#ccb974", "#64b5cd", "#dd8452"];
const CONFIG = { displaylogo: false, responsive: true };
const ACCUMULATOR = /sq|square|sum|max_exp/;

export const colourOf = (config) => COLOURS[config % COLOURS.length];

export function webglAvailable() {
  try {
    const canvas = document.createElement("canvas");
    return Boolean(canvas.getContext("webgl") || canvas.getContext("experimental-webgl"));
  } catch (error) {
    return false;
  }
}

// Per grid, computed once: redrawing a frame must not rebuild the surface traces.
const derived = new WeakMap();
function once(grid, key, make) {
  if (!derived.has(grid)) derived.set(grid, {});
  const cache = derived.get(grid);
  if (!(key in cache)) cache[key] = make(grid);
  return cache[key];
}

// Contour levels on a log scale when the surface spans many orders of magnitude above its minimum.
function levelsOf(grid) {
  const values = grid.z.flat().filter((value) => value !== null);
  const low = Math.min(...values);
  const sorted = values.map((value) => value - low).sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const high = sorted[sorted.length - 1];
  const log = high > 0 && median > 0 && high / median > 5;
  const floor = log ? Math.max(high * 1e-6, 1e-12) : 0;
  const z = grid.z.map((row) =>
    row.map((value) => (value === null ? null : log ? Math.log10(value - low + floor) : value)),
  );
  return { z, log };
}

// (x, y) in data units of a click at (clientX, clientY) on the contour, or null outside the axes.
export function dataPoint(div, clientX, clientY) {
  const layout = div._fullLayout;
  if (!layout || !layout.xaxis) return null;
  const box = div.getBoundingClientRect();
  const px = clientX - box.left - div.clientLeft - layout.xaxis._offset;
  const py = clientY - box.top - div.clientTop - layout.yaxis._offset;
  if (px < 0 || py < 0 || px > layout.xaxis._length || py > layout.yaxis._length) return null;
  return [layout.xaxis.p2c(px), layout.yaxis.p2c(py)];
}

// Pixel position (client coordinates) of the data point (x, y) on the contour: for tests and tools.
export function clientPoint(div, x, y) {
  const layout = div._fullLayout;
  const box = div.getBoundingClientRect();
  return [
    box.left + div.clientLeft + layout.xaxis._offset + layout.xaxis.c2p(x),
    box.top + div.clientTop + layout.yaxis._offset + layout.yaxis.c2p(y),
  ];
}

function visible(run, frame) {
  const end = Math.min(frame + 1, run.points.length);
  const points = run.points.slice(0, end).filter((point) => point !== null && point[0] !== null);
  return { x: points.map((point) => point[0]), y: points.map((point) => point[1]), end };
}

function arrowAnnotations(trace, frame, span) {
  if (!trace) return [];
  const step = Math.min(frame, trace.gradients.length - 1);
  if (step < 0 || !trace.positions[step]) return [];
  const [x, y] = trace.positions[step];
  const vectors = [["-gradient", trace.gradients[step].map((value) => -value), "#000"]];
  vectors.push(["update", trace.updates[step], "#d62728"]);
  for (const [name, values] of Object.entries(trace.state)) {
    // Directions only: accumulated squares and sums (Adam's exp_avg_sq, AdaGrad's sum) are scales.
    if (ACCUMULATOR.test(name) || !values[step] || values[step][0] === null) continue;
    vectors.push([name, values[step], "#6a3d9a"]);
  }
  const annotations = [];
  for (const [name, vector, colour] of vectors) {
    const length = Math.hypot(vector[0], vector[1]);
    if (!Number.isFinite(length) || length === 0) continue;
    // Directions to scale: each arrow is 12% of the domain's width; its true length is in the label.
    const scale = (0.12 * span) / length;
    const tip = [x + vector[0] * scale, y + vector[1] * scale];
    annotations.push({
      x: tip[0], y: tip[1], ax: x, ay: y, xref: "x", yref: "y", axref: "x", ayref: "y",
      showarrow: true, arrowhead: 2, arrowwidth: 2, arrowcolor: colour, text: "",
    });
    annotations.push({
      x: tip[0], y: tip[1], xref: "x", yref: "y", showarrow: false, xanchor: vector[0] < 0 ? "right" : "left",
      text: `${name} |${length.toPrecision(2)}|`, font: { size: 10, color: colour }, bgcolor: "rgba(255,255,255,0.7)",
    });
  }
  return annotations;
}

function basinTrace(basins, config) {
  const map = basins.maps[config];
  const n = basins.xs.length;
  const rows = [];
  for (let i = 0; i < basins.ys.length; i += 1) rows.push(map.basin.slice(i * n, (i + 1) * n));
  const labels = [-2, -1, ...basins.minima.map((_, index) => index)];
  const colours = ["#222222", "#bbbbbb", ...basins.minima.map((_, index) => BASIN_COLOURS[index % 7])];
  const scale = labels.map((_, index) => [index / Math.max(labels.length - 1, 1), colours[index]]);
  return {
    type: "heatmap", x: basins.xs, y: basins.ys, z: rows.map((row) => row.map((label) => labels.indexOf(label))),
    colorscale: scale.length > 1 ? scale : [[0, colours[0]], [1, colours[0]]],
    zmin: 0, zmax: Math.max(labels.length - 1, 1), opacity: 0.55, showscale: false, hoverinfo: "skip",
    name: `basins of ${map.label}`,
  };
}

// Draw the contour view: surface, paths up to `frame`, starts, arrows and basins.
export function drawContour(div, view) {
  const { grid, runs, frame, starts, trace, basins, basinConfig } = view;
  const { z, log } = once(grid, "levels", levelsOf);
  const surface = grid.surface;
  const traces = [{
    type: "contour", x: grid.x, y: grid.y, z, ncontours: 30, colorscale: "Viridis",
    contours: { coloring: "heatmap" }, line: { width: 0.5 }, hoverinfo: "skip",
    colorbar: { title: { text: log ? "log10(f - min)" : "f" }, thickness: 12 },
  }];
  if (basins) traces.push(basinTrace(basins, basinConfig));
  runs.forEach((run) => {
    const shown = visible(run, frame);
    traces.push({
      type: "scatter", mode: "lines+markers", x: shown.x, y: shown.y, name: run.label,
      legendgroup: run.label, showlegend: run.firstOfConfig, meta: { run: run.run },
      line: { color: colourOf(run.config), width: 2 }, marker: { size: 3 },
    });
  });
  traces.push({
    type: "scatter", mode: "markers", x: starts.map((p) => p[0]), y: starts.map((p) => p[1]),
    name: "starts", marker: { symbol: "x", size: 10, color: "#fff", line: { color: "#000", width: 1 } },
  });
  if (surface.minima.length) {
    traces.push({
      type: "scatter", mode: "markers", name: "minima", x: surface.minima.map((p) => p[0]),
      y: surface.minima.map((p) => p[1]), marker: { symbol: "star", size: 12, color: "#ffd700" },
    });
  }
  const span = surface.domain[0][1] - surface.domain[0][0];
  const layout = {
    margin: { l: 50, r: 10, t: 30, b: 40 },
    title: { text: surface.formula, font: { size: 13 } },
    xaxis: { range: surface.domain[0], title: { text: "x" }, constrain: "domain" },
    yaxis: { range: surface.domain[1], title: { text: "y" } },
    dragmode: false, hovermode: "closest",
    legend: { orientation: "h", y: -0.12 },
    annotations: arrowAnnotations(trace, frame, span),
  };
  return Plotly.react(div, traces, layout, CONFIG);
}

// The surface clipped at its 95th percentile, so a steep rim does not flatten the valley floor.
function clipped(grid) {
  const values = grid.z.flat().filter((value) => value !== null).sort((a, b) => a - b);
  const cap = values[Math.floor(0.95 * (values.length - 1))];
  return { cap, z: grid.z.map((row) => row.map((value) => (value === null ? null : Math.min(value, cap)))) };
}

// Move the drawn paths and arrows to `view.frame` without redrawing the surface: plotly's animate
// with redraw off updates scatter traces alone (a full react recomputes the contour, ~10x slower).
export async function updateContourFrame(div, view) {
  const traces = [];
  const data = [];
  div.data.forEach((trace, index) => {
    if (!trace.meta || trace.meta.run === undefined) return;
    const { x, y } = visible(view.runs[trace.meta.run], view.frame);
    traces.push(index);
    data.push({ x, y });
  });
  if (traces.length) {
    const immediate = { transition: { duration: 0 }, frame: { duration: 0, redraw: false }, mode: "immediate" };
    await Plotly.animate(div, { data, traces }, immediate);
  }
  const span = view.grid.surface.domain[0][1] - view.grid.surface.domain[0][0];
  const annotations = arrowAnnotations(view.trace, view.frame, span);
  if (annotations.length || (div.layout.annotations || []).length) await Plotly.relayout(div, { annotations });
}

export function draw3d(div, view) {
  const { grid, runs, frame } = view;
  const { cap, z } = once(grid, "clipped", clipped);
  const traces = [{
    type: "surface", x: grid.x, y: grid.y, z, colorscale: "Viridis", opacity: 0.85,
    showscale: false, hoverinfo: "skip",
  }];
  runs.forEach((run) => {
    const end = Math.min(frame + 1, run.points.length);
    const keep = [];
    for (let i = 0; i < end; i += 1) if (run.points[i] && run.losses[i] !== null) keep.push(i);
    traces.push({
      type: "scatter3d", mode: "lines", name: run.label, showlegend: false,
      x: keep.map((i) => run.points[i][0]), y: keep.map((i) => run.points[i][1]),
      z: keep.map((i) => Math.min(run.losses[i], cap)), line: { color: colourOf(run.config), width: 5 },
    });
  });
  // Axes fixed to the domain (a run thrown far out would otherwise shrink the surface to a dot).
  const low = once(grid, "low", () => Math.min(...grid.z.flat().filter((value) => value !== null)));
  const layout = {
    margin: { l: 0, r: 0, t: 10, b: 0 },
    scene: {
      xaxis: { range: grid.surface.domain[0], title: { text: "x" } },
      yaxis: { range: grid.surface.domain[1], title: { text: "y" } },
      zaxis: { range: [low, cap], title: { text: "f" } },
    },
  };
  return Plotly.react(div, traces, layout, CONFIG);
}

export function drawLoss(div, view) {
  const { runs, frame } = view;
  const positive = runs.every((run) => run.losses.every((value) => value === null || value > 0));
  const traces = runs.map((run) => {
    const losses = run.losses.slice(0, frame + 1);
    return {
      type: "scatter", mode: "lines", name: run.label, showlegend: false,
      x: losses.map((_, step) => step), y: losses, line: { color: colourOf(run.config) },
    };
  });
  const layout = {
    margin: { l: 55, r: 10, t: 10, b: 40 },
    xaxis: { title: { text: "step" } },
    yaxis: { title: { text: "loss" }, type: positive && runs.length ? "log" : "linear" },
  };
  return Plotly.react(div, traces, layout, CONFIG);
}
