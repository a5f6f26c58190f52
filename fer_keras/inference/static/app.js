// fer_keras serve: photos and webcam frames go to POST /v1/emotions; the faces it finds are
// drawn as boxes positioned in percent of the image, so they follow the image at any size.
"use strict";

const API = "/v1/emotions";
let COLORS = {};  // emotion -> CSS colour, from /health (the colours of fer_keras's drawings)

const $ = (id) => document.getElementById(id);
const pct = (p) => `${Math.round(p * 100)}%`;

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function textColour(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return 0.299 * r + 0.587 * g + 0.114 * b > 150 ? "#111" : "#fff";
}

async function postImage(blob, name) {
  const form = new FormData();
  form.append("image", blob, name);
  const response = await fetch(API, { method: "POST", body: form });
  let body;
  try {
    body = await response.json();
  } catch (e) {
    throw new Error(`${response.status} ${response.statusText}`);
  }
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

// Boxes and labels over an image or a video, in percent of the analysed image's size.
function drawBoxes(overlay, result) {
  overlay.replaceChildren(...result.faces.map((face) => {
    const [x, y, w, h] = face.box;
    const colour = COLORS[face.emotion] || "#2f6fde";
    const box = el("div", { className: "box" });
    box.dataset.emotion = face.emotion;
    Object.assign(box.style, {
      left: `${(100 * x) / result.width}%`, top: `${(100 * y) / result.height}%`,
      width: `${(100 * w) / result.width}%`, height: `${(100 * h) / result.height}%`,
      borderColor: colour,
    });
    if (y < 0.06 * result.height) box.classList.add("low");  // no room above: label below
    const label = el("span", { className: "label" }, `${face.emotion} ${pct(face.probability)}`);
    Object.assign(label.style, { background: colour, color: textColour(colour) });
    box.append(label);
    return box;
  }));
}

// One list entry per face: its top emotion and a bar for each of the seven.
function listFaces(list, faces) {
  list.replaceChildren(...faces.map((face, i) => {
    const bars = el("div", { className: "bars" });
    for (const [name, p] of Object.entries(face.emotions)) {
      const fill = el("i");
      Object.assign(fill.style, { width: pct(p), background: COLORS[name] || "#2f6fde" });
      bars.append(el("span", {}, name), el("span", { className: "bar" }, fill),
                  el("span", { className: "value" }, pct(p)));
    }
    const item = el("li", { className: "face" },
                    el("b", {}, `Face ${i + 1}: ${face.emotion} ${pct(face.probability)}`), bars);
    item.dataset.emotion = face.emotion;
    return item;
  }));
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

// ---- photos ----
const queue = [];
let busy = false;

function addPhotos(files) {
  for (const file of files) {
    const img = el("img", { alt: file.name });
    const overlay = el("div", { className: "overlay" });
    const status = el("p", { className: "status" }, "analysing…");
    const faces = el("ol", { className: "faces" });
    const card = el("article", { className: "photo" },
                    el("div", { className: "stage" }, img, overlay),
                    el("div", { className: "info" }, el("h3", {}, file.name), status, faces));
    card.dataset.state = "busy";
    img.onerror = () => { img.alt = `${file.name} (this browser cannot show its format)`; };
    img.src = URL.createObjectURL(file);
    $("results").prepend(card);
    queue.push({ file, card, overlay, status, faces });
  }
  if (!busy) nextPhoto();
}

async function nextPhoto() {
  const job = queue.shift();
  if (!job) { busy = false; return; }
  busy = true;
  try {
    const result = await postImage(job.file, job.file.name);
    drawBoxes(job.overlay, result);
    listFaces(job.faces, result.faces);
    job.status.textContent = result.faces.length
      ? `${plural(result.faces.length, "face")} · ${result.width}×${result.height} · ` +
        `${Math.round(result.seconds * 1000)} ms`
      : `no face found · ${result.width}×${result.height}`;
    job.card.dataset.state = "done";
  } catch (error) {
    job.status.textContent = `error: ${error.message}`;
    job.card.dataset.state = "error";
  }
  nextPhoto();
}

const drop = $("drop");
$("files").addEventListener("change", (e) => { addPhotos(e.target.files); e.target.value = ""; });
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  addPhotos(e.dataTransfer.files);
});

// ---- webcam: one frame in flight at a time, at most one every `every` ms ----
const cam = { stream: null, running: false, times: [] };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function grabFrame(video) {
  const scale = Math.min(1, 640 / video.videoWidth);
  const canvas = el("canvas", { width: Math.round(video.videoWidth * scale),
                                height: Math.round(video.videoHeight * scale) });
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
}

function showRate(latency) {
  const now = performance.now();
  cam.times = cam.times.filter((t) => now - t < 3000).concat(now);
  const span = (now - cam.times[0]) / 1000;
  const fps = cam.times.length > 1 ? (cam.times.length - 1) / span : 0;
  $("cam-fps").textContent = `${fps.toFixed(1)} frames/s · ${Math.round(latency)} ms per frame`;
}

async function camLoop(video) {
  while (cam.running) {
    const start = performance.now();
    if (video.videoWidth) {
      try {
        const result = await postImage(await grabFrame(video), "frame.jpg");
        if (!cam.running) break;
        drawBoxes($("cam-overlay"), result);
        listFaces($("cam-faces"), result.faces);
        $("cam-status").className = "status";
        $("cam-status").textContent = result.faces.length
          ? plural(result.faces.length, "face") : "no face in view";
        showRate(performance.now() - start);
      } catch (error) {
        $("cam-status").className = "status error";
        $("cam-status").textContent = `error: ${error.message}`;
      }
    }
    await sleep(Math.max(0, Number($("cam-every").value) - (performance.now() - start)));
  }
}

async function startCam() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    $("cam-status").className = "status error";
    $("cam-status").textContent = "This browser gives no camera here: open the page as " +
      "http://127.0.0.1 or http://localhost (or over HTTPS).";
    return;
  }
  try {
    cam.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640 }, audio: false });
  } catch (error) {
    $("cam-status").className = "status error";
    $("cam-status").textContent = `no camera: ${error.message}`;
    return;
  }
  const video = $("cam-video");
  video.srcObject = cam.stream;
  cam.running = true;
  cam.times = [];
  $("cam-start").disabled = true;
  $("cam-stop").disabled = false;
  $("cam-status").textContent = "starting…";
  camLoop(video);
}

function stopCam() {
  cam.running = false;
  if (cam.stream) cam.stream.getTracks().forEach((track) => track.stop());
  cam.stream = null;
  $("cam-video").srcObject = null;
  $("cam-overlay").replaceChildren();
  $("cam-start").disabled = false;
  $("cam-stop").disabled = true;
  $("cam-status").className = "status";
  $("cam-status").textContent = "stopped";
}

$("cam-start").addEventListener("click", startCam);
$("cam-stop").addEventListener("click", stopCam);

// ---- tabs and the model's name ----
for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => {
    for (const other of document.querySelectorAll(".tab")) {
      other.classList.toggle("active", other === tab);
      $(other.dataset.tab).hidden = other !== tab;
    }
    if (tab.dataset.tab !== "webcam" && cam.running) stopCam();
  });
}

fetch("/health").then((r) => r.json()).then((health) => {
  COLORS = health.emotions || {};
  $("model").textContent = `model: ${health.model} · fer_keras ${health.version}`;
}).catch(() => { $("model").textContent = "model: (the server does not answer)"; });
