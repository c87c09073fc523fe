// The page of the local RAG API: collections, uploads, questions, documents, benchmarks.
// Plain JavaScript, no library, no build step. Every string from the API goes into the
// page as text (textContent / text nodes), never as HTML.
"use strict";

const KEY_STORAGE = "rag-api-key"; // the API key lives in this tab's sessionStorage only
const DOCUMENTS_PAGE = 100;

const STATE_PROGRESS = { uploading: 5, queued: 10, parsing: 30, embedding: 60, indexing: 85, done: 100, duplicate: 100, failed: 100 };
const FINAL_STATES = new Set(["done", "duplicate", "failed"]);
const ABSTAIN_REASONS = {
  no_relevant_passage: "none of the passages found is relevant enough to the question",
  unsupported: "no sentence of the answer is supported by the passages",
  no_passages: "the collection has no passages to answer from",
  no_answer_found: "the reader found no passage that states an answer",
};
const HOW_WORDS = {
  marker: "cited by the model",
  corrected: "the model cited another passage; corrected",
  support: "marker added: this passage supports it",
  attended: "the model attended to this passage (retro)",
  reader: "the reader found the answer's words in this passage",
  none: "no marker",
};

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

const state = {
  view: "collections",
  collections: [], // names for the select
  documentsOffset: 0,
  askController: null,
  lastAsk: null, // {collection, response}
  docOpener: null,
  benchTimer: null,
  benchPlotUrl: null,
  benchChecked: false,
  uploadBatches: [],
};

// ---------------------------------------------------------------------------
// Small DOM helpers

/** An element with attributes/properties and children (strings become text nodes). */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function setError(id, message) {
  $(id).textContent = message || "";
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function bytes(n) {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  return `${(n / 1e6).toFixed(1)} MB`;
}

function fmt(x, digits = 3) {
  return typeof x === "number" && Number.isFinite(x) ? x.toFixed(digits) : "–";
}

// ---------------------------------------------------------------------------
// The API: one fetch helper (key, errors in words) and one Server-Sent Events reader

class ApiError extends Error {
  constructor(message, status, code, detail) {
    super(message);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

/**
 * fetch() with the key (once set) and errors as ApiError carrying the API's message.
 * opts: method, json (a body to send as JSON), body, signal, raw (return the Response),
 * quiet (a 401 does not open the key dialog).
 */
async function api(path, opts = {}) {
  const headers = new Headers(opts.headers || {});
  const key = apiKey();
  if (key) headers.set("Authorization", `Bearer ${key}`);
  let body = opts.body;
  if (opts.json !== undefined) {
    headers.set("Content-Type", "application/json");
    body = JSON.stringify(opts.json);
  }
  let res;
  try {
    res = await fetch(path, { method: opts.method || "GET", headers, body, signal: opts.signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError("The server cannot be reached; is it still running?", 0, "network", null);
  }
  if (!res.ok) {
    let message = `The server answered ${res.status} ${res.statusText}`.trim();
    let code = "";
    let detail = null;
    try {
      const payload = await res.json();
      if (payload && payload.error) {
        message = payload.error.message || message;
        code = payload.error.code || "";
        detail = payload.error.detail ?? null;
      }
    } catch (_) {
      // not JSON: keep the status line
    }
    if (res.status === 401 && !opts.quiet) openKeyDialog(message);
    throw new ApiError(message, res.status, code, detail);
  }
  if (opts.raw) return res;
  if (res.status === 204) return null;
  return res.json();
}

/**
 * Read a Server-Sent Events response (fetch + a stream reader, so the Authorization header
 * goes with it: EventSource cannot send one). Calls onEvent(name, data) per event, data
 * parsed as JSON; resolves when the stream ends. An exception in onEvent stops the read.
 */
async function readEvents(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let name = "message";
  let data = [];
  const dispatch = () => {
    if (data.length) {
      const text = data.join("\n");
      let value;
      try {
        value = JSON.parse(text);
      } catch (_) {
        value = text;
      }
      onEvent(name, value);
    }
    name = "message";
    data = [];
  };
  const line = (raw) => {
    const text = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (text === "") return dispatch();
    if (text.startsWith(":")) return undefined; // a comment (keepalive)
    const colon = text.indexOf(":");
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? "" : text.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") name = value || "message";
    else if (field === "data") data.push(value);
    return undefined; // id and retry are not needed here
  };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        line(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
      }
    }
    if (buffer) line(buffer);
    dispatch(); // a last event without its blank line
  } finally {
    reader.cancel().catch(() => {});
  }
}

// ---------------------------------------------------------------------------
// The key dialog (opens on a 401; the key stays in sessionStorage)

function openKeyDialog(reason) {
  const dialog = $("key-dialog");
  $("key-reason").textContent = reason || "";
  $("key-reason").hidden = !reason;
  $("key-input").value = apiKey();
  if (!dialog.open) dialog.showModal();
  $("key-input").focus();
}

function saveKey(event) {
  event.preventDefault();
  const key = $("key-input").value.trim();
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
  $("key-dialog").close();
  updateKeyButton();
  refreshAfterKey();
}

function forgetKey() {
  sessionStorage.removeItem(KEY_STORAGE);
  $("key-input").value = "";
  $("key-dialog").close();
  updateKeyButton();
}

function updateKeyButton() {
  $("key-open").textContent = apiKey() ? "API key (set)" : "API key";
}

function refreshAfterKey() {
  loadCollections().then(() => {
    if (state.view === "documents") loadDocuments();
  });
}

// ---------------------------------------------------------------------------
// Views

function showView(name) {
  state.view = name;
  for (const button of document.querySelectorAll("nav [data-view]")) {
    if (button.dataset.view === name) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  for (const section of document.querySelectorAll("main > .view")) {
    section.hidden = section.id !== `view-${name}`;
  }
  if (name === "collections") loadCollections();
  if (name === "documents") loadDocuments();
  if (name === "benchmarks") resumeBenchmark();
}

function currentCollection() {
  return $("collection-select").value || "";
}

function showCurrentCollection() {
  const name = currentCollection();
  for (const node of document.querySelectorAll(".current-collection-name")) {
    node.textContent = name || "(none: create one first)";
  }
  $("collection-hint").textContent = state.collections.length ? "" : "No collection yet";
  for (const item of document.querySelectorAll("#collections li[data-collection]")) {
    item.classList.toggle("current", item.dataset.collection === name);
  }
}

/** Fill the collection select with ``names``, keeping the current choice where it still exists. */
function fillCollectionSelect(names, prefer) {
  const select = $("collection-select");
  const keep = prefer || select.value;
  state.collections = names;
  select.replaceChildren(...names.map((n) => el("option", { value: n, text: n })));
  if (names.includes(keep)) select.value = keep;
  else if (names.length) select.value = names[0];
  select.disabled = names.length === 0;
  showCurrentCollection();
}

// ---------------------------------------------------------------------------
// Collections

async function loadCollections(prefer) {
  setError("collections-error", "");
  let list;
  try {
    list = (await api("/v1/collections")).collections;
  } catch (err) {
    setError("collections-error", err.message);
    if (err.status === 403) $("open-collection-form").hidden = false;
    return;
  }
  renderCollections(list);
  const before = currentCollection();
  fillCollectionSelect(list.map((c) => c.name), prefer);
  if (currentCollection() !== before && state.view === "documents") loadDocuments();
}

function renderCollections(list) {
  $("collections-empty").hidden = list.length > 0;
  $("collections").replaceChildren(
    ...list.map((c) =>
      el(
        "li",
        { class: "card collection", dataset: { collection: c.name, documents: c.documents, chunks: c.chunks } },
        el("h3", { class: "name", text: c.name }),
        el(
          "dl",
          { class: "facts" },
          el("div", {}, el("dt", { text: "index" }), el("dd", { class: "index-spec", text: c.index_spec })),
          el("div", {}, el("dt", { text: "documents" }), el("dd", { class: "doc-count", text: String(c.documents) })),
          el("div", {}, el("dt", { text: "chunks" }), el("dd", { class: "chunk-count", text: String(c.chunks) })),
          el("div", {}, el("dt", { text: "model" }), el("dd", { class: "model", text: `${c.embed_model} (${c.dim} d)` })),
        ),
        el(
          "div",
          { class: "buttons" },
          el("button", {
            type: "button",
            class: "use secondary",
            "aria-label": `Use collection ${c.name}`,
            text: "Use",
            onclick: () => useCollection(c.name),
          }),
          el("button", {
            type: "button",
            class: "delete-collection danger",
            "aria-label": `Delete collection ${c.name}`,
            text: "Delete",
            onclick: () => deleteCollection(c.name),
          }),
        ),
      ),
    ),
  );
  showCurrentCollection();
}

function useCollection(name) {
  const select = $("collection-select");
  if (!state.collections.includes(name)) fillCollectionSelect([...state.collections, name], name);
  select.value = name;
  onCollectionChange();
}

async function createCollection(event) {
  event.preventDefault();
  setError("collections-error", "");
  const name = $("new-collection-name").value.trim();
  const spec = $("new-collection-spec").value.trim();
  if (!name) {
    setError("collections-error", "Give the new collection a name.");
    $("new-collection-name").focus();
    return;
  }
  const button = $("create-collection");
  button.disabled = true;
  try {
    await api("/v1/collections", { method: "POST", json: spec ? { name, index_spec: spec } : { name } });
    $("new-collection-name").value = "";
    await loadCollections(name);
    onCollectionChange();
  } catch (err) {
    setError("collections-error", err.message);
  } finally {
    button.disabled = false;
  }
}

async function deleteCollection(name) {
  if (!window.confirm(`Delete the collection ${name}? Its documents, chunks and index files are removed; this cannot be undone.`)) return;
  setError("collections-error", "");
  try {
    await api(`/v1/collections/${enc(name)}`, { method: "DELETE" });
    await loadCollections();
    onCollectionChange();
  } catch (err) {
    setError("collections-error", err.message);
  }
}

async function openCollectionByName(event) {
  event.preventDefault();
  const name = $("open-collection-name").value.trim();
  if (!name) return;
  setError("collections-error", "");
  try {
    const c = await api(`/v1/collections/${enc(name)}`);
    const known = state.collections.includes(c.name) ? state.collections : [...state.collections, c.name];
    fillCollectionSelect(known, c.name);
    renderCollections([c]);
    onCollectionChange();
  } catch (err) {
    setError("collections-error", err.message);
  }
}

function onCollectionChange() {
  showCurrentCollection();
  state.documentsOffset = 0;
  loadDocuments();
}

// ---------------------------------------------------------------------------
// Upload: several files, per-file progress from the job's event stream

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
  progress.value = STATE_PROGRESS[word] ?? 0;
  progress.setAttribute("aria-valuetext", word);
  let detail = "";
  if (word === "done") detail = `document ${file.document_id}, ${plural(file.n_chunks ?? 0, "chunk")}`;
  else if (word === "duplicate") detail = `already stored as document ${file.document_id}`;
  item.querySelector(".detail").textContent = detail;
  item.querySelector(".error").textContent = file.error || "";
}

/** Match the job's files to the batch's items: by position, else by name. */
function renderJobFiles(items, files) {
  const byPosition = files.length === items.length;
  files.forEach((file, i) => {
    const item = byPosition ? items[i] : items.find((it) => it.dataset.filename === file.filename);
    if (item) setUploadState(item, file);
  });
  const done = files.filter((f) => FINAL_STATES.has(f.state)).length;
  $("upload-summary").textContent = `${done} of ${plural(files.length, "file")} finished`;
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

async function uploadFiles(fileList) {
  const files = Array.from(fileList || []);
  if (!files.length) return;
  setError("upload-error", "");
  const name = currentCollection();
  const list = $("upload-list");
  // drop the items of finished batches and any earlier item of the same name
  const names = new Set(files.map((f) => f.name));
  for (const batch of state.uploadBatches.filter((b) => b.finished)) batch.items.forEach((it) => it.remove());
  state.uploadBatches = state.uploadBatches.filter((b) => !b.finished);
  for (const item of list.querySelectorAll("li.upload")) if (names.has(item.dataset.filename)) item.remove();
  const items = files.map((f) => uploadItem(f.name));
  const batch = { items, finished: false };
  state.uploadBatches.push(batch);
  list.append(...items);
  const fail = (message) => {
    setError("upload-error", message);
    for (const item of items) setUploadState(item, { state: "failed", error: message });
    $("upload-summary").textContent = "";
  };
  try {
    if (!name) {
      fail("Choose a collection first, or create one on the Collections view.");
      return;
    }
    const form = new FormData();
    for (const f of files) form.append("files", f, f.name);
    let accepted;
    try {
      accepted = await api(`/v1/collections/${enc(name)}/documents`, { method: "POST", body: form });
    } catch (err) {
      fail(err.message);
      return;
    }
    renderJobFiles(items, accepted.files);
    try {
      const job = await followJob(accepted.job_id, (j) => renderJobFiles(items, j.files));
      if (job.status === "failed" && job.error && !job.files.some((f) => f.error)) setError("upload-error", job.error);
    } catch (err) {
      setError("upload-error", err.message);
    }
    loadCollections();
    if (name === currentCollection()) loadDocuments();
  } finally {
    batch.finished = true;
    $("file-input").value = "";
  }
}

function setUpDropzone() {
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
}

// ---------------------------------------------------------------------------
// Ask: the answer streams in; then markers, citations, support marks, tool calls

function clearAnswer() {
  for (const id of ["answer", "sentences", "citations", "tool-calls", "closest", "answer-quote-text", "answer-quote-source"]) {
    $(id).replaceChildren();
  }
  $("answer-quote").hidden = true;
  $("abstained").hidden = true;
  $("abstained").textContent = "";
  $("answer-meta").textContent = "";
  $("answer").classList.remove("is-abstained");
  for (const id of ["sentences-block", "citations-block", "tool-calls-block", "closest-block"]) $(id).hidden = true;
}

function askBody() {
  const body = {
    question: $("question").value.trim(),
    hyde: $("opt-hyde").checked,
    rerank: $("opt-rerank").checked,
    tools: $("opt-tools").checked,
    mode: $("opt-mode").value,
    context: $("opt-context").value,
    stream: true,
  };
  const k = parseInt($("opt-k").value, 10);
  if (Number.isFinite(k)) body.k = k;
  const fusion = $("opt-fusion").value;
  if (fusion && fusion !== "default") body.fusion = fusion;
  return body;
}

async function ask(event) {
  if (event) event.preventDefault();
  if (state.askController) return; // one question at a time
  setError("ask-error", "");
  const body = askBody();
  const name = currentCollection();
  if (!body.question) {
    setError("ask-error", "Write a question first.");
    $("question").focus();
    return;
  }
  if (!name) {
    setError("ask-error", "Choose a collection first, or create one on the Collections view.");
    return;
  }
  clearAnswer();
  $("answer-block").hidden = false;
  const answer = $("answer");
  answer.setAttribute("aria-busy", "true");
  answer.classList.add("streaming");
  const controller = new AbortController();
  state.askController = controller;
  $("ask").disabled = true;
  $("ask-stop").hidden = false;
  let streamed = "";
  let final = null;
  try {
    const res = await api(`/v1/collections/${enc(name)}/query`, { method: "POST", json: body, raw: true, signal: controller.signal });
    if ((res.headers.get("content-type") || "").includes("application/json")) {
      final = await res.json(); // a server that does not stream: the whole answer at once
    } else {
      await readEvents(res, (event, data) => {
        if (event === "token") {
          streamed += data.text || "";
          answer.textContent = streamed;
        } else if (event === "tool_calls") {
          renderToolCalls(data.tool_calls || []);
        } else if (event === "done") {
          final = data;
        } else if (event === "error") {
          const e = data.error || {};
          throw new ApiError(e.message || "The answer failed.", e.detail && e.detail.status, e.code, e.detail);
        }
      });
    }
    if (final) {
      state.lastAsk = { collection: name, response: final };
      renderAnswer(final, name);
    } else {
      setError("ask-error", "The answer stream ended before the answer was complete; ask again.");
    }
  } catch (err) {
    if (err.name === "AbortError") setError("ask-error", "Stopped: the question was cancelled.");
    else setError("ask-error", err.message);
    if (!final && !streamed) $("answer-block").hidden = true;
  } finally {
    answer.removeAttribute("aria-busy");
    answer.classList.remove("streaming");
    state.askController = null;
    $("ask").disabled = false;
    $("ask-stop").hidden = true;
  }
}

/** The answer's text with each [n] as a link to its citation card. */
function answerNodes(text) {
  const nodes = [];
  const re = /\[(\d+)\]/g;
  let last = 0;
  let m;
  while ((m = re.exec(text)) !== null) {
    if (m.index > last) nodes.push(document.createTextNode(text.slice(last, m.index)));
    nodes.push(el("a", { class: "marker", href: `#citation-${m[1]}`, "aria-label": `citation ${m[1]}`, text: `[${m[1]}]`, dataset: { n: m[1] } }));
    last = re.lastIndex;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

function renderAnswer(r, collection) {
  const answer = $("answer");
  answer.replaceChildren(...answerNodes(r.answer || ""));
  if (r.abstained) {
    const why = ABSTAIN_REASONS[r.abstain_reason] || r.abstain_reason || "no supported answer was found";
    const abstained = $("abstained");
    abstained.textContent = `No answer: ${why}.${(r.passages || []).length ? " The closest passages are listed below." : ""}`;
    abstained.hidden = false;
    answer.classList.add("is-abstained");
  }
  const meta = [`mode ${r.mode}`, `context ${r.context}`];
  if (typeof r.relevance === "number") meta.push(`relevance ${fmt(r.relevance)}`);
  if (r.span) meta.push(`${r.abstained ? "closest span" : "span"} confidence ${fmt(r.span.confidence, 2)}`);
  const seconds = Object.values(r.timings || {}).reduce((a, b) => a + b, 0);
  if (seconds) meta.push(`${seconds.toFixed(2)} s`);
  $("answer-meta").textContent = meta.join(" · ");

  renderQuote(r);
  renderSentences(r.sentences || []);
  renderCitations(r, collection);
  renderToolCalls(r.tool_calls || []);
  if (r.abstained) renderClosest(r.passages || [], collection);
}

/** Mode "reader": the sentence that holds the span, the span marked, and where it is, under the answer. */
function renderQuote(r) {
  const c = r.span && !r.abstained ? (r.citations || []).find((x) => x.how === "reader" && typeof x.quote === "string") : null;
  $("answer-quote").hidden = !c;
  if (!c) return;
  const q = c.quote;
  const s = Math.max(0, Math.min(c.quote_span_start, q.length));
  const e = Math.max(s, Math.min(c.quote_span_end, q.length));
  const flat = (t) => t.replace(/\s+/g, " "); // the source's line breaks inside a sentence read as spaces
  $("answer-quote-text").replaceChildren(
    flat(q.slice(0, s)).trimStart(),
    el("mark", { class: "answer-span", text: flat(q.slice(s, e)) }),
    flat(q.slice(e)).trimEnd(),
  );
  const where = c.span_start === null || c.span_start === undefined
    ? `characters ${c.char_start}–${c.char_end}`
    : `characters ${c.span_start}–${c.span_end}`;
  const page = c.page === null || c.page === undefined ? "" : `, page ${c.page}`;
  $("answer-quote-source").replaceChildren(
    "— ",
    el("span", { class: "quote-file", text: c.filename }),
    `${page}, ${where} `,
    el("a", { class: "cite-link", href: `#citation-${c.number}`, text: `[${c.number}]` }),
  );
}

function citeLinks(numbers) {
  return numbers.flatMap((n, i) => [i ? " " : "", el("a", { class: "cite-link", href: `#citation-${n}`, text: `[${n}]` })]);
}

function supportMark(supported) {
  return el("span", { class: `mark-word ${supported ? "ok" : "not-ok"}`, text: supported ? "✓ supported" : "✗ not supported" });
}

function renderSentences(sentences) {
  $("sentences-block").hidden = sentences.length === 0;
  $("sentences").replaceChildren(
    ...sentences.map((s) =>
      el(
        "li",
        { class: `sentence ${s.supported ? "supported" : "unsupported"}`, dataset: { supported: String(s.supported) } },
        supportMark(s.supported),
        " ",
        el("span", { class: "sentence-text", text: s.text }),
        el(
          "span",
          { class: "sentence-facts muted small" },
          ` score ${fmt(s.score)}, quote ${fmt(s.quote, 2)}`,
          s.passage ? `, best passage [${s.passage}]` : "",
          s.cited && s.cited.length ? ", cites " : "",
          citeLinks(s.cited || []),
          s.how && s.how !== "marker" ? ` (${HOW_WORDS[s.how] || s.how})` : "",
        ),
      ),
    ),
  );
}

/** The passage's text with the cited document range [start, end) marked (the reader's span, where it has one). */
function passageWithMark(citation, passage, span) {
  if (span && passage && span.passage === citation.number && passage.chunk_id !== -1) {
    const text = passage.text;
    const s = Math.max(0, Math.min(span.start, text.length));
    const e = Math.max(s, Math.min(span.end, text.length));
    if (e > s) return [text.slice(0, s), el("mark", { text: text.slice(s, e) }), text.slice(e)];
  }
  if (!passage || passage.chunk_id === -1) {
    // no passage, or a tool result (its text is not the document's): the citation's text, all of it cited
    const text = passage ? passage.text : citation.text;
    return [el("mark", { text })];
  }
  const text = passage.text;
  const whole = citation.char_start <= passage.char_start && citation.char_end >= passage.char_end;
  let s = Math.max(citation.char_start, passage.char_start) - passage.char_start;
  let e = Math.min(citation.char_end, passage.char_end) - passage.char_start;
  s = Math.max(0, Math.min(s, text.length));
  e = Math.max(0, Math.min(e, text.length));
  if (whole || e <= s) return [el("mark", { text })];
  return [text.slice(0, s), el("mark", { text: text.slice(s, e) }), text.slice(e)];
}

/** The document range a citation opens at: the cited characters inside its passage (the whole citation if none). */
function citedRange(c, passage) {
  const span = passage && passage.chunk_id !== -1
    ? [Math.max(c.char_start, passage.char_start), Math.min(c.char_end, passage.char_end)]
    : [c.char_start, c.char_end];
  return span[1] > span[0] ? span : [c.char_start, c.char_end];
}

function renderCitations(r, collection) {
  const citations = r.citations || [];
  const passages = new Map((r.passages || []).map((p) => [p.number, p]));
  const sentences = r.sentences || [];
  $("citations-block").hidden = citations.length === 0;
  $("citations").replaceChildren(
    ...citations.map((c) => {
      const passage = passages.get(c.number);
      const readerSpan = typeof c.span_start === "number" && typeof c.span_end === "number" && c.span_end > c.span_start;
      const span = readerSpan ? [c.span_start, c.span_end] : citedRange(c, passage);
      const citing = sentences.filter((s) => (s.cited || []).includes(c.number));
      const isTool = passage && passage.chunk_id === -1;
      const hasDocument = c.document_id >= 0;
      return el(
        "li",
        { class: "card citation", id: `citation-${c.number}`, tabindex: "-1", dataset: { number: c.number, documentId: c.document_id } },
        el(
          "div",
          { class: "citation-head" },
          el("span", { class: "number", text: `[${c.number}]` }),
          " ",
          el("span", { class: "doc-name", text: c.filename }),
          el("span", { class: "page", text: c.page === null || c.page === undefined ? "" : `page ${c.page}` }),
          isTool ? el("span", { class: "tag", text: "tool result" }) : null,
        ),
        el("blockquote", { class: "passage" }, passageWithMark(c, passage, c.how === "reader" ? r.span : null)),
        el(
          "p",
          { class: "citation-facts muted small" },
          "score ",
          el("span", { class: "score", text: fmt(c.score) }),
          " · ",
          el("span", { class: "how", text: c.how }),
          HOW_WORDS[c.how] ? ` (${HOW_WORDS[c.how]})` : "",
          ` · characters ${c.char_start}–${c.char_end}`,
          readerSpan ? `, span ${c.span_start}–${c.span_end}` : "",
        ),
        citing.length
          ? el(
              "ul",
              { class: "card-sentences" },
              citing.map((s) => el("li", { class: `card-sentence ${s.supported ? "ok" : "not-ok"}` }, supportMark(s.supported), " ", s.text)),
            )
          : null,
        el(
          "div",
          { class: "buttons" },
          el("button", {
            type: "button",
            class: "open-doc secondary",
            disabled: !hasDocument,
            "aria-label": `Open ${c.filename} at the cited passage`,
            text: "Open in document",
            onclick: (e) => openDocument(collection, c.document_id, span, e.currentTarget),
          }),
        ),
      );
    }),
  );
}

function renderToolCalls(calls) {
  $("tool-calls-block").hidden = calls.length === 0;
  $("tool-calls").replaceChildren(
    ...calls.map((t) =>
      el(
        "li",
        { class: `tool-call${t.error ? " failed" : ""}`, dataset: { name: t.name } },
        el("code", { class: "tool-name", text: t.name }),
        el("code", { class: "tool-arguments", text: `(${JSON.stringify(t.arguments || {})})` }),
        t.error
          ? el("p", { class: "tool-error error-text", text: `Error: ${t.error}` })
          : el("div", {}, el("span", { class: "muted small", text: "Result" }), el("pre", { class: "tool-result", text: t.result ?? "" })),
      ),
    ),
  );
}

function renderClosest(passages, collection) {
  $("closest-block").hidden = passages.length === 0;
  $("closest").replaceChildren(
    ...passages.map((p) =>
      el(
        "li",
        { class: "card closest-passage", dataset: { number: p.number } },
        el("div", { class: "citation-head" }, el("span", { class: "number", text: `[${p.number}]` }), " ",
          el("span", { class: "closest-name", text: p.filename }),
          el("span", { class: "closest-page", text: p.page === null || p.page === undefined ? "" : `page ${p.page}` })),
        el("blockquote", { class: "closest-text", text: p.text }),
        el("p", { class: "muted small", text: `score ${fmt(p.score)}` }),
        el("div", { class: "buttons" }, el("button", {
          type: "button",
          class: "closest-open secondary",
          disabled: p.document_id < 0,
          "aria-label": `Open ${p.filename} at this passage`,
          text: "Open in document",
          onclick: (e) => openDocument(collection, p.document_id, [p.char_start, p.char_end], e.currentTarget),
        })),
      ),
    ),
  );
}

// ---------------------------------------------------------------------------
// The document view: the text with the cited span marked and scrolled into view

async function openDocument(collection, documentId, span, opener) {
  const view = $("document-view");
  const pre = $("document-text");
  state.docOpener = opener || null;
  setError("document-error", "");
  $("document-title").textContent = "Loading…";
  $("document-meta").textContent = "";
  pre.replaceChildren();
  view.hidden = false;
  document.querySelector("main").classList.add("with-document");
  $("document-close").focus({ preventScroll: true });
  let doc;
  try {
    doc = await api(`/v1/collections/${enc(collection)}/documents/${documentId}?text=true`);
  } catch (err) {
    $("document-title").textContent = "Document";
    setError("document-error", err.message);
    view.scrollIntoView({ block: "nearest" });
    return;
  }
  $("document-title").textContent = doc.filename;
  const pages = doc.n_pages ? `, ${plural(doc.n_pages, "page")}` : "";
  $("document-meta").textContent = `${collection} · document ${doc.id} · ${plural(doc.n_chunks, "chunk")}${pages}`
    + (span ? ` · cited characters ${span[0]}–${span[1]}` : "");
  const text = typeof doc.text === "string" ? doc.text : (doc.chunks || []).map((c) => c.text).join("\n\n");
  if (span) {
    const s = Math.max(0, Math.min(span[0], text.length));
    const e = Math.max(s, Math.min(span[1], text.length));
    const mark = el("mark", { id: "span", text: text.slice(s, e) });
    pre.replaceChildren(text.slice(0, s), mark, text.slice(e));
    pre.scrollTop = 0;
    mark.scrollIntoView({ block: "center" });
  } else {
    pre.textContent = text;
    pre.scrollTop = 0;
    view.scrollIntoView({ block: "nearest" });
  }
}

function closeDocument() {
  $("document-view").hidden = true;
  document.querySelector("main").classList.remove("with-document");
  $("document-text").replaceChildren();
  const opener = state.docOpener;
  state.docOpener = null;
  if (opener && opener.isConnected && !opener.closest("[hidden]")) opener.focus();
}

// ---------------------------------------------------------------------------
// Documents: list (a page at a time), open, delete

async function loadDocuments() {
  const name = currentCollection();
  setError("documents-error", "");
  const list = $("documents");
  if (!name) {
    list.replaceChildren();
    $("documents-summary").textContent = "No collection chosen.";
    $("documents-prev").disabled = $("documents-next").disabled = true;
    return;
  }
  let page;
  try {
    page = await api(`/v1/collections/${enc(name)}/documents?offset=${state.documentsOffset}&limit=${DOCUMENTS_PAGE}`);
  } catch (err) {
    setError("documents-error", err.message);
    return;
  }
  if (name !== currentCollection()) return; // the choice changed while this loaded
  if (page.documents.length === 0 && state.documentsOffset > 0 && page.total > 0) {
    state.documentsOffset = Math.max(0, state.documentsOffset - DOCUMENTS_PAGE);
    return loadDocuments();
  }
  renderDocuments(name, page);
}

function renderDocuments(collection, page) {
  const docs = page.documents;
  const first = page.offset + 1;
  $("documents-summary").textContent = page.total
    ? `${collection}: documents ${first}–${page.offset + docs.length} of ${page.total}`
    : `${collection} has no documents yet: add some on the Upload view.`;
  $("documents-prev").disabled = page.offset === 0;
  $("documents-next").disabled = page.offset + docs.length >= page.total;
  $("documents-pager").hidden = page.offset === 0 && page.offset + docs.length >= page.total;
  $("documents").replaceChildren(
    ...docs.map((d) =>
      el(
        "li",
        { class: "document", dataset: { documentId: d.id } },
        el("span", { class: "filename", text: d.filename }),
        el("span", { class: "chunks muted", text: plural(d.n_chunks, "chunk") }),
        el("span", { class: "size muted small", text: bytes(d.size_bytes) }),
        el(
          "span",
          { class: "buttons" },
          el("button", {
            type: "button",
            class: "open secondary",
            "aria-label": `Open ${d.filename}`,
            text: "Open",
            onclick: (e) => openDocument(collection, d.id, null, e.currentTarget),
          }),
          el("button", {
            type: "button",
            class: "delete danger",
            "aria-label": `Delete ${d.filename}`,
            text: "Delete",
            onclick: (e) => deleteDocument(collection, d, e.currentTarget.closest("li")),
          }),
        ),
      ),
    ),
  );
}

async function deleteDocument(collection, doc, item) {
  if (!window.confirm(`Delete ${doc.filename}? It is removed from the collection and its search indexes at once; this cannot be undone.`)) return;
  setError("documents-error", "");
  try {
    await api(`/v1/collections/${enc(collection)}/documents/${doc.id}`, { method: "DELETE" });
  } catch (err) {
    setError("documents-error", `${doc.filename}: ${err.message}`);
    return;
  }
  const next = item.nextElementSibling || item.previousElementSibling;
  item.remove();
  const focusTarget = next ? next.querySelector("button.delete") : $("documents-summary");
  if (focusTarget && focusTarget.tagName === "BUTTON") focusTarget.focus();
  $("documents-summary").textContent = `Deleted ${doc.filename}.`;
  loadCollections();
}

// ---------------------------------------------------------------------------
// Benchmarks: start a small run, poll, show the plot and the table

const BENCH_REQUEST = { dataset: "glove50-10k", specs: ["Flat", "HNSW32"], baselines: ["hnswlib"], smoke: true };

async function startBenchmark() {
  setError("bench-error", "");
  const button = $("bench-start");
  button.disabled = true;
  let started;
  try {
    started = await api("/v1/benchmarks", { method: "POST", json: BENCH_REQUEST });
  } catch (err) {
    setError("bench-error", err.message);
    button.disabled = false;
    return;
  }
  showBenchmarkPlot(null);
  renderBenchmarkRows([]);
  $("bench-method").hidden = true;
  pollBenchmark(started.id);
}

async function pollBenchmark(id, failures = 0) {
  clearTimeout(state.benchTimer);
  let run;
  try {
    run = await api(`/v1/benchmarks/${id}`);
  } catch (err) {
    if (failures < 3 && err.status !== 404 && err.status !== 401 && err.status !== 403) {
      state.benchTimer = setTimeout(() => pollBenchmark(id, failures + 1), 2000);
    } else {
      setError("bench-error", err.message);
      $("bench-start").disabled = false;
    }
    return;
  }
  renderBenchmark(run);
  if (run.status === "running" || run.status === "queued") {
    state.benchTimer = setTimeout(() => pollBenchmark(id), 1000);
    return;
  }
  $("bench-start").disabled = false;
  if (run.status === "done") {
    try {
      const res = await api(`/v1/benchmarks/${id}/plot.png`, { raw: true });
      showBenchmarkPlot(URL.createObjectURL(await res.blob()));
    } catch (err) {
      setError("bench-error", `The plot: ${err.message}`);
    }
  }
}

function renderBenchmark(run) {
  const status = $("bench-status");
  status.dataset.status = run.status;
  const rows = run.results || [];
  if (run.status === "failed") status.textContent = `Run ${run.id}: failed: ${run.error || "no reason given"}`;
  else if (run.status === "done") {
    const s = run.summary || {};
    status.textContent = `Run ${run.id}: done: ${s.dataset || run.request.dataset}, ${s.n ?? "?"} vectors, ${s.queries ?? "?"} queries, ${plural(rows.length, "result")}.`;
  } else status.textContent = `Run ${run.id}: running… ${plural(rows.length, "result")} so far.`;
  $("bench-start").disabled = run.status === "running" || run.status === "queued";
  // how the points were timed (runs from before the summary said so have no such sentence)
  const method = $("bench-method");
  method.textContent = (run.summary && run.summary.measured) || "";
  method.hidden = !method.textContent;
  renderBenchmarkRows(rows);
}

function renderBenchmarkRows(rows) {
  $("bench-table-wrap").hidden = rows.length === 0;
  $("bench-table").tBodies[0].replaceChildren(
    ...rows.map((r) =>
      el(
        "tr",
        { dataset: { index: r.index } },
        el("th", { scope: "row", text: r.index }),
        el("td", {}, r.param ? [`${r.param}=`, el("wbr"), String(r.value)] : "–"),
        el("td", { text: r.mode || "" }),
        el("td", { class: "num recall", text: fmt(r["recall@10"]) }),
        el("td", { class: "num qps", text: typeof r.qps === "number" ? Math.round(r.qps).toLocaleString("en") : "–" }),
        el("td", { class: "num build", text: fmt(r.build_s, 2) }),
      ),
    ),
  );
}

function showBenchmarkPlot(url) {
  const img = $("bench-plot");
  if (state.benchPlotUrl) URL.revokeObjectURL(state.benchPlotUrl);
  state.benchPlotUrl = url;
  if (url) {
    img.src = url;
    img.hidden = false;
  } else {
    img.removeAttribute("src");
    img.hidden = true;
  }
}

/** On the first visit to the view: show the latest run (and follow it if it still runs). Quiet on errors. */
async function resumeBenchmark() {
  if (state.benchChecked) return;
  state.benchChecked = true;
  try {
    const { jobs } = await api("/v1/jobs?kind=benchmark&limit=1", { quiet: true });
    if (jobs.length && !state.benchTimer && !$("bench-status").textContent) pollBenchmark(jobs[0].id);
  } catch (_) {
    state.benchChecked = false; // e.g. no key yet: try again on the next visit
  }
}

// ---------------------------------------------------------------------------
// Wiring

function init() {
  for (const button of document.querySelectorAll("nav [data-view]")) {
    button.addEventListener("click", () => showView(button.dataset.view));
  }
  $("collection-select").addEventListener("change", onCollectionChange);
  $("collection-form").addEventListener("submit", createCollection);
  $("open-collection-form").addEventListener("submit", openCollectionByName);
  setUpDropzone();
  $("ask-form").addEventListener("submit", ask);
  $("question").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      ask();
    }
  });
  $("ask-stop").addEventListener("click", () => state.askController && state.askController.abort());
  $("answer").addEventListener("click", (e) => {
    const link = e.target.closest("a.marker");
    if (link) focusCitation(e, link.dataset.n);
  });
  $("sentences").addEventListener("click", (e) => {
    const link = e.target.closest("a.cite-link");
    if (link) focusCitation(e, link.getAttribute("href").slice("#citation-".length));
  });
  $("document-close").addEventListener("click", closeDocument);
  $("document-view").addEventListener("keydown", (e) => {
    if (e.key === "Escape") closeDocument();
  });
  $("documents-prev").addEventListener("click", () => {
    state.documentsOffset = Math.max(0, state.documentsOffset - DOCUMENTS_PAGE);
    loadDocuments();
  });
  $("documents-next").addEventListener("click", () => {
    state.documentsOffset += DOCUMENTS_PAGE;
    loadDocuments();
  });
  $("bench-start").addEventListener("click", startBenchmark);
  $("key-open").addEventListener("click", () => openKeyDialog(""));
  $("key-form").addEventListener("submit", saveKey);
  $("key-cancel").addEventListener("click", () => $("key-dialog").close());
  $("key-forget").addEventListener("click", forgetKey);
  updateKeyButton();
  showView("collections");
}

/** A marker click: scroll to the card and move the focus there (keeps the URL free of the hash). */
function focusCitation(event, n) {
  const card = $(`citation-${n}`);
  if (!card) return;
  event.preventDefault();
  for (const c of document.querySelectorAll(".citation.targeted")) c.classList.remove("targeted");
  card.classList.add("targeted");
  card.scrollIntoView({ block: "nearest" });
  card.focus({ preventScroll: true });
}

document.addEventListener("DOMContentLoaded", init);
