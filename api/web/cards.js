// The cards under an answer: citations (the cited range marked in the rendered passage), tool calls,
// and, when the answer abstains, the closest passages ("These may help").

import { $, el, fmt, ocrText, whereText } from "./dom.js";
import { openCitation, openDocument, setCitationTrail } from "./docview.js";
import { howWords } from "./meta.js";
import { renderInto } from "./render.js";

/** The cited characters of ``passage``'s text [start, end): the reader's span, else the citation's range in it. */
function markRange(citation, passage, span) {
  if (!passage || passage.chunk_id === -1) return null; // a tool result: all of it is cited
  const clamp = (x) => Math.max(0, Math.min(x, passage.text.length));
  if (span && span.passage === citation.number) return [clamp(span.start), clamp(span.end)];
  const s = clamp(Math.max(citation.char_start, passage.char_start) - passage.char_start);
  const e = clamp(Math.min(citation.char_end, passage.char_end) - passage.char_start);
  return e > s ? [s, e] : null;
}

/** The document range a citation opens at: the reader's span, else the cited characters inside its passage. */
export function citedRange(c, passage) {
  if (typeof c.span_start === "number" && typeof c.span_end === "number" && c.span_end > c.span_start) {
    return [c.span_start, c.span_end];
  }
  const span = passage && passage.chunk_id !== -1
    ? [Math.max(c.char_start, passage.char_start), Math.min(c.char_end, passage.char_end)]
    : [c.char_start, c.char_end];
  return span[1] > span[0] ? span : [c.char_start, c.char_end];
}

function passageBody(c, passage, span) {
  const body = el("div", { class: "passage" });
  const text = passage ? passage.text : c.text;
  const range = markRange(c, passage, span);
  renderInto(body, text, [range || [0, text.length]]);
  return body;
}

function citationCard(c, passage, span, trailIndex) {
  const isTool = passage && passage.chunk_id === -1;
  return el(
    "li",
    { class: "card citation", id: `citation-${c.number}`, tabindex: "-1", dataset: { number: c.number, documentId: c.document_id, how: c.how } },
    el(
      "div",
      { class: "citation-head" },
      el("span", { class: "number", text: `[${c.number}]` }),
      " ",
      el("span", { class: "doc-name", text: c.filename }),
      el("span", { class: "page", text: whereText(c) }),
      isTool ? el("span", { class: "tag", text: "tool result" }) : null,
      ocrText(c) ? el("span", { class: "tag ocr", text: ocrText(c) }) : null,
    ),
    passageBody(c, passage, span),
    el(
      "p",
      { class: "citation-facts muted small" },
      el("span", { class: "how-words", text: howWords(c.how) }),
      " · match score ",
      el("span", { class: "score", text: fmt(c.score) }),
    ),
    el(
      "div",
      { class: "buttons" },
      el("button", {
        type: "button",
        class: "open-doc secondary",
        disabled: trailIndex < 0,
        "aria-label": `Open ${c.filename} at the cited passage`,
        text: "Open in document",
        onclick: (e) => openCitation(trailIndex, e.currentTarget),
      }),
    ),
  );
}

export function renderCitations(r, collection) {
  const citations = r.citations || [];
  const passages = new Map((r.passages || []).map((p) => [p.number, p]));
  const openable = citations.filter((c) => c.document_id >= 0);
  setCitationTrail(openable.map((c) => ({ collection, documentId: c.document_id, range: citedRange(c, passages.get(c.number)), label: `citation [${c.number}]` })));
  $("citations-block").hidden = citations.length === 0;
  $("citations").replaceChildren(
    ...citations.map((c) => citationCard(c, passages.get(c.number), c.how === "reader" ? r.span : null, openable.indexOf(c))),
  );
}

export function renderToolCalls(calls) {
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

/** An abstention: the passages that came closest, under "These may help". */
export function renderClosest(passages, collection) {
  $("closest-block").hidden = passages.length === 0;
  $("closest").replaceChildren(
    ...passages.map((p) => {
      const body = el("div", { class: "closest-text" });
      renderInto(body, p.text);
      return el(
        "li",
        { class: "card closest-passage", dataset: { number: p.number } },
        el(
          "div",
          { class: "citation-head" },
          el("span", { class: "closest-name", text: p.filename }),
          el("span", { class: "closest-page", text: whereText(p) }),
          ocrText(p) ? el("span", { class: "tag ocr", text: ocrText(p) }) : null,
        ),
        body,
        el("div", { class: "buttons" }, el("button", {
          type: "button",
          class: "closest-open secondary",
          disabled: p.document_id < 0,
          "aria-label": `Open ${p.filename} at this passage`,
          text: "Open in document",
          onclick: (e) => openDocument(collection, p.document_id, [p.char_start, p.char_end], e.currentTarget),
        })),
      );
    }),
  );
}

