// The playground page: state, runs (streamed from the server), playback and export.
//
// Every number drawn comes from the server, which runs optiscope's engine; the page only picks
// the inputs and plays back the steps. `window.playground` exposes the state and a few helpers
// (tests read the drawn paths through it).

import {
  OptimizerCard, describeSurface, fillOptimizerSelect, fillSurfaceSelect, getJSON, postJSON,
} from "./controls.js";
import {
  clientPoint, dataPoint, draw3d, drawContour, drawLoss, updateContourFrame, webglAvailable,
} from "./plots.js";

const $ = (id) => document.getElementById(id);

const state = {
  limits: null, entries: [], grid: null, surfaceText: null, noise: null,
  cards: [], starts: [], runs: [], frame: 0, playing: false, timer: null,
  trace: null, basins: null, basinConfig: 0, lrScale: 1, abort: null, has3d: webglAvailable(),
  version: 0, // bumped whenever the contour's traces change (not just the frame)
  drawnFrame: null, // the frame the contour shows once its draw has finished
};

function setPhase(phase, message = "") {
  document.body.dataset.phase = phase;
  $("status").textContent = message;
  $("status").classList.toggle("error", phase === "error");
}

const maxFrame = () => Math.max(0, ...state.runs.map((run) => run.points.length - 1));

// The step slider and its label follow the state at once; the figures follow as fast as they draw.
function showFrame() {
  const scrub = $("scrub");
  scrub.max = String(maxFrame());
  scrub.value = String(state.frame);
  $("frame").textContent = `step ${state.frame} / ${maxFrame()}`;
}

// One lane per figure: a draw waits only for the same figure's draw in flight, and the requests
// made meanwhile collapse into one draw of the latest state. So a slow 3-D view never holds back
// the contour, and dragging the slider never queues a backlog of stale frames.
function lane(draw) {
  let running = null;
  let queued = null;
  const launch = () => {
    running = Promise.resolve().then(draw).finally(() => { running = null; });
    return running;
  };
  return () => {
    if (!running) return launch();
    queued ??= running.catch(() => {}).then(() => { queued = null; return launch(); });
    return queued;
  };
}

const view = () => {
  const shownStarts = state.starts.length ? state.starts : [state.grid.surface.start];
  return { ...state, starts: state.mode() === "basins" ? [] : shownStarts };
};
// A new frame only moves the paths on the contour; a new version redraws it whole.
let drawnVersion = -1;
const contourLane = lane(async () => {
  const shown = view();
  await (drawnVersion === shown.version
    ? updateContourFrame($("contour"), shown)
    : drawContour($("contour"), shown));
  drawnVersion = shown.version;
  state.drawnFrame = shown.frame;
});
const lossLane = lane(() => drawLoss($("loss"), view()));
const surfaceLane = lane(() => draw3d($("surface3d"), view()));

// Draw the figures for the current state; during playback and streaming (`quick`) the 3-D view,
// the slow one, follows every tenth frame.
function drawAll({ quick = false } = {}) {
  showFrame();
  if (!state.grid) return Promise.resolve(null);
  const with3d = state.has3d && (!quick || state.frame % 10 === 0 || state.frame >= maxFrame());
  return Promise.all([contourLane(), lossLane(), with3d ? surfaceLane() : null])
    .catch((error) => setPhase("error", `drawing failed: ${error.message}`));
}

let queued = false;
function redraw() {
  if (queued) return;
  queued = true;
  requestAnimationFrame(() => {
    queued = false;
    drawAll({ quick: true });
  });
}

function clearResults() {
  stop();
  state.abort?.abort();
  Object.assign(state, { runs: [], frame: 0, trace: null, basins: null });
  state.version += 1;
  $("basin-info").textContent = "";
  $("basin-config").replaceChildren();
}

async function loadSurface(text) {
  setPhase("loading", "loading the surface...");
  const noise = $("noise").value === "none" ? null : $("noise").value;
  const query = new URLSearchParams({ surface: text, resolution: "120" });
  if (noise) query.set("noise", noise);
  try {
    const grid = await getJSON(`/api/surface?${query}`);
    clearResults();
    Object.assign(state, { grid, surfaceText: text, noise, starts: [] });
    state.version += 1;
    $("surface-error").textContent = "";
    describeSurface($("surface-info"), grid.surface);
    showStarts();
    await drawAll();
    setPhase("ready");
  } catch (error) {
    $("surface-error").textContent = error.message;
    setPhase("ready");
  }
}

function addOptimizer(name) {
  const entry = state.entries.find((item) => item.name === name);
  if (!entry || state.cards.length >= state.limits.max_optimizers) return null;
  const card = new OptimizerCard(entry, () => {}, (removed) => {
    state.cards = state.cards.filter((item) => item !== removed);
    removed.node.remove();
  });
  state.cards.push(card);
  $("cards").append(card.node);
  return card;
}

function showStarts() {
  const text = state.starts.map((point) => `(${point.join(", ")})`).join(" ");
  $("starts-list").textContent = text || "none placed: the surface's own start is used";
}

state.mode = () => (document.querySelector("input[name=mode]:checked").value);

function request() {
  const body = {
    surface: state.surfaceText,
    noise: state.noise,
    optimizers: state.cards.map((card) => card.spec(state.lrScale)),
    steps: Number($("steps").value),
    grad_noise: $("grad-noise-on").checked ? Number($("grad-noise").value) : 0,
    seed: Number($("seed").value),
  };
  if (state.mode() === "basins") body.grid = Number($("grid").value);
  else body.starts = state.starts.length ? state.starts : null;
  return body;
}

function parseEvent(chunk) {
  let event = "message";
  let data = "";
  for (const line of chunk.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data += line.slice(5).trim();
  }
  return { event, data: JSON.parse(data) };
}

function handleEvent({ event, data }) {
  if (event === "meta") {
    const specs = [...new Set(data.runs.map((run) => run.spec))];
    state.runs = data.runs.map((run) => {
      const config = specs.indexOf(run.spec);
      const firstOfConfig = data.runs.find((other) => other.spec === run.spec) === run;
      return { ...run, config, firstOfConfig, points: [], losses: [], status: "running" };
    });
    state.version += 1;
  } else if (event === "steps") {
    const run = state.runs[data.run];
    run.points.push(...data.points);
    run.losses.push(...data.losses);
    state.frame = maxFrame();
    redraw();
  } else if (event === "run") {
    Object.assign(state.runs[data.run], data);
  } else if (event === "error") {
    throw new Error(data.error);
  }
}

async function streamPaths(body) {
  const controller = new AbortController();
  state.abort = controller;
  const response = await fetch("/api/paths/stream", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body), signal: controller.signal,
  });
  if (!response.ok) throw new Error((await response.json()).error);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      handleEvent(parseEvent(buffer.slice(0, cut)));
      buffer = buffer.slice(cut + 2);
    }
  }
}

async function runBasins(body) {
  const basins = await postJSON("/api/basins", body);
  state.basins = basins;
  state.version += 1;
  $("basin-config").replaceChildren(...basins.maps.map((map, index) => new Option(map.label, index)));
  showBasinInfo();
}

function showBasinInfo() {
  const map = state.basins.maps[state.basinConfig];
  const shares = Object.entries(map.fractions)
    .filter(([, share]) => share > 0)
    .map(([name, share]) => `${name} ${(100 * share).toFixed(0)}%`);
  $("basin-info").textContent = `${map.label}: ${shares.join(", ")}`;
}

async function run() {
  if (!state.cards.length) return setPhase("error", "add an optimizer first");
  const invalid = state.cards.find((card) => !card.valid);
  if (invalid) return setPhase("error", `${invalid.entry.name}: ${invalid.error.textContent}`);
  clearResults();
  setPhase("running", "running...");
  const began = performance.now();
  try {
    const body = request();
    if (state.mode() === "basins") await runBasins(body);
    else await streamPaths(body);
    state.frame = maxFrame();
    if ($("arrows").checked) await loadTrace();
    await drawAll();
    setPhase("done", `${state.runs.length || state.basins.maps.length} result(s) in ${((performance.now() - began) / 1000).toFixed(2)} s`);
  } catch (error) {
    if (error.name === "AbortError") return null;
    setPhase("error", error.message);
  }
  return null;
}

async function loadTrace() {
  const source = state.runs[0];
  state.trace = null;
  if (!source || !$("arrows").checked) return;
  state.trace = await postJSON("/api/trace", {
    surface: state.surfaceText, noise: state.noise, optimizer: source.spec, start: source.start,
    steps: Math.min(Math.max(source.steps, 1), state.limits.max_trace_steps),
  });
}

function stop() {
  state.playing = false;
  clearTimeout(state.timer);
  $("play").textContent = "Play";
}

// One frame of playback: about 150 frames whatever the run's length, each drawn before the next.
async function tick() {
  if (!state.playing) return;
  state.frame = Math.min(state.frame + Math.max(1, Math.round(maxFrame() / 150)), maxFrame());
  await drawAll({ quick: true });
  if (state.frame >= maxFrame()) stop();
  else if (state.playing) state.timer = setTimeout(tick, 30);
}

function togglePlay() {
  if (state.playing) return stop();
  if (state.frame >= maxFrame()) state.frame = 0;
  state.playing = true;
  $("play").textContent = "Pause";
  return tick();
}

async function exportSetup() {
  try {
    const exported = await postJSON("/api/export", request());
    $("export-command").textContent = exported.command;
    $("export-yaml").value = exported.yaml;
    const link = $("download-yaml");
    URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob([exported.yaml], { type: "text/yaml" }));
    $("export").hidden = false;
  } catch (error) {
    setPhase("error", error.message);
  }
}

async function downloadPng() {
  const url = await Plotly.toImage($("contour"), { format: "png", width: 900, height: 720 });
  const link = document.createElement("a");
  link.href = url;
  link.download = "optiscope-playground.png";
  link.click();
}

function wire() {
  $("surface").addEventListener("change", () => loadSurface($("surface").value));
  $("noise").addEventListener("change", () => loadSurface(state.surfaceText));
  $("expression-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadSurface($("expression").value.trim());
  });
  $("add-optimizer").addEventListener("click", () => addOptimizer($("optimizer").value));
  $("clear-starts").addEventListener("click", () => {
    state.starts = [];
    state.version += 1;
    showStarts();
    drawAll();
  });
  $("contour").addEventListener("click", (event) => {
    if (state.mode() !== "paths" || !state.grid) return;
    const point = dataPoint($("contour"), event.clientX, event.clientY);
    if (!point) return;
    if (state.starts.length >= state.limits.max_starts) {
      setPhase("error", `at most ${state.limits.max_starts} starts`);
      return;
    }
    state.starts.push(point.map((value) => Number(value.toPrecision(6))));
    state.version += 1;
    showStarts();
    drawAll();
  });
  $("run").addEventListener("click", run);
  $("play").addEventListener("click", togglePlay);
  $("step").addEventListener("click", () => {
    stop();
    state.frame = Math.min(state.frame + 1, maxFrame());
    drawAll();
  });
  $("scrub").addEventListener("input", () => {
    stop();
    state.frame = Number($("scrub").value);
    drawAll();
  });
  $("lr-scale").addEventListener("input", () => {
    $("lr-label").textContent = `× ${(10 ** Number($("lr-scale").value)).toPrecision(3)}`;
  });
  $("lr-scale").addEventListener("change", () => {
    state.lrScale = 10 ** Number($("lr-scale").value);
    if (state.runs.length || state.basins) run();
  });
  $("arrows").addEventListener("change", async () => {
    await loadTrace().catch((error) => setPhase("error", error.message));
    drawAll();
  });
  $("basin-config").addEventListener("change", () => {
    state.basinConfig = Number($("basin-config").value);
    state.version += 1;
    showBasinInfo();
    drawAll();
  });
  $("export-button").addEventListener("click", exportSetup);
  $("png").addEventListener("click", downloadPng);
}

async function start() {
  setPhase("loading", "loading the registries...");
  const [limits, entries, surfaces] = await Promise.all([
    getJSON("/api/limits"), getJSON("/api/optimizers"), getJSON("/api/surfaces"),
  ]);
  Object.assign(state, { limits, entries });
  fillOptimizerSelect($("optimizer"), entries);
  fillSurfaceSelect($("surface"), surfaces);
  $("steps").max = String(limits.max_steps);
  $("grid").max = String(limits.max_grid);
  $("optimizer").value = "adam";
  $("surface").value = "rosenbrock";
  if (!state.has3d) $("surface3d").textContent = "3-D view: this browser has no WebGL.";
  wire();
  await loadSurface("rosenbrock");
}

window.playground = {
  state,
  addOptimizer,
  loadSurface,
  run,
  clientPoint: (x, y) => clientPoint($("contour"), x, y),
  // The end point of every path drawn on the contour, read back from the figure itself.
  pathEnds: () => $("contour").data
    .filter((trace) => trace.meta && trace.meta.run !== undefined)
    .map((trace) => ({ run: trace.meta.run, label: trace.name, x: trace.x.at(-1), y: trace.y.at(-1) })),
};

start().catch((error) => setPhase("error", error.message));
