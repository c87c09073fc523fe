// Markdown and documents as HTML: rendered and sanitised on the server (POST /v1/render, a document's /html).
// This module is the only one that sets innerHTML, and only with HTML those two endpoints sent.

import { api, ApiError } from "./api.js";
import { enc } from "./dom.js";

/** ``node`` shows ``html``, which came back from /v1/render or a document's /html (sanitised there). */
export function setServerHtml(node, html) {
  node.innerHTML = html; // server-sanitised (api/render.py, nh3): the one innerHTML of the page
}

/**
 * Render ``markdown`` into ``node``; ``marks`` are [start, end] character ranges of the text to highlight
 * (each becomes one or more <mark class="cite">). Until the answer comes, the node shows the text as text.
 */
export async function renderInto(node, markdown, marks = []) {
  node.textContent = markdown;
  node.classList.add("rendered");
  try {
    const { html } = await api("/v1/render", { method: "POST", json: { markdown, marks } });
    setServerHtml(node, html);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    node.dataset.renderError = err.message; // the text stays, as text
  }
}

/** A document as HTML, with the characters [start, end) of its parsed text marked when a range is given. */
export async function documentHtml(collection, documentId, range) {
  const query = range ? `?start=${range[0]}&end=${range[1]}` : "";
  return api(`/v1/collections/${enc(collection)}/documents/${documentId}/html${query}`);
}
