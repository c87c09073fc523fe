// The document view: the document rendered on the server, the cited range marked and scrolled into view
// inside the text (the view's header stays in sight), and buttons that step through the answer's citations.

import { api } from "./api.js";
import { $, el, enc, plural, setError } from "./dom.js";
import { documentHtml, setServerHtml } from "./render.js";
import { state } from "./state.js";

/**
 * The citations the previous/next buttons step through: [{collection, documentId, range, label}], set by
 * the answer; ``at`` is the one open (-1: a document opened from the list).
 */
const trail = { stops: [], at: -1 };

export function setCitationTrail(stops) {
  trail.stops = stops;
  trail.at = -1;
}

/** Open the citation at ``index`` of the trail (from its card, or the previous/next buttons). */
export function openCitation(index, opener) {
  const stop = trail.stops[index];
  if (!stop) return;
  trail.at = index;
  openDocument(stop.collection, stop.documentId, stop.range, opener, stop.label);
}

function showTrail() {
  const on = trail.at >= 0 && trail.stops.length > 1; // one citation: nothing to step to
  $("document-steps").hidden = !on;
  if (!on) return;
  $("document-step").textContent = `Citation ${trail.at + 1} of ${trail.stops.length}`;
  const [prev, next] = [$("document-prev"), $("document-next")];
  const had = document.activeElement;
  prev.disabled = trail.at === 0;
  next.disabled = trail.at === trail.stops.length - 1;
  // a step to the first or the last citation disables the button just pressed: the focus goes to the other
  if (had === next && next.disabled) prev.focus();
  if (had === prev && prev.disabled) next.focus();
}

/** ``node`` scrolled so that ``target`` sits in the middle of it, without scrolling the page. */
function scrollInside(node, target) {
  const top = target.getBoundingClientRect().top - node.getBoundingClientRect().top + node.scrollTop;
  node.scrollTop = Math.max(0, top - node.clientHeight / 3);
}

/** Open a document; ``range`` [start, end) of its parsed text is marked (null: none). */
export async function openDocument(collection, documentId, range, opener, label) {
  if (label === undefined) trail.at = -1; // from the document list: not a step of the trail
  const view = $("document-view");
  const body = $("document-text");
  state.docOpener = opener || state.docOpener;
  setError("document-error", "");
  $("document-title").textContent = "Loading…";
  $("document-meta").textContent = "";
  body.replaceChildren();
  view.hidden = false;
  showTrail();
  document.querySelector("main").classList.add("with-document");
  if (opener) $("document-close").focus({ preventScroll: true }); // a step keeps the focus on its button
  let doc;
  let rendered;
  try {
    [doc, rendered] = await Promise.all([
      api(`/v1/collections/${enc(collection)}/documents/${documentId}`),
      documentHtml(collection, documentId, range),
    ]);
  } catch (err) {
    $("document-title").textContent = "Document";
    setError("document-error", err.message);
    view.scrollIntoView({ block: "nearest" });
    return;
  }
  $("document-title").textContent = doc.filename;
  const pages = doc.n_pages ? `, ${plural(doc.n_pages, "page")}` : "";
  $("document-meta").replaceChildren(
    `${collection} · document ${doc.id} · ${plural(doc.n_chunks, "chunk")}${pages}`,
    range ? el("span", { class: "cited-range", text: ` · ${label ? `${label}: ` : ""}characters ${range[0]}–${range[1]}` }) : "",
  );
  setServerHtml(body, rendered.html);
  body.scrollTop = 0;
  view.scrollIntoView({ block: "nearest" });
  const mark = range ? body.querySelector("#mark-0") : null;
  if (mark) scrollInside(body, mark);
}

export function closeDocument() {
  $("document-view").hidden = true;
  document.querySelector("main").classList.remove("with-document");
  $("document-text").replaceChildren();
  trail.at = -1;
  const opener = state.docOpener;
  state.docOpener = null;
  if (opener && opener.isConnected && !opener.closest("[hidden]")) opener.focus();
}

export function setUpDocumentView() {
  $("document-close").addEventListener("click", closeDocument);
  $("document-view").addEventListener("keydown", (e) => {
    if (e.key === "Escape") closeDocument();
  });
  $("document-prev").addEventListener("click", () => openCitation(trail.at - 1));
  $("document-next").addEventListener("click", () => openCitation(trail.at + 1));
}
