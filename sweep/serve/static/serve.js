// The page of `sweep serve`: draws what the server computes and asks it for more.
// Two views share the helpers at the top: the sweep view (maps, hover, click to trace,
// live recompute) and the trainability view (drag to zoom, recomputed at each window).
"use strict";

const $ = (id) => document.getElementById(id);

function showMessage(text) {
  const box = $("message");
  box.textContent = text;
  box.hidden = !text;
  box.title = "click to close";
  box.onclick = () => { box.hidden = true; };
}

// POST or GET JSON; a 4xx answer's {"error"} becomes the page's message and a rejection.
async function api(path, body) {
  const init = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, init);
  let data = null;
  try { data = await response.json(); } catch (e) { data = { error: `the server answered ${response.status}` }; }
  if (!response.ok) {
    const error = new Error(data && data.error ? data.error : `the server answered ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

function fmt(value) {
  if (value === null || value === undefined) return "—";
  if (value === 0) return "0";
  const a = Math.abs(value);
  return a >= 1e-3 && a < 1e5 ? String(Number(value.toPrecision(6))) : value.toExponential(3);
}

// The progress row keeps its place when hidden, so that nothing below it jumps.
function setProgress(done, total, label) {
  $("progress").style.visibility = "visible";
  $("progress-bar").max = Math.max(total, 1);
  $("progress-bar").value = done;
  $("progress-text").textContent = total ? `${label}: ${Math.floor((100 * done) / total)}%` : `${label}…`;
}

function hideProgress() { $("progress").style.visibility = "hidden"; }

// A number typed in a field, or a message naming the field and what it holds.
function typedNumber(id, what) {
  const text = $(id).value.trim();
  const value = text === "" ? NaN : Number(text);
  if (!Number.isFinite(value)) throw new Error(`${what} ${JSON.stringify(text)} is not a number`);
  return value;
}

// ---------------------------------------------------------------- sweep view

const sweepState = { info: null, maps: null, changes: {}, x: null, y: null, fixed: {} };
const PAD = { left: 64, bottom: 34, top: 6, right: 8 };

function rampColor(ramp, t) {
  const i = Math.max(0, Math.min(ramp.length - 1, Math.round(t * (ramp.length - 1))));
  return ramp[i];
}

function cellGeometry(canvas, nx, ny) {
  const w = canvas.width - PAD.left - PAD.right;
  const h = canvas.height - PAD.top - PAD.bottom;
  return { w, h, cw: w / nx, ch: h / ny };
}

// Ticks at least `gap` pixels apart: decades on a log axis (labelled as the decade, at the
// cell nearest to it), otherwise evenly spread cells labelled with their values.
function ticks(values, log, length, gap) {
  const n = values.length;
  const most = Math.max(2, Math.floor(length / gap));
  if (log) {
    const lo = Math.ceil(Math.log10(values[0]) - 1e-9), hi = Math.floor(Math.log10(values[n - 1]) + 1e-9);
    const step = Math.max(1, Math.ceil((hi - lo + 1) / most));
    const out = [];
    for (let e = lo; e <= hi; e += step) {
      let best = 0;
      for (let i = 1; i < n; i++) if (Math.abs(Math.log10(values[i]) - e) < Math.abs(Math.log10(values[best]) - e)) best = i;
      out.push({ index: best, label: fmt(10 ** e) });
    }
    if (out.length >= 2) return out;
  }
  const count = Math.min(n, most);
  const out = [];
  for (let k = 0; k < count; k++) {
    const index = count === 1 ? 0 : Math.round((k * (n - 1)) / (count - 1));
    out.push({ index, label: fmt(Number(values[index].toPrecision(3))) });
  }
  return out;
}

function rgbOf(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

function drawMap(canvas, maps, colorOf) {
  const ctx = canvas.getContext("2d");
  const xs = maps.x.values, ys = maps.y ? maps.y.values : [0];
  const nx = xs.length, ny = ys.length;
  const g = cellGeometry(canvas, nx, ny);
  // One pixel per cell, scaled up without smoothing: sharp cells and no seams between them.
  const cells = document.createElement("canvas");
  cells.width = nx; cells.height = ny;
  const image = cells.getContext("2d").createImageData(nx, ny);
  const rgb = new Map();
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      const hex = colorOf(j * nx + i);
      if (!rgb.has(hex)) rgb.set(hex, rgbOf(hex));
      const [r, gg, b] = rgb.get(hex);
      const at = 4 * ((ny - 1 - j) * nx + i); // row 0 is the y axis' low end: drawn at the bottom
      image.data[at] = r; image.data[at + 1] = gg; image.data[at + 2] = b; image.data[at + 3] = 255;
    }
  }
  cells.getContext("2d").putImageData(image, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(cells, PAD.left, PAD.top, g.w, g.h);
  ctx.fillStyle = "#212529";
  ctx.font = "11px system-ui, sans-serif";
  ctx.textAlign = "center";
  for (const t of ticks(xs, maps.x.log, g.w, 60)) ctx.fillText(t.label, PAD.left + (t.index + 0.5) * g.cw, canvas.height - PAD.bottom + 14);
  ctx.fillText(maps.x.name + (maps.x.log ? " (log)" : ""), PAD.left + g.w / 2, canvas.height - 4);
  if (maps.y) {
    ctx.textAlign = "right";
    for (const t of ticks(ys, maps.y.log, g.h, 28)) ctx.fillText(t.label, PAD.left - 4, PAD.top + (ny - 1 - t.index + 0.5) * g.ch + 4);
    ctx.save();
    ctx.translate(10, PAD.top + g.h / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center";
    ctx.fillText(maps.y.name + (maps.y.log ? " (log)" : ""), 0, 0);
    ctx.restore();
  }
}

function drawSweepMaps() {
  const m = sweepState.maps, info = sweepState.info;
  const missing = "#f1f3f5";
  drawMap($("map-outcome"), m, (k) => (m.outcome[k] === null ? missing : info.colors[m.outcomes[m.outcome[k]]]));
  const iters = m.n_iter.filter((v) => v !== null);
  const most = Math.max(1, ...iters);
  drawMap($("map-n_iter"), m, (k) => (m.n_iter[k] === null ? missing : rampColor(info.ramp, Math.log1p(m.n_iter[k]) / Math.log1p(most))));
  const escaped = new Set(["diverged", "nan"].map((name) => m.outcomes.indexOf(name)));
  const finite = m.loss.filter((v, k) => v !== null && !escaped.has(m.outcome[k]));
  const least = finite.length ? Math.min(...finite) : 0;
  const logs = finite.map((v) => Math.log10(v - least + 1e-12));
  const lo = logs.length ? Math.min(...logs) : 0, hi = logs.length ? Math.max(...logs) : 1;
  drawMap($("map-loss"), m, (k) => {
    if (m.outcome[k] === null) return missing;
    if (escaped.has(m.outcome[k]) || m.loss[k] === null) return info.colors[m.outcomes[m.outcome[k]]] || info.colors.diverged;
    return rampColor(info.ramp, (Math.log10(m.loss[k] - least + 1e-12) - lo) / Math.max(hi - lo, 1e-12));
  });
  colourBar("bar-n_iter", info.ramp, "0", `${most.toLocaleString()} updates (log scale)`);
  colourBar("bar-loss", info.ramp, finite.length ? fmt(10 ** lo) : "—", finite.length ? `${fmt(10 ** hi)} above ${fmt(least)}` : "");
  $("legend").innerHTML = "";
  const present = new Set(m.outcome.filter((c) => c !== null));
  for (const [code, name] of m.outcomes.entries()) {
    if (!present.has(code)) continue;
    const span = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = info.colors[name];
    span.append(swatch, document.createTextNode(name));
    $("legend").append(span);
  }
}

function colourBar(id, ramp, low, high) {
  const bar = $(id);
  bar.querySelector(".ramp").style.background = `linear-gradient(to right, ${ramp.join(", ")})`;
  bar.querySelector(".lo").textContent = low;
  bar.querySelector(".hi").textContent = high;
}

function cellAt(canvas, event) {
  const m = sweepState.maps;
  if (!m) return null;
  const rect = canvas.getBoundingClientRect();
  const px = ((event.clientX - rect.left) * canvas.width) / rect.width - PAD.left;
  const py = ((event.clientY - rect.top) * canvas.height) / rect.height - PAD.top;
  const nx = m.x.values.length, ny = m.y ? m.y.values.length : 1;
  const g = cellGeometry(canvas, nx, ny);
  const i = Math.floor(px / g.cw), row = Math.floor(py / g.ch);
  if (i < 0 || i >= nx || row < 0 || row >= ny) return null;
  const j = ny - 1 - row;
  return { i, j, k: j * nx + i };
}

function cellSettings(cell) {
  const m = sweepState.maps;
  const settings = { [m.x.name]: m.x.values[cell.i] };
  if (m.y) settings[m.y.name] = m.y.values[cell.j];
  return Object.assign(settings, m.fixed);
}

function cellText(cell) {
  const m = sweepState.maps;
  const settings = Object.entries(cellSettings(cell)).map(([n, v]) => `${n} = ${fmt(v)}`).join(", ");
  if (m.outcome[cell.k] === null) return `${settings}: no run here`;
  return `${settings}: ${m.outcomes[m.outcome[cell.k]]} after ${m.n_iter[cell.k]} updates, loss ${fmt(m.loss[cell.k])}`;
}

function liveText(maps, changes) {
  if (!Object.keys(changes).length) return "showing the saved sweep";
  const size = `${maps.x.values.length} x ${maps.y ? maps.y.values.length : 1}`;
  return `recomputed live on ${size} runs: ` + Object.entries(changes).map(([n, v]) => `${n} = ${fmt(v)}`).join(", ");
}

async function loadMaps() {
  const body = { x: sweepState.x, y: sweepState.y, fixed: { ...sweepState.fixed }, changes: { ...sweepState.changes } };
  const live = Object.keys(sweepState.changes).length > 0;
  const request = (sweepState.request = (sweepState.request || 0) + 1); // only the newest answer is drawn
  $("live-status").textContent = live ? "recomputing…" : "loading…";
  if (live) setProgress(0, 0, "recomputing the grid");
  try {
    const maps = await api("/api/sweep/maps", body);
    if (request === sweepState.request) hideProgress();
    if (request !== sweepState.request) return;
    sweepState.maps = maps;
    sweepState.shown = body;
    sweepState.shownChanges = { ...sweepState.changes };
    $("trace").hidden = true; // a traced run of other settings would mislead
    $("hover").textContent = "hover over a map to see a run; click it to trace it";
    showMessage("");
    drawSweepMaps();
    document.body.dataset.drawn = String(Number(document.body.dataset.drawn || 0) + 1); // for tests: maps drawn
    $("live-status").textContent = liveText(sweepState.maps, sweepState.changes);
  } catch (error) {
    if (request !== sweepState.request) return;
    hideProgress();
    showMessage(error.message);
    // The maps still show what they showed: say so, put the menus back, and trace with those settings.
    if (sweepState.shown) {
      sweepState.x = sweepState.shown.x; sweepState.y = sweepState.shown.y; sweepState.fixed = { ...sweepState.shown.fixed };
      $("x-axis").value = sweepState.x; $("y-axis").value = sweepState.y || "";
    }
    sweepState.changes = { ...(sweepState.shownChanges || {}) };
    $("live-status").textContent = sweepState.maps ? `not recomputed; still ${liveText(sweepState.maps, sweepState.changes)}` : "not recomputed";
  }
}

function fixedControls() {
  const info = sweepState.info, box = $("fixed-controls");
  box.innerHTML = "";
  for (const [name, axis] of Object.entries(info.axes)) {
    if (name === sweepState.x || name === sweepState.y) continue;
    const select = document.createElement("select");
    select.id = `fixed-${name}`;
    axis.values.forEach((v, index) => select.add(new Option(fmt(v), String(index))));
    const middle = Math.floor(axis.values.length / 2);
    const current = name in sweepState.fixed ? axis.values.indexOf(sweepState.fixed[name]) : middle;
    select.value = String(current >= 0 ? current : middle);
    sweepState.fixed[name] = axis.values[Number(select.value)];
    select.onchange = () => { sweepState.fixed[name] = axis.values[Number(select.value)]; loadMaps(); };
    const label = document.createElement("label");
    label.append(document.createTextNode(`${name} `), select);
    box.append(label);
  }
  for (const name of Object.keys(sweepState.fixed)) if (!(name in info.axes) || name === sweepState.x || name === sweepState.y) delete sweepState.fixed[name];
}

function axisSelectors() {
  const info = sweepState.info;
  const names = Object.keys(info.axes);
  const xs = $("x-axis"), ys = $("y-axis");
  xs.innerHTML = ""; ys.innerHTML = "";
  names.forEach((n) => xs.add(new Option(n, n)));
  ys.add(new Option("(none)", ""));
  names.forEach((n) => ys.add(new Option(n, n)));
  xs.value = sweepState.x; ys.value = sweepState.y || "";
  const changed = (event) => {
    // Choosing the other selector's axis swaps the two.
    if (xs.value === ys.value) {
      if (event.target === xs) ys.value = sweepState.x; else xs.value = sweepState.y || names.find((n) => n !== xs.value);
    }
    sweepState.x = xs.value; sweepState.y = ys.value || null;
    fixedControls(); loadMaps();
  };
  xs.onchange = changed; ys.onchange = changed;
}

function liveControls() {
  const box = $("live-controls");
  box.innerHTML = "";
  for (const control of sweepState.info.controls) {
    const input = document.createElement("input");
    input.id = `live-${control.name}`;
    input.value = String(control.value);
    input.title = control.meaning || control.name;
    const label = document.createElement("label");
    label.append(document.createTextNode(`${control.name} `), input);
    box.append(label);
    input.addEventListener("keydown", (event) => { if (event.key === "Enter") recompute(); });
  }
}

function recompute() {
  const changes = {};
  for (const control of sweepState.info.controls) {
    const text = $(`live-${control.name}`).value.trim();
    const value = Number(text);
    if (text === "" || !Number.isFinite(value)) {
      showMessage(`${control.name} = ${JSON.stringify(text)} is not a number`);
      $("live-status").textContent = sweepState.maps ? `not recomputed; still ${liveText(sweepState.maps, sweepState.shownChanges || {})}` : "not recomputed";
      return;
    }
    if (value !== control.value) changes[control.name] = value;
  }
  sweepState.changes = changes;
  if (!Object.keys(changes).length) { showMessage("change a setting first: every field holds the saved sweep's value"); return; }
  loadMaps();
}

async function traceCell(cell) {
  if (sweepState.info.traceable) { showMessage(sweepState.info.traceable); return; }
  $("trace").hidden = false;
  $("trace-summary").textContent = "tracing…";
  setProgress(0, 0, "tracing the run (the first trace of a kind compiles its kernel: a few seconds)");
  try {
    const story = await api("/api/sweep/trace", { settings: cellSettings(cell), changes: sweepState.changes });
    showMessage("");
    $("trace-summary").textContent = story.summary;
    for (const key of ["steps", "path"]) {
      const img = $(`trace-${key}`);
      img.hidden = !story.pictures[key];
      if (story.pictures[key]) img.src = story.pictures[key];
    }
    if (!story.pictures.path || !story.pictures.steps) $("trace-summary").textContent += " (some values are too large to draw)";
  } catch (error) {
    showMessage(error.message);
    $("trace-summary").textContent = "not traced";
  } finally {
    hideProgress();
  }
}

async function startSweep(info) {
  sweepState.info = info;
  sweepState.x = info.x; sweepState.y = info.y;
  const settled = Object.entries(info.settled).map(([n, v]) => `${n} = ${fmt(v)}`).join(", ");
  $("what").textContent = `${info.folder}: ${info.n_runs.toLocaleString()} runs of ${info.optimizer} on ${info.loss}` + (info.schedule !== "constant" ? ` with the ${info.schedule} schedule` : "") + (settled ? `; fixed: ${settled}` : "");
  axisSelectors(); fixedControls(); liveControls();
  if (!info.live) $("live-form").hidden = true; // a cloud of starts has no grid to recompute
  $("recompute").onclick = recompute;
  $("saved").onclick = () => {
    sweepState.changes = {};
    for (const c of info.controls) $(`live-${c.name}`).value = String(c.value);
    loadMaps();
  };
  for (const canvas of document.querySelectorAll("canvas.map")) {
    canvas.addEventListener("mousemove", (event) => {
      const cell = cellAt(canvas, event), tip = $("tooltip");
      if (!cell) { tip.hidden = true; return; }
      const text = cellText(cell);
      $("hover").textContent = text;
      tip.textContent = text; tip.hidden = false;
      // Left of the cursor near the window's right edge, so the tip is never squeezed.
      const left = event.clientX + 14 + tip.offsetWidth > window.innerWidth - 8 ? event.clientX - 14 - tip.offsetWidth : event.clientX + 14;
      tip.style.left = `${Math.max(4, left)}px`; tip.style.top = `${event.clientY + 12}px`;
    });
    canvas.addEventListener("mouseleave", () => { $("tooltip").hidden = true; });
    canvas.addEventListener("click", (event) => { const cell = cellAt(canvas, event); if (cell) traceCell(cell); });
  }
  await loadMaps();
}

// ---------------------------------------------------------------- trainability view

const fractalState = { info: null, job: null, shown: null, drag: null };

function toValue(axis, f) {
  if (axis.log) return 10 ** (Math.log10(axis.lo) + f * (Math.log10(axis.hi) - Math.log10(axis.lo)));
  return axis.lo + f * (axis.hi - axis.lo);
}

function windowInputs(x, y, resolution) {
  $("x-lo").value = String(x.lo); $("x-hi").value = String(x.hi);
  $("y-lo").value = String(y.lo); $("y-hi").value = String(y.hi);
  if (resolution !== undefined) $("resolution").value = String(resolution);
}

async function requestView(x, y, resolution) {
  let job;
  if (![...x, ...y].every(Number.isFinite)) { showMessage("the window needs four numbers: low and high across, low and high up"); return; }
  if (!Number.isInteger(resolution)) { showMessage(`resolution ${resolution} is not allowed: give a whole number of values per axis in ${fractalState.info.resolutions.join("..")}`); return; }
  try {
    job = await api("/api/fractal/view", { x, y, resolution });
  } catch (error) {
    showMessage(error.message);
    return;
  }
  showMessage("");
  fractalState.job = job.id;
  setProgress(0, 0, "training");
  const started = performance.now();
  while (fractalState.job === job.id) {
    let status;
    try { status = await api(`/api/jobs/${job.id}`); } catch (error) { showMessage(error.message); hideProgress(); return; }
    if (fractalState.job !== job.id) return; // a newer request replaced this one
    if (status.state === "done") break;
    if (status.state === "failed") { showMessage(status.error); hideProgress(); return; }
    if (status.state === "cancelled") return;
    setProgress(status.done, status.total, status.phase || "training");
    await new Promise((resolve) => setTimeout(resolve, performance.now() - started < 2000 ? 60 : 200));
  }
  if (fractalState.job !== job.id) return; // replaced while waiting: the newer request shows its own
  let view;
  try { view = await api(`/api/jobs/${job.id}/view`); } catch (error) { showMessage(error.message); hideProgress(); return; }
  if (fractalState.job !== job.id) return;
  hideProgress();
  drawView(view);
}

function drawView(view) {
  fractalState.shown = view;
  $("saved-to").textContent = "";
  const image = new Image();
  image.onload = () => {
    const ctx = $("fractal-canvas").getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.clearRect(0, 0, 512, 512);
    ctx.drawImage(image, 0, 0, 512, 512);
    $("fractal-canvas").dataset.job = String(fractalState.job);
  };
  image.src = view.image;
  windowInputs(view.x, view.y, view.x.n);
  $("dimension").textContent = view.dimension.text;
  const compiled = view.compile_seconds >= 0.5 ? ` (+${view.compile_seconds.toFixed(1)} s compiling or loading the kernel)` : "";
  $("share").textContent = `${(100 * view.converged_share).toFixed(1)}% ${view.classes[0]}, computed in ${view.seconds} s${compiled}`;
  const span = (a) => `${a.name} ${windowFmt(a, a.lo)} … ${windowFmt(a, a.hi)}${a.log ? " (log)" : ""}`;
  $("what").textContent = `trainability of ${view.problem}: ${span(view.x)} across, ${span(view.y)} up`;
  $("x-axis-lo").textContent = windowFmt(view.x, view.x.lo); $("x-axis-hi").textContent = windowFmt(view.x, view.x.hi);
  $("x-axis-name").textContent = view.x.name + (view.x.log ? " (log)" : "");
  $("y-axis-lo").textContent = windowFmt(view.y, view.y.lo); $("y-axis-hi").textContent = windowFmt(view.y, view.y.hi);
  $("y-axis-name").textContent = view.y.name + (view.y.log ? " (log)" : "");
  $("class-good").textContent = view.classes[0]; $("class-bad").textContent = view.classes[1];
  document.querySelector(".swatch.good").style.background = `linear-gradient(to right, ${view.class_colours[0].join(", ")})`;
  document.querySelector(".swatch.bad").style.background = `linear-gradient(to right, ${view.class_colours[1].join(", ")})`;
}

// Enough digits to tell a window's two ends apart, however deep the zoom.
function windowFmt(axis, value) {
  const width = axis.log ? Math.log10(axis.hi) - Math.log10(axis.lo) : (axis.hi - axis.lo) / Math.max(Math.abs(axis.hi), Math.abs(axis.lo), 1e-300);
  const digits = Math.min(17, Math.max(4, Math.ceil(-Math.log10(Math.max(width, 1e-17))) + 3));
  return value === 0 ? "0" : Number(value.toPrecision(digits)).toString();
}

function overlayFraction(event) {
  const rect = $("fractal-overlay").getBoundingClientRect();
  return { fx: Math.min(1, Math.max(0, (event.clientX - rect.left) / rect.width)), fy: Math.min(1, Math.max(0, 1 - (event.clientY - rect.top) / rect.height)) };
}

function drawBox(a, b) {
  const ctx = $("fractal-overlay").getContext("2d");
  ctx.clearRect(0, 0, 512, 512);
  if (!a) return;
  ctx.strokeStyle = "#111"; ctx.lineWidth = 1.5; ctx.setLineDash([4, 3]);
  ctx.strokeRect(a.fx * 512, (1 - a.fy) * 512, (b.fx - a.fx) * 512, (a.fy - b.fy) * 512);
}

// A window shifted (not cut) to stay inside what the axis allows: lr >= 0, float64's range.
function clamped(axis, lo, hi) {
  if (axis.log) {
    let a = Math.log10(lo), b = Math.log10(hi);
    const floor = Math.log10(axis.floor), ceiling = Math.log10(axis.ceiling);
    if (a < floor) { b += floor - a; a = floor; }
    if (b > ceiling) { a = Math.max(floor, a - (b - ceiling)); b = ceiling; }
    return [10 ** a, 10 ** b];
  }
  if (lo < axis.floor) { hi += axis.floor - lo; lo = axis.floor; }
  if (hi > axis.ceiling) { lo = Math.max(axis.floor, lo - (hi - axis.ceiling)); hi = axis.ceiling; }
  return [lo, hi];
}

function zoomTo(a, b) {
  const v = fractalState.shown;
  if (!v) return;
  const x = clamped(v.x, toValue(v.x, Math.min(a.fx, b.fx)), toValue(v.x, Math.max(a.fx, b.fx)));
  const y = clamped(v.y, toValue(v.y, Math.min(a.fy, b.fy)), toValue(v.y, Math.max(a.fy, b.fy)));
  requestView(x, y, v.x.n);
}

function startFractal(info) {
  fractalState.info = info;
  windowInputs(info.x, info.y, info.resolution);
  $("x-name").textContent = info.x.name; $("y-name").textContent = info.y.name;
  const overlay = $("fractal-overlay");
  overlay.addEventListener("mousedown", (event) => { fractalState.drag = overlayFraction(event); });
  overlay.addEventListener("mousemove", (event) => {
    const here = overlayFraction(event), v = fractalState.shown;
    if (v) {
      const i = Math.min(v.x.n - 1, Math.floor(here.fx * v.x.n)), j = Math.min(v.y.n - 1, Math.floor(here.fy * v.y.n));
      const cls = v.converged[j * v.x.n + i] === "1" ? v.classes[0] : v.classes[1];
      $("fractal-hover").textContent = `${v.x.name} = ${windowFmt(v.x, toValue(v.x, here.fx))}, ${v.y.name} = ${windowFmt(v.y, toValue(v.y, here.fy))}: ${cls}`;
    }
    if (fractalState.drag) drawBox(fractalState.drag, here);
  });
  window.addEventListener("mouseup", (event) => {
    const a = fractalState.drag;
    if (!a) return;
    const b = overlayFraction(event); // clamped to the image: a box released outside it ends at its edge
    fractalState.drag = null;
    drawBox(null);
    if (a && Math.abs(a.fx - b.fx) * 512 >= 4 && Math.abs(a.fy - b.fy) * 512 >= 4) zoomTo(a, b);
  });
  const typed = () => {
    try {
      const x = [typedNumber("x-lo", `${info.x.name} from`), typedNumber("x-hi", `${info.x.name} to`)];
      const y = [typedNumber("y-lo", `${info.y.name} from`), typedNumber("y-hi", `${info.y.name} to`)];
      requestView(x, y, typedNumber("resolution", "resolution"));
    } catch (error) { showMessage(error.message); }
  };
  $("go").onclick = typed;
  for (const id of ["x-lo", "x-hi", "y-lo", "y-hi", "resolution"]) $(id).addEventListener("keydown", (event) => { if (event.key === "Enter") typed(); });
  $("zoom-out").onclick = () => { if (fractalState.shown) zoomTo({ fx: -0.5, fy: -0.5 }, { fx: 1.5, fy: 1.5 }); };
  // Pan by half a window; the wheel zooms by 2 about the cursor.
  const pans = { "pan-left": [-0.5, 0], "pan-right": [0.5, 0], "pan-down": [0, -0.5], "pan-up": [0, 0.5] };
  for (const [id, [dx, dy]] of Object.entries(pans)) {
    $(id).onclick = () => { if (fractalState.shown) zoomTo({ fx: dx, fy: dy }, { fx: 1 + dx, fy: 1 + dy }); };
  }
  overlay.addEventListener("wheel", (event) => {
    event.preventDefault();
    if (!fractalState.shown || fractalState.drag) return;
    const here = overlayFraction(event), scale = event.deltaY < 0 ? 0.5 : 2;
    zoomTo({ fx: here.fx - here.fx * scale, fy: here.fy - here.fy * scale }, { fx: here.fx + (1 - here.fx) * scale, fy: here.fy + (1 - here.fy) * scale });
  }, { passive: false });
  $("reset").onclick = () => {
    const n = Number($("resolution").value.trim());
    requestView([info.x.lo, info.x.hi], [info.y.lo, info.y.hi], Number.isInteger(n) ? n : info.resolution);
  };
  $("save").onclick = async () => {
    if (!info.can_save) { showMessage(info.save_note); return; }
    try {
      const saved = await api("/api/fractal/save", { job: fractalState.job });
      showMessage("");
      $("saved-to").textContent = saved.again ? `this view is already saved in ${saved.folder}` : `saved in ${saved.folder} (open its report.html, or: sweep zoom ${saved.folder} ...)`;
    } catch (error) { showMessage(error.message); }
  };
  requestView([info.x.lo, info.x.hi], [info.y.lo, info.y.hi], info.resolution);
}

// ---------------------------------------------------------------- start

(async () => {
  try {
    const info = await api("/api/info");
    if (info.mode === "sweep") await startSweep(info); else startFractal(info);
  } catch (error) {
    showMessage(error.message);
  }
})();
