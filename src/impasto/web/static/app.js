"use strict";
// impasto's page. Its controls come from GET /api/options (presets, defaults, limits, examples), so
// nothing here repeats a default of the core. A job is sent as multipart to POST /api/jobs and
// followed through its server-sent events; the gallery is GET /api/jobs. Three kinds of job: a
// still (a photo), a video (a clip as the photo: the server judges the file) and a comparison (a
// photo at several strengths).

const $ = (selector, root = document) => root.querySelector(selector);

const SIZES = [64, 128, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192]; // the size menu, besides the preset's own size (and a clip's); print sizes run in blocks
const PRESET_LABELS = { fast: "Fast", default: "Balanced", best: "Best", paper: "Paper" };
const FINAL = new Set(["done", "failed", "cancelled"]);
const GALLERY_EVERY = 3000; // ms between gallery refreshes while jobs run
const STEADINESS = [["Loose", 0.3], ["Balanced", 1], ["Steady", 3]]; // x the default temporal weight
const PASSES = [1, 2, 3];
const VIDEO_MODES = { frames: ["Every frame optimised", "the steadiest"], keyframes: ["Keyframes + network", "much faster"] };
const KIND_WORDS = { still: "painting", video: "clip", compare: "comparison" };

const state = {
  options: null,
  files: { content: null, style: null }, // { blob, name, url, width, height, clip }
  preset: null,
  mode: "one", // or "compare"
  steadiness: 1,
  passes: 1,
  videoMode: null, // a clip's mode: "frames" or "keyframes" (the server's default until chosen)
  sizeChosen: null, // the size the user picked, if any
  job: null, // the job on the stage
  events: null, // its EventSource
  shownImage: null, // the URL last asked for on the stage
  galleryTimer: null,
};

async function api(path, init) {
  const response = await fetch(path, init);
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new Error(body && body.detail ? body.detail : `${response.status} ${response.statusText}`);
  return body;
}

async function init() {
  // A link with ?token=... has given this browser the server's cookie: keep the token out of sight and history.
  if (new URLSearchParams(location.search).has("token")) history.replaceState(null, "", location.pathname);
  state.options = await api("/api/options");
  $("#docs-link").hidden = !state.options.docs;  // a server with a token serves no /docs
  setIdle(true);
  buildPresets();
  buildVideoSettings();
  buildExamples();
  bindDrops();
  bindControls();
  updateStrength();
  updateSizes();
  updateStart();
  // Back on the page: follow the job that is running or waiting, else show the latest result.
  const jobs = await refreshGallery();
  const latest = jobs.find((job) => job.status === "running") || jobs.find((job) => !FINAL.has(job.status)) ||
    jobs.find((job) => job.urls.result);
  if (latest) show(latest);
}

// --- inputs ----------------------------------------------------------------------------------

function bindDrops() {
  for (const drop of document.querySelectorAll(".drop")) {
    const input = $("input[type=file]", drop);
    drop.addEventListener("click", () => input.click());
    drop.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        input.click();
      }
    });
    input.addEventListener("click", (event) => event.stopPropagation());
    input.addEventListener("change", () => {
      if (input.files.length) setFile(input.dataset.role, input.files[0], input.files[0].name);
    });
    for (const type of ["dragenter", "dragover"]) {
      drop.addEventListener(type, (event) => {
        event.preventDefault();
        drop.classList.add("dragging");
      });
    }
    drop.addEventListener("dragleave", () => drop.classList.remove("dragging"));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("dragging");
      const file = event.dataTransfer.files[0];
      if (file) setFile(drop.dataset.role, file, file.name);
    });
  }
}

function setFile(role, blob, name) {
  const url = URL.createObjectURL(blob);
  const drop = $(`.drop[data-role=${role}]`);
  const thumb = $(".drop-thumb", drop);
  const video = $(".drop-video", drop);
  const accept = (width, height, clip) => {
    const previous = state.files[role];
    if (previous) URL.revokeObjectURL(previous.url);
    state.files[role] = { blob, name, url, width, height, clip };
    thumb.hidden = clip || !width;
    if (video) video.hidden = !clip || !width;
    $(".drop-empty", drop).hidden = Boolean(width);
    if (!width) $(".drop-empty span", drop).textContent = name;
    $(".drop-name", drop).textContent = name;
    if (role === "content") $(".drop-kind", drop).textContent = clip ? "Clip" : "Photo";
    drop.classList.toggle("filled", Boolean(width));
    for (const button of document.querySelectorAll(`.example[data-role=${role}]`)) {
      button.classList.toggle("selected", button.dataset.name === name);
    }
    hideError();
    updateKind();
    updateSizes();
    updateStart();
  };
  // A video file (by its type, or one the browser cannot show as an image) is shown as a clip; the
  // server judges the file itself (a GIF of several frames is a clip there too).
  if (role === "content" && (blob.type.startsWith("video/") || /\.(mkv|webm|mov|mp4)$/i.test(name))) {
    video.onloadedmetadata = () => accept(video.videoWidth, video.videoHeight, true);
    video.onerror = () => accept(0, 0, true); // e.g. MKV: the browser cannot play it, the server can
    video.src = url;
    return;
  }
  thumb.onload = () => accept(thumb.naturalWidth, thumb.naturalHeight, false);
  thumb.onerror = () => accept(0, 0, false); // e.g. TIFF: send it anyway; the server judges the file
  thumb.src = url;
}

function buildExamples() {
  const row = $("#examples");
  for (const example of state.options.examples) {
    const role = example.kind === "photo" ? "content" : "style";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "example";
    button.dataset.role = role;
    button.dataset.name = example.name;
    button.title = `Use ${example.title} as the ${example.kind}`;
    button.innerHTML = `<img alt="" src="${example.url}"><span></span>`;
    $("span", button).textContent = example.title;
    button.addEventListener("click", async () => {
      const response = await fetch(example.url);
      setFile(role, await response.blob(), example.name);
    });
    row.append(button);
  }
}

// --- settings --------------------------------------------------------------------------------

function buildPresets() {
  const group = $("#presets");
  const names = Object.keys(state.options.presets);
  state.preset = names.includes("default") ? "default" : names[0];
  for (const name of names) {
    const button = document.createElement("button");
    button.type = "button";
    button.setAttribute("role", "radio");
    button.dataset.preset = name;
    button.innerHTML = "<span></span><small></small>";
    $("span", button).textContent = PRESET_LABELS[name] || name[0].toUpperCase() + name.slice(1);
    $("small", button).textContent = `${steps(name)} steps`;
    button.addEventListener("click", () => {
      state.preset = name;
      markPreset();
      updateStrength();
      updateSizes();
    });
    group.append(button);
  }
  markPreset();
  $("#preserve").checked = Boolean(currentPreset().preserve_colors);
}

// A preset's iterations, at most the server's --max-iterations (which would refuse more).
function steps(name) {
  return Math.min(state.options.presets[name].iterations, state.options.limits.max_iterations);
}

function markPreset() {
  for (const button of document.querySelectorAll("#presets button")) {
    button.setAttribute("aria-checked", String(button.dataset.preset === state.preset));
  }
}

function currentPreset() {
  return state.options.presets[state.preset];
}

// The clip's settings: the mode (every frame optimised, or keyframes and a network trained on the
// clip), steadiness (the temporal weight, against flicker) and passes (mode frames only).
function buildVideoSettings() {
  const defaults = state.options.video;
  state.videoMode = defaults.mode;
  segmented($("#video-mode"), state.options.video_modes.map((mode) => [mode, ...(VIDEO_MODES[mode] || [mode, ""])]),
    () => state.videoMode, (value) => { state.videoMode = value; updateVideoMode(); });
  segmented($("#steadiness"), STEADINESS.map(([label, factor]) => [factor, label, `weight ${defaults.temporal_weight * factor}`]),
    () => state.steadiness, (value) => { state.steadiness = value; });
  segmented($("#passes"), PASSES.map((count) => [count, String(count), count === 1 ? "forward" : "back and forth"]),
    () => state.passes, (value) => { state.passes = value; });
  updateVideoMode();
  for (const button of document.querySelectorAll("#modes button")) {
    button.addEventListener("click", () => {
      state.mode = button.dataset.mode;
      updateKind();
    });
  }
  $("#compare-note").textContent = state.options.compare_strengths.map((value) => value.toFixed(2)).join(" · ");
}

function updateVideoMode() {
  const keyframes = state.videoMode === "keyframes";
  $("#passes-field").hidden = keyframes; // the network paints the frames between keyframes in one pass
  const limit = `Up to ${state.options.limits.max_frames} frames.`;
  $("#video-note").textContent = keyframes
    ? `The first frame gets the quality's steps, then a small network trains on the clip (up to ${trainSteps()} ` +
      `steps); keyframes get ${laterSteps()} steps each, the frames between them are painted by the network and ` +
      `carried along the motion. ${limit}`
    : `The first frame gets the quality's steps, each later one ${laterSteps()}, starting from the frame before. ${limit}`;
}

// A radio group of buttons: [value, label, small print] each.
function segmented(group, choices, current, choose) {
  const mark = () => {
    for (const button of group.children) button.setAttribute("aria-checked", String(button.dataset.value === String(current())));
  };
  for (const [value, label, small] of choices) {
    const button = document.createElement("button");
    button.type = "button";
    button.setAttribute("role", "radio");
    button.dataset.value = value;
    button.innerHTML = "<span></span><small></small>";
    $("span", button).textContent = label;
    $("small", button).textContent = small;
    button.addEventListener("click", () => {
      choose(value);
      mark();
    });
    group.append(button);
  }
  mark();
}

function laterSteps() {
  return Math.min(state.options.video.later_iterations, state.options.limits.max_iterations);
}

// The most steps the network trains for by default (more for longer clips), at most the server's limit.
function trainSteps() {
  return Math.min(state.options.default_train_steps.max, state.options.limits.max_train_steps);
}

function isClip() {
  return Boolean(state.files.content && state.files.content.clip);
}

function comparing() {
  return !isClip() && state.mode === "compare";
}

// The settings shown follow the photo's kind: a clip's steadiness and passes, or a photo's strength(s).
function updateKind() {
  $("#video-settings").hidden = !isClip();
  $("#mode-field").hidden = isClip();
  $("#strength-field").hidden = comparing();
  for (const button of document.querySelectorAll("#modes button")) {
    button.setAttribute("aria-checked", String(button.dataset.mode === state.mode));
  }
  const count = state.options.compare_strengths.length;
  $("#start-label").textContent = isClip() ? "Paint the clip" : comparing() ? `Paint ${count} strengths` : "Paint";
}

function bindControls() {
  $("#strength").addEventListener("input", updateStrength);
  $("#size").addEventListener("change", () => {
    state.sizeChosen = Number($("#size").value);
  });
  $("#start").addEventListener("click", start);
  $("#cancel").addEventListener("click", cancel);
  $("#compare-slider").addEventListener("input", updateCompare);
}

// The slider is the config's strength: 0 keeps the photo, 1 is the painting alone, 0.5 the preset's balance.
function strength() {
  return Number($("#strength").value);
}

function updateStrength() {
  const value = strength();
  $("#strength-value").textContent = value === currentPreset().strength ? "Balanced" : value.toFixed(2);
}

// The size menu: the preset's size and the usual ones, those that would not fit the server's memory
// (for this photo's shape) disabled.
function updateSizes() {
  const select = $("#size");
  const presetSize = currentPreset().size;
  const photo = state.files.content;
  const ratio = photo && photo.width ? Math.min(photo.width, photo.height) / Math.max(photo.width, photo.height) : 0.75;
  const maxPixels = state.options.limits.max_run_pixels[state.preset];
  const largest = Math.floor(Math.sqrt(maxPixels / ratio));
  const own = isClip() && photo.width ? Math.max(photo.width, photo.height) & ~1 : null; // frame sides are even
  const sizes = [...new Set([...SIZES, presetSize, ...(own ? [own] : [])])].sort((a, b) => a - b);
  const wanted = state.sizeChosen || (own ? Math.min(own, presetSize) : presetSize);
  select.replaceChildren();
  for (const size of sizes) {
    const note = size === own ? " · the clip's" : size === presetSize ? " · preset" : "";
    const option = new Option(`${size} px${note}`, size);
    option.disabled = size > largest;
    if (option.disabled) option.textContent += " · too large here";
    select.append(option);
  }
  const usable = sizes.filter((size) => size <= largest);
  select.value = String(usable.includes(wanted) ? wanted : usable[usable.length - 1] || sizes[0]);
  $("#size-note").textContent = `up to ${largest.toLocaleString()} px`;
}

function updateStart() {
  $("#start").disabled = !(state.files.content && state.files.style);
}

function settings() {
  const preset = currentPreset();
  const chosen = { preset: state.preset, size: Number($("#size").value) };
  if (steps(state.preset) < preset.iterations) chosen.iterations = steps(state.preset);
  if (comparing()) chosen.strengths = state.options.compare_strengths;
  else if (strength() !== preset.strength) chosen.strength = strength();
  const keep = $("#preserve").checked;
  if (keep !== Boolean(preset.preserve_colors)) chosen.preserve_colors = keep ? "luminance" : null;
  if (isClip()) {
    const later = laterSteps();
    if (later < state.options.video.later_iterations) chosen.later_iterations = later;
    if (state.steadiness !== 1) chosen.temporal_weight = state.options.video.temporal_weight * state.steadiness;
    if (state.videoMode !== state.options.video.mode) chosen.mode = state.videoMode;
    if (state.videoMode === "keyframes") {
      if (trainSteps() < state.options.default_train_steps.max) chosen.train_steps = trainSteps();
    } else if (state.passes !== 1) {
      chosen.passes = state.passes;
    }
  }
  return chosen;
}

// --- jobs ------------------------------------------------------------------------------------

async function start() {
  const button = $("#start");
  button.disabled = true;
  hideError();
  const form = new FormData();
  form.append("content", state.files.content.blob, state.files.content.name);
  form.append("style", state.files.style.blob, state.files.style.name);
  form.append("settings", JSON.stringify(settings()));
  try {
    const job = await api("/api/jobs", { method: "POST", body: form });
    show(job);
    refreshGallery();
    if (window.matchMedia("(max-width: 899px)").matches) $("#stage").scrollIntoView({ behavior: "smooth" });
  } catch (error) {
    showError(error.message);
  } finally {
    updateStart();
  }
}

async function cancel() {
  if (!state.job) return;
  $("#cancel").disabled = true;
  try {
    render(await api(`/api/jobs/${state.job.id}/cancel`, { method: "POST" }));
  } catch (error) {
    $("#cancel").disabled = false;
    showError(error.message);
  }
}

// Put a job on the stage and follow it until it ends.
function show(job) {
  if (state.events) state.events.close();
  state.events = null;
  state.job = job;
  render(job);
  if (!FINAL.has(job.status)) {
    const events = new EventSource(job.events_url);
    events.onmessage = (event) => render(JSON.parse(event.data));
    events.addEventListener("deleted", () => clearStage());
    state.events = events;
  }
}

function render(job) {
  if (!state.job || job.id !== state.job.id) return;
  const statusChanged = job.status !== state.job.status;
  state.job = job;
  const final = FINAL.has(job.status);
  setIdle(false);
  const badge = $("#badge");
  badge.className = `badge ${job.status}`;
  badge.textContent = job.status;
  $("#status-title").textContent = `${stem(job.content_name)} × ${stem(job.style_name)}`;

  const fraction = progress(job);
  $("#bar-fill").style.width = `${(job.status === "done" ? 1 : fraction) * 100}%`;
  $("#bar").setAttribute("aria-valuenow", String(Math.round(fraction * 100)));
  showSteps(job, final);
  $("#stat-loss-label").textContent = job.kind === "video" ? "Speed" : "Loss";
  $("#stat-loss").textContent = job.kind === "video" ? speed(job) : job.loss == null ? "–" : formatLoss(job.loss);
  $("#stat-time-label").textContent = { queued: "In queue", running: "Time left" }[job.status] || "Took";
  $("#stat-eta").textContent = timeLeft(job);

  const error = $("#job-error");
  error.hidden = !job.error;
  error.textContent = sentence(job.error || "");
  $("#cancel").hidden = final;
  $("#cancel").disabled = false;
  const download = $("#download");
  download.hidden = !(final && job.urls.result);
  if (job.urls.result) download.href = `${job.urls.result}?download=1`;
  $("#download-label").textContent = job.kind === "video" ? "Download MP4" : job.kind === "compare" ? "Download kept" : "Download PNG";
  const all = $("#download-all");
  all.hidden = !(final && job.urls.all);
  if (job.urls.all) all.href = job.urls.all;

  $("#compare").hidden = job.kind === "compare" || (job.kind === "video" && final && Boolean(job.urls.result));
  $("#clips").hidden = !(job.kind === "video" && final && job.urls.result);
  $("#variants").hidden = job.kind !== "compare";
  if (job.kind === "compare") showVariants(job);
  else if (!$("#clips").hidden) showClips(job);
  else showImages(job, final && job.kind === "still");
  highlightCard(job.id);
  if (final && state.events) {
    state.events.close();
    state.events = null;
  }
  if (statusChanged || final) refreshGallery();
}

// How far the job is: a clip by its frames and the current frame's iterations (or the network's
// training steps), others by iterations.
function progress(job) {
  if (job.kind === "video" && job.frames) {
    const partial = training(job) ? job.train_step / job.train_steps : job.frame_total ? job.frame_step / job.frame_total : 0;
    return Math.min(1, (job.step + partial) / job.frames);
  }
  return job.total ? job.step / job.total : 0;
}

function training(job) {
  return job.status === "running" && job.stage === "training" && Boolean(job.train_steps);
}

function showSteps(job, final) {
  const running = job.status === "running";
  const sub = $("#stat-sub");
  const etaSub = $("#stat-eta-sub");
  sub.hidden = !(job.kind === "video" && running && (job.frame_total || training(job)));
  etaSub.hidden = !(job.kind === "video" && training(job));
  if (job.kind === "video") { // frame i/n, and under it the current frame's iteration or the network's training step
    $("#stat-step-label").textContent = "Frame";
    const current = running && job.frame ? job.frame : job.step;
    $("#stat-step").textContent = job.total ? `${current} / ${job.total}` : "–";
    $("#stat-level").textContent = "";
    sub.textContent = training(job) ? `network training: step ${job.train_step} of ${job.train_steps}`
      : `step ${job.frame_step} of ${job.frame_total}`;
    etaSub.textContent = `training: ${job.train_eta == null ? "…" : clock(job.train_eta)}`;
    return;
  }
  $("#stat-step-label").textContent = "Iteration";
  $("#stat-step").textContent = job.total ? `${job.step} / ${job.total}` : "–";
  // Coarse-to-fine: the preview grows level by level to the output's size.
  $("#stat-level").textContent = job.levels > 1 && !final ? ` · level ${job.level} of ${job.levels}` : "";
}

function showImages(job, comparable) {
  const compare = $("#compare");
  // The stage keeps the output's shape while the preview grows (coarse-to-fine) or changes.
  const ratio = job.width / job.height;
  compare.style.aspectRatio = `${job.width} / ${job.height}`;
  compare.style.width = `min(100%, calc((100vh - 290px) * ${ratio.toFixed(4)}))`;
  const image = (comparable && job.urls.result) || job.urls.preview || job.urls.content;
  const comparing = comparable && Boolean(job.urls.result) && Boolean(job.urls.content);
  compare.classList.toggle("live", !comparing);
  if (comparing) $("#before").src = job.urls.content;
  if (image && image !== state.shownImage) {
    state.shownImage = image;
    const next = new Image(); // load first, then swap: no flicker between previews
    next.onload = () => {
      if (state.shownImage === image) $("#after").src = image;
    };
    next.src = image;
  }
  updateCompare();
}

// A finished clip: the input and the painted video side by side (a GIF plays as an image).
function showClips(job) {
  const result = $("#clip-result");
  if (result.dataset.job === job.id) return;
  result.dataset.job = job.id;
  result.src = job.urls.result;
  result.poster = job.urls.preview || "";
  const input = $("#clip-input");
  const gif = $("#clip-input-gif");
  input.hidden = false;
  gif.hidden = true;
  input.onerror = () => { // a GIF (or a clip the browser cannot play): an image plays a GIF
    input.hidden = true;
    gif.hidden = false;
    gif.src = job.urls.clip;
    gif.onerror = () => { gif.src = job.urls.content; };
  };
  input.poster = job.urls.content || "";
  input.src = job.urls.clip;
  for (const figure of document.querySelectorAll("#clips figure")) figure.style.aspectRatio = `${job.width} / ${job.height}`;
}

// A comparison: one image per strength, each with its strength under it and a button to keep it.
function showVariants(job) {
  const grid = $("#variants");
  if (grid.dataset.job !== job.id) {
    grid.dataset.job = job.id;
    grid.style.setProperty("--columns", String(job.variants.length <= 4 ? job.variants.length : 3));
    grid.replaceChildren(...job.variants.map((variant, index) => {
      const node = $("#variant-template").content.firstElementChild.cloneNode(true);
      $(".variant-strength", node).textContent = `Strength ${variant.strength.toFixed(2)}`;
      $(".variant-image", node).style.aspectRatio = `${job.width} / ${job.height}`;
      $("img", node).alt = `The photo at strength ${variant.strength.toFixed(2)}`;
      $(".variant-keep", node).addEventListener("click", () => keep(index + 1));
      return node;
    }));
  }
  job.variants.forEach((variant, index) => {
    const node = grid.children[index];
    const image = $("img", node);
    if (variant.url && image.dataset.url !== variant.url) {
      image.dataset.url = variant.url;
      const next = new Image();
      next.onload = () => {
        if (image.dataset.url === variant.url) image.src = variant.url;
      };
      next.src = variant.url;
    }
    image.hidden = !variant.url;
    const waiting = { queued: "waiting", running: `${variant.step} / ${variant.total}` }[variant.status];
    $(".variant-wait", node).textContent = waiting || "";
    $(".variant-wait", node).hidden = !waiting;
    node.classList.toggle("kept", job.kept === index + 1);
    const button = $(".variant-keep", node);
    button.hidden = variant.status !== "done";
    button.textContent = job.kept === index + 1 ? "Kept" : "Keep";
    button.disabled = job.kept === index + 1;
  });
}

async function keep(variant) {
  try {
    render(await api(`/api/jobs/${state.job.id}/keep?variant=${variant}`, { method: "POST" }));
  } catch (error) {
    showError(error.message);
  }
}

function updateCompare() {
  const value = Number($("#compare-slider").value);
  $("#before-clip").style.clipPath = `inset(0 ${100 - value}% 0 0)`;
  $("#handle").style.left = `${value}%`;
}

function clearStage() {
  if (state.events) state.events.close();
  state.events = null;
  state.job = null;
  state.shownImage = null;
  setIdle(true);
  highlightCard(null);
}

// Idle: the stage shows how it works (on a phone, it is not shown at all).
function setIdle(idle) {
  $("#stage").classList.toggle("idle", idle);
  $("#canvas").classList.toggle("empty", idle);
  $("#placeholder").hidden = !idle;
  $("#compare").hidden = idle;
  $("#status").hidden = idle;
  if (idle) $("#clips").hidden = $("#variants").hidden = true;
}

// --- gallery ---------------------------------------------------------------------------------

// The gallery refreshes itself every few seconds while a job in it is queued or running.
async function refreshGallery() {
  clearTimeout(state.galleryTimer);
  const { jobs } = await api("/api/jobs");
  if (jobs.some((job) => !FINAL.has(job.status))) state.galleryTimer = setTimeout(refreshGallery, GALLERY_EVERY);
  const grid = $("#grid");
  grid.replaceChildren(...jobs.map(card));
  $("#gallery-empty").hidden = jobs.length > 0;
  $("#gallery-count").textContent = jobs.length ? `${jobs.length} ${jobs.length === 1 ? "job" : "jobs"}` : "";
  highlightCard(state.job && state.job.id);
  return jobs;
}

function card(job) {
  const node = $("#card-template").content.firstElementChild.cloneNode(true);
  node.dataset.id = job.id;
  node.dataset.kind = job.kind;
  const variants = (job.variants || []).filter((variant) => variant.url);
  const middle = variants[Math.floor(variants.length / 2)];
  const image = (job.kind !== "video" && job.urls.result) || job.urls.preview || (middle && middle.url) || job.urls.content;
  if (image) $("img", node).src = image;
  $("img", node).alt = `${stem(job.content_name)} in the style of ${stem(job.style_name)}`;
  $(".card-names", node).textContent = `${stem(job.content_name)} × ${stem(job.style_name)}`;
  $(".card-names", node).title = `${job.content_name} × ${job.style_name}`;
  const badge = $(".badge", node);
  badge.className = `badge ${job.status}`;
  badge.textContent = job.status;
  $(".chips", node).replaceChildren(...chips(job).map((text, index) => {
    const chip = document.createElement("span");
    chip.className = index === 0 && job.kind !== "still" ? "chip kind" : "chip";
    chip.textContent = text;
    return chip;
  }));
  $(".card-time", node).textContent = ago(job.created) + (job.expires ? ` · ${going(job.expires)}` : "");
  if (job.expires) $(".card-time", node).title = `removed with its files on ${new Date(job.expires * 1000).toLocaleString()}`;
  const download = $(".card-download", node);
  const file = job.urls.result || job.urls.all;
  download.hidden = !file;
  if (file) download.href = file === job.urls.all ? file : `${file}?download=1`;
  $(".card-image", node).addEventListener("click", () => {
    show(job);
    if (window.matchMedia("(max-width: 899px)").matches) $("#stage").scrollIntoView({ behavior: "smooth" });
  });
  $(".card-delete", node).addEventListener("click", async () => {
    if (!window.confirm(`Delete this ${KIND_WORDS[job.kind]} and its files?`)) return;
    try {
      await api(`/api/jobs/${job.id}`, { method: "DELETE" });
      if (state.job && state.job.id === job.id) clearStage();
      refreshGallery();
    } catch (error) {
      showError(error.message);
    }
  });
  return node;
}

// What the user chose, in words: the kind, the preset, the size, the strength(s), the colours, a clip's own.
function chips(job) {
  const preset = job.settings.preset;
  const base = state.options.presets[preset] || state.options.defaults;
  const list = [`${job.width}×${job.height}`, `${job.config.iterations} steps`];
  if (preset) list.unshift(PRESET_LABELS[preset] || preset);
  if (job.kind === "video") {
    list.unshift(`clip · ${job.total} frames`);
    const video = state.options.video;
    if (job.video.mode === "keyframes") list.push("keyframes + network");
    if (job.video.temporal_weight !== video.temporal_weight) list.push(`steadiness ${job.video.temporal_weight}`);
    if (job.video.passes > 1) list.push(`${job.video.passes} passes`);
  } else if (job.kind === "compare") {
    list.unshift(`strengths ${job.variants.map((variant) => variant.strength.toFixed(2)).join(" · ")}`);
  } else if (base && job.config.strength !== base.strength) {
    list.push(`strength ${job.config.strength.toFixed(2)}`);
  }
  if (job.config.preserve_colors) list.push("photo colours");
  return list;
}

function highlightCard(id) {
  for (const node of document.querySelectorAll(".card")) node.classList.toggle("current", node.dataset.id === id);
}

// --- formatting ------------------------------------------------------------------------------

function stem(name) {
  return name.replace(/\.[A-Za-z0-9]+$/, "").replace(/[_-]+/g, " ");
}

function formatLoss(loss) {
  const [mantissa, exponent] = loss.toExponential(2).split("e");
  return Number(exponent) === 0 ? mantissa : `${mantissa}e${Number(exponent)}`;
}

// A clip's frames a second: so far while it runs, over its whole run once it ended.
function speed(job) {
  if (job.status === "running") return job.fps == null ? "…" : rate(job.fps);
  return FINAL.has(job.status) && job.step && job.finished > job.started ? rate(job.step / (job.finished - job.started)) : "–";
}

function rate(fps) {
  return `${fps >= 10 ? fps.toFixed(0) : fps >= 1 ? fps.toFixed(1) : fps.toPrecision(2)} frames/s`;
}

function timeLeft(job) {
  if (job.status === "queued") return job.queue_position > 1 ? `${job.queue_position - 1} ahead` : "next";
  if (job.status !== "running") return job.finished && job.started ? clock(job.finished - job.started) : "–";
  return job.eta == null ? "…" : clock(job.eta);
}

function clock(seconds) {
  const whole = Math.max(0, Math.round(seconds));
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const rest = String(whole % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}

function ago(epoch) {
  const seconds = Date.now() / 1000 - epoch;
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return new Date(epoch * 1000).toLocaleDateString();
}

// When a finished job goes (the server's --keep-days after it ended).
function going(epoch) {
  const days = (epoch - Date.now() / 1000) / 86400;
  if (days < 1 / 24) return "goes within the hour";
  if (days < 1) return `goes in ${Math.ceil(days * 24)} h`;
  return `goes in ${Math.ceil(days)} day${Math.ceil(days) === 1 ? "" : "s"}`;
}

// The API's messages are lower-case clauses (as the CLI prints them); the page shows sentences.
function sentence(message) {
  return message.charAt(0).toUpperCase() + message.slice(1);
}

function showError(message) {
  const box = $("#form-error");
  box.textContent = sentence(message);
  box.hidden = false;
  box.scrollIntoView({ behavior: "smooth", block: "nearest" });
}

function hideError() {
  $("#form-error").hidden = true;
}

init().catch((error) => showError(`The page could not start: ${error.message}`));
