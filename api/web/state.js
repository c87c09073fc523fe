// What the views share: the page's state and the chosen collection.

import { $ } from "./dom.js";

export const DOCUMENTS_PAGE = 100;

export const state = {
  view: "collections",
  collections: [], // names for the select
  documentsOffset: 0,
  documentsTotal: 0, // of the chosen collection, as the last page said (a delete counts down from it)
  askController: null,
  lastAsk: null, // {collection, response}
  docOpener: null,
  benchTimer: null,
  benchPlotUrl: null,
  benchChecked: false,
  uploadBatches: [],
};

export function currentCollection() {
  return $("collection-select").value || "";
}
