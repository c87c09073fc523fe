// The names the API uses, read once from GET /v1/meta (the server's own lists, not copies of them),
// and the plain words the page says for each. A name the page has no words for is shown as itself.

import { api } from "./api.js";

export const meta = {
  job_states: [],
  file_states: [],
  abstention_reasons: [],
  citation_kinds: [],
  modes: [],
  stream_events: [],
};

const HOW_WORDS = {
  marker: "cited by the model, and it says so",
  corrected: "the model cited another passage; this one says it",
  support: "not cited by the model, but it says so",
  unsupported: "cited by the model, but it does not say so",
  attended: "the model read this passage (retro)",
  reader: "the answer's words are quoted from this passage",
  none: "not checked against a passage",
};
const MODE_WORDS = {
  reader: "Quote the passage that answers (checked word for word; fastest)",
  auto: "Let the model write the answer, in the style the question calls for",
  extract: "Let the model copy the answering sentences",
  focus: "Let the model write a short answer from the best passage",
  passages: "Show the passages only, no written answer",
};
// why one sentence of a written answer is not supported (SentenceOut.reason), in plain words
const SENTENCE_WHY = [
  [/^number not in sources/, () => "a number in it appears in none of the passages"],
  [/^term not in sources: (.*)$/, (m) => `“${m[1]}” appears in none of the passages`],
  [/^no passage supports it/, () => "no passage found says this"],
  [/^no passages/, () => "there were no passages to check it against"],
];

/** Fill ``meta`` from the server (the page waits for it before its first view). */
export async function loadMeta() {
  Object.assign(meta, await api("/v1/meta", { quiet: true }));
}

export const howWords = (kind) => HOW_WORDS[kind] || kind;
export const modeWords = (mode) => MODE_WORDS[mode] || mode;

/** Why a sentence is flagged, as a person would say it. */
export function sentenceWhy(reason) {
  for (const [re, words] of SENTENCE_WHY) {
    const m = re.exec(reason || "");
    if (m) return words(m);
  }
  return reason || "no passage found says this";
}

/** A file's progress in percent from its state's place in the server's order (the last three are final). */
export function fileProgress(fileState) {
  const states = meta.file_states;
  const done = states.indexOf("done");
  const at = states.indexOf(fileState);
  if (at < 0) return 5; // "uploading": the page's own state, before the server knows the file
  if (at >= done) return 100;
  return Math.round((100 * (at + 1)) / (done + 1));
}

/** done, duplicate and failed: the states a file ends in (those from "done" on, in the server's order). */
export function isFinalFile(fileState) {
  const done = meta.file_states.indexOf("done");
  return done >= 0 && meta.file_states.indexOf(fileState) >= done;
}
