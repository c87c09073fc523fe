// Small DOM helpers shared by the views. Every string from the API goes into the page as text
// (textContent / text nodes), never as HTML; only HTML that /v1/render or a document's /html sent
// (sanitised on the server) is set with innerHTML, in render.js.

export const $ = (id) => document.getElementById(id);
export const enc = encodeURIComponent;

/** An element with attributes/properties and children (strings become text nodes). */
export function el(tag, props = {}, ...children) {
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

/** Where a passage is in its file: "slide 7", "sheet Revenue", "chapter 3", else "page 3", else "". */
export function whereText(c) {
  if (c.location) return c.location;
  return c.page === null || c.page === undefined ? "" : `page ${c.page}`;
}

/** "read by OCR (confidence 72%)" for a passage whose text was read by OCR; "" for a file's own text. */
export function ocrText(c) {
  const confidence = c.ocr_confidence;
  if (confidence === null || confidence === undefined) return c.ocr ? "read by OCR" : "";
  return `read by OCR (confidence ${Math.round(confidence)}%)`;
}

export function setError(id, message) {
  $(id).textContent = message || "";
}

export function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

export function bytes(n) {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  return `${(n / 1e6).toFixed(1)} MB`;
}

export function fmt(x, digits = 3) {
  return typeof x === "number" && Number.isFinite(x) ? x.toFixed(digits) : "–";
}

/** ``text`` as nodes, with `code` and **bold** formatted (everything else stays text): for the answer box. */
export function inline(text) {
  const nodes = [];
  const re = /`([^`\n]+)`|\*\*([^*\n]+)\*\*/g;
  let last = 0;
  let m;
  while ((m = re.exec(text)) !== null) {
    if (m.index > last) nodes.push(document.createTextNode(text.slice(last, m.index)));
    nodes.push(m[1] !== undefined ? el("code", { text: m[1] }) : el("strong", { text: m[2] }));
    last = re.lastIndex;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

/** Move the focus to ``node`` (a heading or a region gets tabindex -1 so it can hold it). */
export function focusOn(node) {
  if (!node) return;
  if (!node.matches("a, button, input, select, textarea, [tabindex]")) node.setAttribute("tabindex", "-1");
  node.focus();
}
