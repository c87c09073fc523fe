// Documents: the list of the chosen collection (a page at a time), open, delete.

import { api } from "./api.js";
import { $, bytes, el, enc, focusOn, plural, setError } from "./dom.js";
import { openDocument } from "./docview.js";
import { DOCUMENTS_PAGE, currentCollection, state } from "./state.js";

let afterDelete = () => {};

/** What a delete does next besides the list (main.js: reload the collections and their counts). */
export function onDocumentDeleted(handler) {
  afterDelete = handler;
}

export async function loadDocuments() {
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

function summary(collection, page) {
  const shown = page.documents.length;
  return page.total
    ? `${collection}: documents ${page.offset + 1}–${page.offset + shown} of ${page.total}`
    : `${collection} has no documents yet: add some on the Upload view.`;
}

function renderDocuments(collection, page) {
  const docs = page.documents;
  state.documentsTotal = page.total;
  $("documents-summary").textContent = summary(collection, page);
  $("documents-prev").disabled = page.offset === 0;
  $("documents-next").disabled = page.offset + docs.length >= page.total;
  $("documents-pager").hidden = page.offset === 0 && page.offset + docs.length >= page.total;
  $("documents").replaceChildren(...docs.map((d) => documentItem(collection, d)));
}

function documentItem(collection, d) {
  return el(
    "li",
    { class: "document", dataset: { documentId: d.id } },
    el("span", { class: "filename", text: d.filename }),
    el("span", { class: "chunks muted", text: plural(d.n_chunks, "chunk") }),
    el("span", { class: "size muted small", text: bytes(d.size_bytes) }),
    d.parent_id === null || d.parent_id === undefined
      ? null
      : el("span", { class: "parent muted small", text: `attached to document ${d.parent_id}` }),
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
  );
}

/** Delete at once; then say what is left and put the focus on the list's heading (never on the next Delete). */
async function deleteDocument(collection, doc, item) {
  if (!window.confirm(`Delete ${doc.filename}? It is removed from the collection and its search indexes at once, with its attachments if it is a message; this cannot be undone.`)) return;
  setError("documents-error", "");
  let deleted;
  try {
    deleted = await api(`/v1/collections/${enc(collection)}/documents/${doc.id}`, { method: "DELETE" });
  } catch (err) {
    setError("documents-error", `${doc.filename}: ${err.message}`);
    return;
  }
  const attached = deleted.deleted_attachments || [];
  item.remove();
  for (const id of attached) document.querySelector(`li.document[data-document-id="${id}"]`)?.remove();
  state.documentsTotal = Math.max(0, (state.documentsTotal ?? 1) - 1 - attached.length);
  const left = state.documentsTotal;
  const also = attached.length ? ` and its ${plural(attached.length, "attachment")}` : "";
  $("documents-summary").textContent = `Deleted ${doc.filename}${also}. ${collection} has ${plural(left, "document")} now.`;
  focusOn($("h-documents"));
  afterDelete();
}

export function setUpDocuments() {
  $("documents-prev").addEventListener("click", () => {
    state.documentsOffset = Math.max(0, state.documentsOffset - DOCUMENTS_PAGE);
    loadDocuments();
  });
  $("documents-next").addEventListener("click", () => {
    state.documentsOffset += DOCUMENTS_PAGE;
    loadDocuments();
  });
}
