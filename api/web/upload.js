// Upload: several files; per-file states and, for the batch, chunks embedded, time left and files searchable,
// from the job's event stream; then a pointer to Ask.

import { ApiError, api, readEvents } from "./api.js";
import { loadCollections } from "./collections.js";
import { $, el, enc, plural, setError } from "./dom.js";
import { loadDocuments } from "./documents.js";
import { fileProgress, isFinalFile } from "./meta.js";
import { currentCollection, state } from "./state.js";
import { showView } from "./views.js";

function uploadItem(filename) {
  const progress = el("progress", { max: "100", "aria-label": `Progress of ${filename}` });
  return el(
    "li",
    { class: "upload", dataset: { filename, state: "uploading" } },
    el("span", { class: "filename", text: filename }),
    el("span", { class: "state", text: "uploading" }),
    progress,
    el("span", { class: "detail muted small" }),
    el("span", { class: "error" }),
  );
}

function setUploadState(item, file) {
  const word = file.state || "queued";
  item.dataset.state = word;
  item.querySelector(".state").textContent = word;
  const progress = item.querySelector("progress");
  progress.value = fileProgress(word);
  progress.setAttribute("aria-valuetext", word);
  let detail = "";
  if (word === "done") detail = `document ${file.document_id}, ${plural(file.n_chunks ?? 0, "chunk")}, searchable`;
  else if (word === "duplicate") detail = `already stored as document ${file.document_id}`;
  item.querySelector(".detail").textContent = detail;
  item.querySelector(".error").textContent = file.error || "";
  renderAttachments(item, file.attachments || []);
}

/** A message's attachments under its item: each stored as a document of its own, or skipped and why. */
function renderAttachments(item, attachments) {
  let list = item.querySelector("ul.attachments");
  if (!attachments.length) {
    if (list) list.remove();
    return;
  }
  if (!list) {
    list = el("ul", { class: "attachments small", "aria-label": "Attachments" });
    item.append(list);
  }
  list.replaceChildren(
    ...attachments.map((a) => {
      const what = a.state === "skipped"
        ? `skipped: ${a.reason}`
        : a.state === "duplicate"
          ? `already stored as document ${a.document_id}`
          : `document ${a.document_id}, ${plural(a.n_chunks ?? 0, "chunk")}`;
      return el("li", { class: "attachment", dataset: { state: a.state } }, el("span", { class: "filename", text: a.filename }), ` ${what}`);
    }),
  );
}

/** "page 3 of 12 read by OCR (scan.pdf)" while a file is read by OCR; hidden otherwise. */
function renderReading(reading) {
  const line = $("upload-reading");
  line.hidden = !reading;
  line.textContent = reading ? `${reading.unit} ${reading.done} of ${reading.total} read by OCR (${reading.filename})` : "";
}

function seconds(s) {
  if (s < 1.5) return "about a second";
  if (s < 90) return `about ${Math.round(s)} s`;
  return `about ${Math.round(s / 60)} min`;
}

/** The batch's line: chunks embedded of those known, the time left, the files searchable so far. */
function renderProgress(progress) {
  if (!progress) return;
  const bar = $("upload-chunks");
  const total = progress.chunks_total;
  const embedded = progress.chunks_embedded ?? 0;
  bar.hidden = !total;
  if (total) {
    bar.max = total;
    bar.value = Math.min(embedded, total);
    bar.setAttribute("aria-valuetext", `${embedded} of ${total} chunks embedded`);
  }
  const parts = [total ? `${embedded} of ${plural(total, "chunk")} embedded` : `${plural(embedded, "chunk")} embedded`];
  const finished = progress.files_done >= progress.files_total;
  if (typeof progress.eta_seconds === "number" && !finished) parts.push(`${seconds(progress.eta_seconds)} left`);
  parts.push(`${progress.files_searchable ?? 0} of ${plural(progress.files_total, "file")} searchable`);
  $("upload-progress-text").textContent = parts.join(" · ");
  renderReading(finished ? null : progress.reading);
  $("upload-progress").hidden = false;
}

/** Match the job's files to the batch's items: by position, else by name. */
function renderJob(items, job) {
  const files = job.files || [];
  const byPosition = files.length === items.length;
  files.forEach((file, i) => {
    const item = byPosition ? items[i] : items.find((it) => it.dataset.filename === file.filename);
    if (item) setUploadState(item, file);
  });
  const done = files.filter((f) => isFinalFile(f.state)).length;
  $("upload-summary").textContent = `${done} of ${plural(files.length, "file")} finished`;
  renderProgress(job.progress);
}

/** Follow a job's event stream until its final event (reconnecting, or polling, if the stream breaks). */
async function followJob(jobId, onJob) {
  for (let attempt = 0; attempt < 5; attempt++) {
    let final = null;
    try {
      const res = await api(`/v1/jobs/${jobId}/events`, { raw: true });
      await readEvents(res, (name, job) => {
        if (job && typeof job === "object") onJob(job);
        if (name === "done" || name === "failed") final = job;
      });
    } catch (err) {
      if (err instanceof ApiError && err.status >= 400) throw err;
    }
    if (final) return final;
    const job = await api(`/v1/jobs/${jobId}`);
    onJob(job);
    if (job.status === "done" || job.status === "failed") return job;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new ApiError("Lost the job's progress stream; reload the documents to see what was stored.", 0, "stream");
}

/** After a batch: which files can be asked about now, and a button to Ask. */
function pointToAsk(job) {
  const searchable = (job.files || []).filter((f) => f.state === "done" || f.state === "duplicate").length;
  const next = $("upload-next");
  next.hidden = searchable === 0;
  $("upload-next-text").textContent = `${plural(searchable, "file")} searchable now.`;
}

/** Items for ``files``, replacing those of finished batches and any earlier item of the same name. */
function newBatch(files) {
  const list = $("upload-list");
  const names = new Set(files.map((f) => f.name));
  for (const batch of state.uploadBatches.filter((b) => b.finished)) batch.items.forEach((it) => it.remove());
  state.uploadBatches = state.uploadBatches.filter((b) => !b.finished);
  for (const item of list.querySelectorAll("li.upload")) if (names.has(item.dataset.filename)) item.remove();
  const batch = { items: files.map((f) => uploadItem(f.name)), finished: false };
  state.uploadBatches.push(batch);
  list.append(...batch.items);
  return batch;
}

async function uploadFiles(fileList) {
  const files = Array.from(fileList || []);
  if (!files.length) return;
  setError("upload-error", "");
  $("upload-next").hidden = true;
  $("upload-progress").hidden = true;
  const name = currentCollection();
  const batch = newBatch(files);
  const fail = (message) => {
    setError("upload-error", message);
    for (const item of batch.items) setUploadState(item, { state: "failed", error: message });
    $("upload-summary").textContent = "";
  };
  try {
    if (!name) return fail("Choose a collection first, or create one on the Collections view.");
    const form = new FormData();
    for (const f of files) form.append("files", f, f.name);
    const password = $("upload-password").value;
    if (password) form.append("password", password); // for this upload only: the field is cleared below
    let accepted;
    try {
      accepted = await api(`/v1/collections/${enc(name)}/documents`, { method: "POST", body: form });
    } catch (err) {
      return fail(err.message);
    }
    renderJob(batch.items, accepted);
    try {
      const job = await followJob(accepted.job_id, (j) => renderJob(batch.items, j));
      if (job.status === "failed" && job.error && !job.files.some((f) => f.error)) setError("upload-error", job.error);
      pointToAsk(job);
    } catch (err) {
      setError("upload-error", err.message);
    }
    loadCollections();
    if (name === currentCollection()) loadDocuments();
  } finally {
    batch.finished = true;
    $("file-input").value = "";
    $("upload-password").value = "";
  }
}

export function setUpUpload() {
  const zone = $("dropzone");
  const input = $("file-input");
  zone.addEventListener("click", () => input.click());
  zone.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      input.click();
    }
  });
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (e) => {
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
      zone.classList.add("over");
    });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer) uploadFiles(e.dataTransfer.files);
  });
  input.addEventListener("change", () => uploadFiles(input.files));
  // a file dropped beside the zone must not replace the page
  for (const type of ["dragover", "drop"]) window.addEventListener(type, (e) => e.preventDefault());
  $("upload-ask").addEventListener("click", () => showView("ask", true));
}
