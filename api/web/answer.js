// The answer box: each sentence as written, supported ones with their citation, unsupported ones flagged
// (dimmed, a warning sign, the reason in plain words); mode "reader": the span first, highlighted, and the
// sentence of the document that holds it. Built from DOM nodes: `code` and **bold** are the only formatting.

import { $, el, fmt, inline, whereText } from "./dom.js";
import { sentenceWhy } from "./meta.js";

/** ``text`` with each [n] as a link to its citation card, the rest formatted inline. */
export function markedText(text) {
  const nodes = [];
  const re = /\[(\d+)\]/g;
  let last = 0;
  let m;
  while ((m = re.exec(text)) !== null) {
    if (m.index > last) nodes.push(...inline(text.slice(last, m.index)));
    nodes.push(el("a", { class: "marker", href: `#citation-${m[1]}`, "aria-label": `citation ${m[1]}`, text: `[${m[1]}]`, dataset: { n: m[1] } }));
    last = re.lastIndex;
  }
  if (last < text.length) nodes.push(...inline(text.slice(last)));
  return nodes;
}

/** One sentence of the answer: as written when supported; dimmed, with ⚠ and why, when not. */
function sentenceNode(s, written, isSpan) {
  if (s.supported) {
    return el("span", { class: `sentence supported${isSpan ? " reader-span" : ""}`, dataset: { supported: "true" } }, markedText(written));
  }
  const why = `Not supported by the passages: ${sentenceWhy(s.reason)}. Check it before you rely on it.`;
  return el(
    "span",
    { class: "sentence unsupported", dataset: { supported: "false" }, title: why },
    markedText(written),
    el("span", { class: "warn", "aria-hidden": "true", text: " ⚠" }),
    el("span", { class: "visually-hidden", text: ` (${why})` }),
  );
}

/** The answer's text, sentence by sentence (the text between sentences, line breaks included, kept as is). */
function answerNodes(r) {
  const text = r.answer || "";
  const sentences = (r.sentences || []).filter((s) => s.end <= text.length && s.start >= 0);
  if (!sentences.length || r.abstained) return markedText(text);
  const nodes = [];
  let at = 0;
  for (const s of sentences) {
    if (s.start < at) continue;
    if (s.start > at) nodes.push(text.slice(at, s.start));
    nodes.push(sentenceNode(s, text.slice(s.start, s.end), r.span && s.how === "reader"));
    at = s.end;
  }
  if (at < text.length) nodes.push(text.slice(at));
  return nodes;
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
  const page = whereText(c) ? `, ${whereText(c)}` : "";
  $("answer-quote-source").replaceChildren(
    "— ",
    el("span", { class: "quote-file", text: c.filename }),
    `${page}, ${where} `,
    el("a", { class: "cite-link", href: `#citation-${c.number}`, text: `[${c.number}]` }),
  );
}

/** Details (collapsed): each sentence's support numbers, for whoever wants to see how it was checked. */
function renderSentenceDetails(sentences) {
  $("answer-details").hidden = sentences.length === 0;
  $("sentences").replaceChildren(
    ...sentences.map((s) =>
      el(
        "li",
        { class: `sentence ${s.supported ? "supported" : "unsupported"}`, dataset: { supported: String(s.supported) } },
        el("span", { class: `mark-word ${s.supported ? "ok" : "not-ok"}`, text: s.supported ? "✓ supported" : "⚠ not supported" }),
        " ",
        el("span", { class: "sentence-text", text: s.text }),
        el(
          "span",
          { class: "sentence-facts muted small" },
          ` support score ${fmt(s.score)}, words quoted ${fmt(s.quote, 2)}`,
          s.passage ? `, best passage [${s.passage}]` : "",
          s.supported ? "" : `: ${sentenceWhy(s.reason)}`,
        ),
      ),
    ),
  );
}

export function renderAnswer(r) {
  const answer = $("answer");
  answer.replaceChildren(...answerNodes(r));
  // an abstention is the server's one sentence (it says why); the closest passages follow under "These may help"
  answer.classList.toggle("is-abstained", Boolean(r.abstained));
  answer.dataset.abstained = r.abstained ? r.abstain_reason || "yes" : "";
  const flagged = (r.sentences || []).filter((s) => !s.supported).length;
  const meta = [];
  if (!r.abstained && flagged) meta.push(`⚠ marks ${flagged === 1 ? "a sentence" : `${flagged} sentences`} no passage supports`);
  meta.push(`mode ${r.mode}`);
  if (r.span) meta.push(`${r.abstained ? "closest span" : "span"} confidence ${fmt(r.span.confidence, 2)}`);
  const seconds = Object.values(r.timings || {}).reduce((a, b) => a + b, 0);
  if (seconds) meta.push(`${seconds.toFixed(1)} s`);
  $("answer-meta").textContent = meta.join(" · ");
  renderQuote(r);
  renderSentenceDetails(r.abstained ? [] : r.sentences || []);
}
