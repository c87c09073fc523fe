// The page of the local RAG API: collections, uploads, questions, documents, benchmarks.
// Plain JavaScript modules, no library, no build step; loaded from this server (api/controllers/web.py).

import { onUnauthorized } from "./api.js";
import { fillModes, setUpAsk } from "./ask.js";
import { setUpBenchmarks } from "./benchmarks.js";
import { loadCollections, setUpCollections } from "./collections.js";
import { setUpDocumentView } from "./docview.js";
import { $, setError } from "./dom.js";
import { loadDocuments, onDocumentDeleted, setUpDocuments } from "./documents.js";
import { onKeySaved, openKeyDialog, setUpKeyDialog } from "./keydialog.js";
import { loadMeta } from "./meta.js";
import { state } from "./state.js";
import { setUpUpload } from "./upload.js";
import { showView } from "./views.js";

async function init() {
  onUnauthorized(openKeyDialog);
  onKeySaved(() => loadCollections().then(() => state.view === "documents" && loadDocuments()));
  onDocumentDeleted(() => loadCollections());
  for (const button of document.querySelectorAll("nav [data-view]")) {
    button.addEventListener("click", () => showView(button.dataset.view, true));
  }
  setUpCollections();
  setUpUpload();
  setUpAsk();
  setUpDocuments();
  setUpDocumentView();
  setUpBenchmarks();
  setUpKeyDialog();
  showView("collections");
  try {
    await loadMeta();
    fillModes();
  } catch (err) {
    setError("ask-error", `The server's names could not be read: ${err.message}`);
  }
}

init(); // a module runs after the document is parsed (deferred), so the elements are there
