// ganlab lab: draws the frames the server sends and sends the controls. No build step, no network
// beyond this server. Frames come over a WebSocket (/ws), ~10 a second; controls are POSTed as
// JSON to /api/control and a refusal comes back as {"error": "one line"}, shown in #error.
"use strict";

const REAL = [27, 158, 75];
const FAKE = [142, 68, 173];
// A conditional run's classes: a fixed categorical palette (Tableau's, its green and purple last:
// those are D's colours), class k's data and samples alike; past 12 classes, hues by the golden angle.
const PALETTE = [
  [31, 119, 180], [255, 127, 14], [214, 39, 40], [140, 86, 75], [227, 119, 194], [188, 189, 34],
  [23, 190, 207], [127, 127, 127], [57, 59, 121], [231, 186, 82], [44, 160, 44], [148, 103, 189],
];
const $ = (id) => document.getElementById(id);
const lab = { frames: 0, frame: null, settingsVersion: -1, drawing: [], socket: null };
window.lab = lab; // for the end-to-end tests and the curious

// ---------------------------------------------------------------------------------------------
// Controls

async function send(message) {
  let reply;
  try {
    const response = await fetch("/api/control", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(message),
    });
    reply = await response.json();
  } catch (e) {
    showError(`the server did not answer (${e.message}); is ganlab lab still running?`);
    return null;
  }
  if (!reply.ok) {
    showError(reply.error || "the server refused the request");
    lab.settingsVersion = -1; // the next frame puts the session's values back in the panel
    return null;
  }
  clearError();
  $("notice").textContent = reply.message;
  return reply;
}

function showError(text) {
  $("error").textContent = text;
  $("error").classList.add("shown");
}

function clearError() {
  $("error").textContent = "";
  $("error").classList.remove("shown");
}

function parseValue(el) {
  const text = el.value.trim();
  if (el.dataset.list) {
    const parts = text.split(/[\s,]+/).filter((s) => s.length);
    const nums = parts.map(Number);
    return nums.every((n) => Number.isFinite(n)) ? nums : text;
  }
  if (el.tagName === "SELECT") return el.value;
  if (el.type === "number" || el.id.endsWith("-lr")) {
    const n = Number(text);
    return text.length && Number.isFinite(n) ? n : text;
  }
  return text;
}

for (const el of document.querySelectorAll("[data-key]")) {
  el.addEventListener("change", () => send({ action: "set", values: { [el.dataset.key]: parseValue(el) } }));
  el.addEventListener("blur", () => { lab.settingsVersion = -1; });
}

$("play").addEventListener("click", () =>
  send({ action: lab.frame && lab.frame.playing ? "pause" : "play" }));
$("step-d").addEventListener("click", () => send({ action: "step_d" }));
$("step-g").addEventListener("click", () => send({ action: "step_g" }));
$("step-iter").addEventListener("click", () => send({ action: "step" }));
$("reset").addEventListener("click", () => send({ action: "reset" }));
$("save").addEventListener("click", () => send({ action: "save", path: $("save-path").value }));
$("load").addEventListener("click", () => send({ action: "load", path: $("load-path").value }));
$("clear-drawing").addEventListener("click", () => {
  lab.drawing = [];
  $("notice").textContent = "drawing cleared: click on the plot to add points";
  render();
});
$("draw-mode").addEventListener("change", () => {
  const on = $("draw-mode").checked;
  $("main").classList.toggle("drawing", on);
  if (on) {
    const f = lab.frame;
    lab.drawing = f && f.settings.dataset === "drawn" ? f.real.map((p) => p.slice()) : [];
    $("notice").textContent = "draw mode: click or drag on the plot to add points of p_data";
  }
  render();
});
for (const id of ["show-heatmap", "show-real", "show-fake", "show-manifold", "show-arrows"]) {
  $(id).addEventListener("change", render);
}
$("class-picker").addEventListener("change", () => {
  const v = $("class-picker").value;
  send({ action: "pick", label: v === "all" ? "all" : Number(v) });
});

// Drawing: points in the drawn dataset's view, [-2, 2]^2; sent when the mouse is released.
const DRAW_VIEW = { lo: -2, hi: 2 };
let pressed = false;
let lastPixel = null;

function addPoint(ev) {
  const c = $("main");
  const r = c.getBoundingClientRect();
  const px = ((ev.clientX - r.left) * c.width) / r.width;
  const py = ((ev.clientY - r.top) * c.height) / r.height;
  if (lastPixel && Math.hypot(px - lastPixel[0], py - lastPixel[1]) < 6) return;
  lastPixel = [px, py];
  const span = DRAW_VIEW.hi - DRAW_VIEW.lo;
  const x = DRAW_VIEW.lo + (px / c.width) * span;
  const y = DRAW_VIEW.hi - (py / c.height) * span;
  lab.drawing.push([+x.toFixed(4), +y.toFixed(4)]);
  render();
}

$("main").addEventListener("mousedown", (ev) => {
  if (!$("draw-mode").checked) return;
  pressed = true;
  lastPixel = null;
  addPoint(ev);
});
$("main").addEventListener("mousemove", (ev) => {
  if (pressed) addPoint(ev);
});
window.addEventListener("mouseup", () => {
  if (!pressed) return;
  pressed = false;
  if (lab.drawing.length) send({ action: "draw", points: lab.drawing });
});

function syncPicker(f) {
  // The class picker: shown for a conditional run only, its options the run's class names.
  $("picker-row").hidden = !f.classes;
  if (!f.classes) return;
  const picker = $("class-picker"), names = f.classes.join("\n");
  if (picker.dataset.names !== names) {
    picker.dataset.names = names;
    picker.innerHTML = "<option value='all'>all classes</option>" +
      f.classes.map((name, k) => `<option value='${k}'>class ${escapeHtml(name)}</option>`).join("");
  }
  if (picker !== document.activeElement) picker.value = f.picked === null ? "all" : String(f.picked);
}

function escapeHtml(text) {
  return String(text).replace(/[&<>'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function syncControls(f) {
  if (f.settings_version === lab.settingsVersion) return;
  lab.settingsVersion = f.settings_version;
  for (const el of document.querySelectorAll("[data-key]")) {
    if (el === document.activeElement) continue;
    const v = f.settings[el.dataset.key];
    el.value = Array.isArray(v) ? v.join(",") : String(v);
  }
}

// ---------------------------------------------------------------------------------------------
// Frames

function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${proto}://${location.host}/ws`);
  lab.socket = socket;
  socket.onopen = () => { $("status").textContent = "live"; };
  socket.onmessage = (ev) => receive(JSON.parse(ev.data));
  socket.onclose = () => {
    $("status").textContent = "disconnected: reconnecting...";
    setTimeout(connect, 1000);
  };
}

function receive(f) {
  if (f.frame_error) {
    showError(`could not draw a frame: ${f.frame_error}`);
    return;
  }
  lab.frames += 1;
  lab.frame = f;
  $("step").textContent = f.step;
  $("d-updates").textContent = f.d_updates;
  $("rate").textContent = f.steps_per_s.toFixed(0);
  $("play").textContent = f.playing ? "Pause" : "Play";
  if (f.error) showError(f.error);
  if (f.notice_id !== lab.noticeId) {
    lab.noticeId = f.notice_id;
    if (f.notice) $("notice").textContent = f.notice;
  }
  syncControls(f);
  syncPicker(f);
  const last = f.last, critic = f.d_output === "critic";
  const fmt = (v, d = 3) => (v === undefined || v === null ? "-" : Number(v).toPrecision(d));
  $("g-grad").textContent = fmt(last.g_grad);
  $("grad-x").textContent = fmt(f.grad_x);
  $("d-means-label").textContent = critic
    ? "mean critic value on x / on G(z)" : "mean D(x) / mean D(G(z))";
  $("d-means").textContent = critic
    ? `${fmt(last.critic_real)} / ${fmt(last.critic_fake)}` : `${fmt(last.d_real)} / ${fmt(last.d_fake)}`;
  $("minimises").textContent = `G minimises, at D's optimum: ${f.minimises}`;
  $("dstar-label").textContent = f.dstar_label;
  $("losses").textContent = `${fmt(last.d_loss)} / ${fmt(last.g_loss)}`;
  $("divs").textContent = `${fmt(f.stats.jsd)} / ${fmt(f.stats.kl)}`;
  $("hint").textContent = hint(f);
  $("modes").textContent = f.stats.modes !== undefined ? `${f.stats.modes_covered} of ${f.stats.modes}` : "-";
  const agree = f.stats.label_agreement;
  $("label-agreement").textContent = agree === undefined ? "-" : `${(100 * agree).toFixed(1)}%`;
  render();
}

function hint(f) {
  // The doctor's findings holding now (ganlab.lab.findings): the same detectors, thresholds and
  // advice as a training run's findings.json; e.g. section 3's "G is starving" is g_saturation.
  const found = f.findings || [];
  return found.map((x) => `${x.kind}: ${x.advice}`).join("  |  ");
}

function render() {
  const f = lab.frame;
  if (!f) return;
  if (f.dim === 2) draw2d(f); else draw1d(f);
  $("dstar-box").style.display = f.dim === 2 && f.dstar ? "" : "none";
  if (f.dim === 2 && f.dstar) drawHeatmap($("dstar"), f.dstar, f);
  drawCharts(f);
}

function mix(t) {
  // D(x) = t in [0, 1]: purple (fake) through white to green (real), as GAN Lab colours it
  const a = t < 0.5 ? FAKE : REAL;
  const s = Math.abs(t - 0.5) * 2 * 0.75;
  return a.map((c) => Math.round(255 + (c - 255) * s));
}

function scaled(v, range) {
  // a value on its colour scale: [0, 1] for D(x), the frame's [min, max] for a critic value
  if (v === null || !Number.isFinite(v)) return 0.5; // a diverged critic: white
  const [lo, hi] = range || [0, 1];
  return Math.min(1, Math.max(0, (v - lo) / (hi - lo)));
}

function heatmapImage(values, range) {
  const n = Math.round(Math.sqrt(values.length));
  const img = new ImageData(n, n);
  for (let i = 0; i < values.length; i++) {
    const [r, g, b] = mix(scaled(values[i], range));
    img.data.set([r, g, b, 255], 4 * i);
  }
  const off = document.createElement("canvas");
  off.width = off.height = n;
  off.getContext("2d").putImageData(img, 0, 0);
  return off;
}

function drawHeatmap(canvas, values, f) {
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(heatmapImage(values), 0, 0, canvas.width, canvas.height);
  const t = transform(canvas, f.lo, f.hi);
  if (!f.classes) dots(ctx, f.real, t, REAL, 1.5);
  else if (f.picked === null) classDots(ctx, f.real, f.real_y, t, 1.5);
  else classDots(ctx, f.real.filter((_, i) => f.real_y[i] === f.picked), [f.picked], t, 1.5);
}

function transform(canvas, lo, hi) {
  const W = canvas.width, H = canvas.height, s = hi - lo;
  return { x: (x) => ((x - lo) / s) * W, y: (y) => H - ((y - lo) / s) * H, scale: W / s };
}

function dots(ctx, points, t, rgb, radius) {
  ctx.fillStyle = `rgb(${rgb.join(",")})`;
  for (const p of points) {
    ctx.beginPath();
    ctx.arc(t.x(p[0]), t.y(p[1]), radius, 0, 2 * Math.PI);
    ctx.fill();
  }
}

function classColour(k, alpha = 1) {
  // class k's colour as CSS, with opacity alpha
  if (k < PALETTE.length) return `rgba(${PALETTE[k].join(",")},${alpha})`;
  return `hsla(${(k * 137.508) % 360},65%,45%,${alpha})`;
}

function classDots(ctx, points, ys, t, radius, opts = {}) {
  // points coloured by their class (ys[i], or ys[0] for all when ys has one entry); opts.alpha
  // for each class (k -> alpha), opts.outline a dark ring around each dot (G's samples)
  points.forEach((p, i) => {
    const k = ys.length === 1 ? ys[0] : ys[i];
    const alpha = opts.alpha ? opts.alpha(k) : 1;
    if (alpha <= 0) return;
    ctx.fillStyle = classColour(k, alpha);
    ctx.beginPath();
    ctx.arc(t.x(p[0]), t.y(p[1]), radius, 0, 2 * Math.PI);
    ctx.fill();
    if (opts.outline) {
      ctx.strokeStyle = `rgba(30,30,30,${0.8 * alpha})`;
      ctx.lineWidth = 0.8;
      ctx.stroke();
    }
  });
}

function arrow(ctx, x0, y0, x1, y1) {
  const a = Math.atan2(y1 - y0, x1 - x0), len = Math.hypot(x1 - x0, y1 - y0);
  ctx.beginPath();
  ctx.moveTo(x0, y0);
  ctx.lineTo(x1, y1);
  if (len > 3) {
    const h = Math.min(5, len / 2);
    ctx.lineTo(x1 - h * Math.cos(a - 0.5), y1 - h * Math.sin(a - 0.5));
    ctx.moveTo(x1, y1);
    ctx.lineTo(x1 - h * Math.cos(a + 0.5), y1 - h * Math.sin(a + 0.5));
  }
  ctx.stroke();
}

function draw2d(f) {
  const c = $("main"), ctx = c.getContext("2d");
  const drawing = $("draw-mode").checked;
  const view = drawing ? DRAW_VIEW : f;
  const t = transform(c, view.lo, view.hi);
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, c.width, c.height);
  if ($("show-heatmap").checked && !drawing) {
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(heatmapImage(f.heatmap, f.d_range), 0, 0, c.width, c.height);
  }
  if ($("show-manifold").checked && !drawing) {
    // one grid of G(z) per class shown (a conditional run), one after another in `points`
    const grids = f.manifold.y || [null], rows = f.manifold.rows;
    const size = f.manifold.points.length / grids.length, cols = size / rows;
    ctx.lineWidth = 1;
    grids.forEach((k, g) => {
      const pts = f.manifold.points.slice(g * size, (g + 1) * size);
      ctx.strokeStyle = k === null ? "rgba(90, 90, 90, 0.55)" : classColour(k, 0.5);
      const line = (idx) => {
        ctx.beginPath();
        idx.forEach((i, j) => (j ? ctx.lineTo : ctx.moveTo).call(ctx, t.x(pts[i][0]), t.y(pts[i][1])));
        ctx.stroke();
      };
      for (let r = 0; r < rows; r++) line([...Array(cols).keys()].map((j) => r * cols + j));
      if (rows > 1) for (let j = 0; j < cols; j++) line([...Array(rows).keys()].map((r) => r * cols + j));
    });
  }
  if (f.classes && !drawing) {
    // data: faint discs, the picked class's only in colour; G's samples: outlined dots
    const faint = (k) => (f.picked === null || k === f.picked ? 0.35 : 0.08);
    if ($("show-real").checked) classDots(ctx, f.real, f.real_y, t, 3.2, { alpha: faint });
    if ($("show-fake").checked) classDots(ctx, f.fake, f.fake_y, t, 2.4, { outline: true });
  } else {
    if ($("show-real").checked) dots(ctx, drawing ? lab.drawing : f.real, t, REAL, 2.2);
    if ($("show-fake").checked && !drawing) dots(ctx, f.fake, t, FAKE, 2.2);
  }
  if ($("show-arrows").checked && !drawing) {
    ctx.strokeStyle = "rgba(40, 40, 40, 0.8)";
    ctx.lineWidth = 1;
    f.arrows.forEach((v, i) => {
      const p = f.fake[i];
      arrow(ctx, t.x(p[0]), t.y(p[1]), t.x(p[0] + v[0]), t.y(p[1] + v[1]));
    });
  }
  legend(drawing
    ? "drawing: click or drag to add points of p_data in [-2, 2]^2; they are sent when you release the mouse"
    : legend2d(f));
}

function generatedLabel(f) {
  if (f.sampler !== "G_ema") return "generated G(z)";
  return `generated by G's moving average (EMA, beta = ${f.settings["ema.beta"]})`;
}

function swatch(colour) {
  // a legend's dot: an [r, g, b] or a CSS colour
  const css = Array.isArray(colour) ? `rgb(${colour.join(",")})` : colour;
  return `<span class='swatch' style='background:${css}'></span>`;
}

function legend2d(f) {
  const [lo, hi] = f.d_range.map((v) => Number(v.toPrecision(3)));
  const d = f.classes ? f.d_map : "D(x)";
  const background = f.d_output === "critic"
    ? `background: critic value ${d}, raw: purple ${lo} to green ${hi} (this frame)`
    : `background: ${d}, green = real, purple = fake`;
  const points = f.classes ? classLegend(f, "faint discs", "outlined dots")
    : `<span>${swatch(REAL)}real x ~ p_data</span><span>${swatch(FAKE)}${generatedLabel(f)}</span>`;
  return `${points}<span>${background}</span><span>arrows: -dL_G/dx</span>`;
}

function classLegend(f, real, fake) {
  // a swatch per class shown, and how the real and generated points are drawn
  const shown = f.picked === null ? f.classes.map((_, k) => k) : [f.picked];
  const swatches = shown.map((k) => `<span>${swatch(classColour(k))}${escapeHtml(f.classes[k])}</span>`);
  const asked = f.picked === null ? "y = i mod K" : `y = ${escapeHtml(f.classes[f.picked])}`;
  return `<span>classes:</span>${swatches.join("")}<br><span>${real}: real (x, y) ~ p_data; ` +
    `${fake}: ${generatedLabel(f)}, ${asked}</span><br>`;
}

function draw1d(f) {
  const c = $("main"), ctx = c.getContext("2d");
  const W = c.width, H = c.height, top = 20, base = H * 0.62, zline = H - 24;
  const X = (x) => ((x - f.lo) / (f.hi - f.lo)) * W;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, W, H);
  const peak = Math.max(1e-9, ...(f.p_data || [0]), ...(f.p_g || [0]));
  const Yd = (p) => base - (p / peak) * (base - top);
  const Y1 = (v) => base - v * (base - top);
  const critic = f.d_output === "critic";
  const Yc = (v) => Y1(scaled(v, f.d_range)); // D on its own scale: [0, 1] or [min, max]
  const curve = (ys, Y, style, width, dash) => {
    ctx.strokeStyle = style;
    ctx.lineWidth = width;
    ctx.setLineDash(dash || []);
    ctx.beginPath();
    f.x.forEach((x, i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, X(x), Y(ys[i])));
    ctx.stroke();
    ctx.setLineDash([]);
  };
  ctx.strokeStyle = "#999";
  ctx.beginPath(); ctx.moveTo(0, base); ctx.lineTo(W, base); ctx.stroke();
  const mid = critic ? Yc(0) : Y1(0.5); // D's 0 (critic) or 1/2 (probability)
  ctx.beginPath(); ctx.moveTo(0, mid); ctx.lineTo(W, mid); ctx.strokeStyle = "#eee"; ctx.stroke();
  if (f.p_data) curve(f.p_data, Yd, "rgb(27,158,75)", 2);
  if (f.p_g) curve(f.p_g, Yd, "rgb(142,68,173)", 2);
  if ($("show-heatmap").checked) {
    curve(f.d, Yc, "#2d6cdf", 2, [6, 4]);
    if (critic) {
      ctx.fillStyle = "#2d6cdf";
      const [lo, hi] = f.d_range.map((v) => Number(v.toPrecision(3)));
      ctx.fillText(`critic ${hi}`, W - 90, top - 6);
      ctx.fillText(String(lo), W - 90, base - 4);
    }
  }
  if (f.dstar) curve(f.dstar, Y1, "#d35400", 1.5, [2, 3]);
  // ticks under the axis: real points, then generated ones (a conditional run's in class colours)
  const ticks = (points, ys, rgb, y) => points.forEach((p, i) => {
    ctx.fillStyle = ys ? classColour(ys[i], 0.5) : `rgba(${rgb.join(",")},0.5)`;
    ctx.fillRect(X(p[0]) - 0.5, y, 1, 10);
  });
  if ($("show-real").checked) ticks(f.real, f.real_y, REAL, base + 4);
  if ($("show-fake").checked) ticks(f.fake, f.fake_y, FAKE, base + 16);
  if ($("show-arrows").checked) {
    ctx.strokeStyle = "rgba(40,40,40,0.7)";
    f.arrows.slice(0, 80).forEach((v, i) => {
      const x = f.fake[i][0], y = base + 34 + (i % 8) * 3;
      arrow(ctx, X(x), y, X(x + v[0]), y);
    });
  }
  if ($("show-manifold").checked) {
    // Figure 1's lower half: z evenly spaced on its line, mapped up to x = G(z)
    const Z = (z) => W * (0.1 + (0.8 * (z + f.z_reach)) / (2 * f.z_reach));
    ctx.strokeStyle = "#999";
    ctx.beginPath(); ctx.moveTo(Z(-f.z_reach), zline); ctx.lineTo(Z(f.z_reach), zline); ctx.stroke();
    f.manifold.z.forEach((z, i) => {
      const y = f.manifold.y; // a conditional G: the class asked for with this z
      ctx.strokeStyle = y ? classColour(y[i], 0.7) : "rgba(142,68,173,0.6)";
      arrow(ctx, Z(z), zline, X(f.manifold.x[i]), base + 60);
    });
    ctx.fillStyle = "#666";
    ctx.fillText("z", 6, zline + 4);
    ctx.fillText("x = G(z)", 6, base + 62);
  }
  ctx.fillStyle = "#666";
  for (let k = Math.ceil(f.lo); k <= f.hi; k++) ctx.fillText(String(k), X(k) - 3, base + 52);
  const [lo, hi] = f.d_range.map((v) => Number(v.toPrecision(3)));
  const dx = f.classes ? f.d_map : "D(x)";
  const d = critic ? `- - critic value ${dx}, raw, on its own scale ${lo} .. ${hi}` : `- - ${dx}`;
  const dstar = critic ? "p_data / (p_data + p_g): the 2014 game's D*, not this critic's" : "D*(x)";
  // a picked class: the densities drawn are those of that class
  const given = f.classes && f.picked !== null ? `(x | y = ${escapeHtml(f.classes[f.picked])})` : "";
  legend(`<span>${swatch(REAL)}p_data${given}</span>` +
    `<span>${swatch(FAKE)}p_g${given} (${generatedLabel(f)})</span>` +
    `<span style='color:#2d6cdf'>${d}</span><span style='color:#d35400'>&middot;&middot;&middot; ${dstar}</span>` +
    (f.classes ? `<br>${classLegend(f, "upper ticks", "lower ticks")}` : ""));
}

function legend(html) {
  $("legend").innerHTML = html || "";
}

// ---------------------------------------------------------------------------------------------
// Charts: small line charts of the history rows, x = step

function chart(canvas, rows, series, opts = {}) {
  const ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height, pad = 26;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, W, H);
  const f = opts.log ? (v) => Math.log10(Math.max(v, 1e-12)) : (v) => v;
  const pts = series.map((s) =>
    rows.filter((r) => r[s.key] !== undefined && r[s.key] !== null && Number.isFinite(r[s.key]))
      .map((r) => [r.step, f(r[s.key])]));
  const all = pts.flat();
  ctx.strokeStyle = "#ccc";
  ctx.strokeRect(pad, 4, W - pad - 4, H - 18);
  if (!all.length) return;
  const x0 = Math.min(...all.map((p) => p[0])), x1 = Math.max(x0 + 1, ...all.map((p) => p[0]));
  let y0 = opts.min !== undefined ? opts.min : Math.min(...all.map((p) => p[1]));
  let y1 = opts.max !== undefined ? opts.max : Math.max(...all.map((p) => p[1]));
  if (y1 - y0 < 1e-9) { y0 -= 0.5; y1 += 0.5; }
  const X = (x) => pad + ((x - x0) / (x1 - x0)) * (W - pad - 4);
  const Y = (y) => 4 + (1 - (y - y0) / (y1 - y0)) * (H - 18);
  ctx.fillStyle = "#888";
  ctx.font = "10px system-ui";
  const label = (v) => (opts.log ? `1e${v.toFixed(0)}` : Number(v.toPrecision(2)).toString());
  ctx.fillText(label(y1), 1, 12);
  ctx.fillText(label(y0), 1, H - 14);
  ctx.fillText(String(x0), pad, H - 2);
  ctx.fillText(String(x1), W - 40, H - 2);
  series.forEach((s, i) => {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    pts[i].forEach((p, j) => (j ? ctx.lineTo : ctx.moveTo).call(ctx, X(p[0]), Y(p[1])));
    ctx.stroke();
  });
}

function rows(columns) {
  // {key: [value per row]} -> [{key: value}]
  const keys = Object.keys(columns), n = keys.length ? columns[keys[0]].length : 0;
  return Array.from({ length: n }, (_, i) => Object.fromEntries(keys.map((k) => [k, columns[k][i]])));
}

function drawCharts(f) {
  const train = rows(f.train_history), frames = rows(f.frame_history);
  chart($("chart-loss"), train, [{ key: "d_loss", color: "#d35400" }, { key: "g_loss", color: "#2d6cdf" }]);
  if (f.d_output === "critic") {
    $("chart-d-kind").textContent = "mean critic value";
    chart($("chart-d"), train, [{ key: "critic_real", color: "rgb(27,158,75)" }, { key: "critic_fake", color: "rgb(142,68,173)" }]);
  } else {
    $("chart-d-kind").textContent = "mean";
    chart($("chart-d"), train, [{ key: "d_real", color: "rgb(27,158,75)" }, { key: "d_fake", color: "rgb(142,68,173)" }], { min: 0, max: 1 });
  }
  chart($("chart-grad"), train, [{ key: "g_grad", color: "#444" }], { log: true });
  chart($("chart-jsd"), frames, [{ key: "jsd", color: "#2d6cdf" }], { min: 0, max: Math.LN2 });
  chart($("chart-kl"), frames, [{ key: "kl", color: "#d35400" }]);
  const modes = frames.length && frames[frames.length - 1].modes;
  chart($("chart-modes"), frames, [{ key: "modes_covered", color: "#444" }], { min: 0, max: modes || 1 });
}

// A first frame over plain HTTP, then the live stream.
fetch("/api/frame").then((r) => r.json()).then(receive).catch(() => {});
legend(null);
connect();
