// Ask: the question box and its button in front, the options under "Advanced"; the stages of the answer
// as they start, then its text as it streams, then the checked answer, its citations and tool calls.

import { ApiError, api, readEvents } from "./api.js";
import { renderAnswer } from "./answer.js";
import { renderCitations, renderClosest, renderToolCalls } from "./cards.js";
import { $, el, enc, setError } from "./dom.js";
import { meta, modeWords } from "./meta.js";
import { currentCollection, state } from "./state.js";

/** The answer-mode select, from the server's modes (the first is its default), each in plain words. */
export function fillModes() {
  const select = $("opt-mode");
  const keep = select.value;
  select.replaceChildren(...meta.modes.map((m) => el("option", { value: m, text: `${m}: ${modeWords(m)}` })));
  if (meta.modes.includes(keep)) select.value = keep;
}

function clearAnswer() {
  for (const id of ["answer", "sentences", "citations", "tool-calls", "closest", "answer-quote-text", "answer-quote-source", "stages"]) {
    $(id).replaceChildren();
  }
  $("answer-quote").hidden = true;
  $("answer-meta").textContent = "";
  $("answer").classList.remove("is-abstained");
  for (const id of ["answer-details", "citations-block", "tool-calls-block", "closest-block"]) $(id).hidden = true;
}

function askBody() {
  const body = {
    question: $("question").value.trim(),
    hyde: $("opt-hyde").checked,
    rerank: $("opt-rerank").checked,
    tools: $("opt-tools").checked,
    mode: $("opt-mode").value || undefined,
    context: $("opt-context").value,
    stream: true,
  };
  const k = parseInt($("opt-k").value, 10);
  if (Number.isFinite(k)) body.k = k;
  const fusion = $("opt-fusion").value;
  if (fusion && fusion !== "default") body.fusion = fusion;
  return body;
}

/** A stage the server started ("searching 57 documents"): the one before it is done. */
function showStage(data) {
  const list = $("stages");
  for (const item of list.querySelectorAll("li.current")) item.classList.replace("current", "finished");
  list.append(el("li", { class: "stage current", dataset: { stage: data.stage }, text: data.message || data.stage }));
  list.hidden = false;
}

/** Read the streamed answer; resolves with the final response (null if the stream ended early). */
async function streamAnswer(res, answer) {
  let streamed = "";
  let final = null;
  await readEvents(res, (event, data) => {
    if (event === "stage") showStage(data);
    else if (event === "token") {
      streamed += data.text || "";
      answer.textContent = streamed;
    } else if (event === "tool_calls") renderToolCalls(data.tool_calls || []);
    else if (event === "done") final = data;
    else if (event === "error") {
      const e = data.error || {};
      throw new ApiError(e.message || "The answer failed.", e.detail && e.detail.status, e.code, e.detail);
    }
  });
  return { final, streamed };
}

function busy(on, controller) {
  state.askController = on ? controller : null;
  $("ask").disabled = on;
  $("ask-stop").hidden = !on;
  const answer = $("answer");
  answer.classList.toggle("streaming", on);
  if (on) answer.setAttribute("aria-busy", "true");
  else answer.removeAttribute("aria-busy");
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
  if (!name) return setError("ask-error", "Choose a collection first, or create one on the Collections view.");
  clearAnswer();
  $("answer-block").hidden = false;
  const controller = new AbortController();
  busy(true, controller);
  let got = { final: null, streamed: "" };
  try {
    const res = await api(`/v1/collections/${enc(name)}/query`, { method: "POST", json: body, raw: true, signal: controller.signal });
    if ((res.headers.get("content-type") || "").includes("application/json")) got.final = await res.json();
    else got = await streamAnswer(res, $("answer"));
    $("stages").hidden = true; // the wait is over: the answer says the rest
    if (!got.final) return setError("ask-error", "The answer stream ended before the answer was complete; ask again.");
    state.lastAsk = { collection: name, response: got.final };
    renderAnswer(got.final);
    renderCitations(got.final, name);
    renderToolCalls(got.final.tool_calls || []);
    if (got.final.abstained) renderClosest(got.final.passages || [], name);
  } catch (err) {
    if (err.name === "AbortError") setError("ask-error", "Stopped: the question was cancelled.");
    else setError("ask-error", err.message);
    if (!got.final && !$("answer").textContent) $("answer-block").hidden = true;
  } finally {
    busy(false);
  }
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

export function setUpAsk() {
  $("ask-form").addEventListener("submit", ask);
  $("question").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      ask();
    }
  });
  $("ask-stop").addEventListener("click", () => state.askController && state.askController.abort());
  for (const id of ["answer", "answer-quote-source"]) {
    $(id).addEventListener("click", (e) => {
      const link = e.target.closest("a.marker, a.cite-link");
      if (link) focusCitation(e, link.getAttribute("href").slice("#citation-".length));
    });
  }
}
