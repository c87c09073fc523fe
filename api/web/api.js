// The API: one fetch helper (key, errors in words) and one Server-Sent Events reader.

export const KEY_STORAGE = "rag-api-key"; // the API key lives in this tab's sessionStorage only

let unauthorized = () => {};

/** What a 401 does (main.js opens the key dialog; api.js imports no view). */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

export class ApiError extends Error {
  constructor(message, status, code, detail) {
    super(message);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

/**
 * fetch() with the key (once set) and errors as ApiError carrying the API's message.
 * opts: method, json (a body to send as JSON), body, signal, raw (return the Response),
 * quiet (a 401 does not open the key dialog).
 */
export async function api(path, opts = {}) {
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
    if (res.status === 401 && !opts.quiet) unauthorized(message);
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
export async function readEvents(response, onEvent) {
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
