// The views behind the navigation: one shown at a time; choosing one puts the focus where the user types.

import { resumeBenchmark } from "./benchmarks.js";
import { loadCollections } from "./collections.js";
import { $ } from "./dom.js";
import { loadDocuments } from "./documents.js";
import { state } from "./state.js";

// where the focus goes when a view is chosen (views not listed keep it on their tab)
const FOCUS = { ask: "question" };

/** Show view ``name``; ``focus``: move the focus into it (a click on its tab or a "next step" button). */
export function showView(name, focus = false) {
  state.view = name;
  for (const button of document.querySelectorAll("nav [data-view]")) {
    if (button.dataset.view === name) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  for (const section of document.querySelectorAll("main > .view")) {
    section.hidden = section.id !== `view-${name}`;
  }
  if (focus && FOCUS[name]) $(FOCUS[name]).focus();
  if (name === "collections") loadCollections();
  if (name === "documents") loadDocuments();
  if (name === "benchmarks") resumeBenchmark();
}
