// Collections: the list, the header's select, create (then point to Upload), open by name, delete.

import { api } from "./api.js";
import { $, el, enc, focusOn, plural, setError } from "./dom.js";
import { loadDocuments } from "./documents.js";
import { currentCollection, state } from "./state.js";
import { showView } from "./views.js";

export function showCurrentCollection() {
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

export async function loadCollections(prefer) {
  setError("collections-error", "");
  let list;
  try {
    list = (await api("/v1/collections")).collections;
  } catch (err) {
    setError("collections-error", err.message);
    if (err.status === 403) $("open-collection-form").hidden = false;
    return null;
  }
  renderCollections(list);
  const before = currentCollection();
  fillCollectionSelect(list.map((c) => c.name), prefer);
  if (currentCollection() !== before && state.view === "documents") loadDocuments();
  return list;
}

function fact(term, cls, value) {
  return el("div", {}, el("dt", { text: term }), el("dd", { class: cls, text: value }));
}

function collectionCard(c) {
  return el(
    "li",
    { class: "card collection", dataset: { collection: c.name, documents: c.documents, chunks: c.chunks } },
    el("h3", { class: "name", text: c.name }),
    el(
      "dl",
      { class: "facts" },
      fact("index", "index-spec", c.index_spec),
      fact("documents", "doc-count", String(c.documents)),
      fact("chunks", "chunk-count", String(c.chunks)),
      fact("model", "model", `${c.embed_model} (${c.dim} d)`),
    ),
    el(
      "div",
      { class: "buttons" },
      el("button", { type: "button", class: "use secondary", "aria-label": `Use collection ${c.name}`, text: "Use", onclick: () => useCollection(c.name) }),
      el("button", {
        type: "button",
        class: "delete-collection danger",
        "aria-label": `Delete collection ${c.name}`,
        text: "Delete",
        onclick: () => deleteCollection(c.name),
      }),
    ),
  );
}

function renderCollections(list) {
  $("collections-empty").hidden = list.length > 0;
  $("collections").replaceChildren(...list.map(collectionCard));
  showCurrentCollection();
}

function useCollection(name) {
  const select = $("collection-select");
  if (!state.collections.includes(name)) fillCollectionSelect([...state.collections, name], name);
  select.value = name;
  onCollectionChange();
}

/** The line under the list that says what happened and what to do next (a button to the next view, focused). */
function announce(text, next) {
  const line = $("collections-next");
  line.replaceChildren(text);
  line.hidden = false;
  if (!next) return;
  const button = el("button", { type: "button", id: "collections-next-step", text: next.label, onclick: next.go });
  line.append(" ", button);
  button.focus();
}

function toUpload() {
  showView("upload");
  $("dropzone").focus();
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
    announce(`Created ${name}; it is empty.`, { label: `Upload files to ${name}`, go: toUpload });
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
    const list = await loadCollections();
    onCollectionChange();
    if (list) announce(`Deleted ${name}. ${plural(list.length, "collection")} left.`);
    focusOn($("h-collections"));
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

export function onCollectionChange() {
  showCurrentCollection();
  state.documentsOffset = 0;
  loadDocuments();
}

export function setUpCollections() {
  $("collection-select").addEventListener("change", onCollectionChange);
  $("collection-form").addEventListener("submit", createCollection);
  $("open-collection-form").addEventListener("submit", openCollectionByName);
}
