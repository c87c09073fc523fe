// The key dialog: opens on a 401; the key stays in this tab's sessionStorage.

import { KEY_STORAGE, apiKey } from "./api.js";
import { $ } from "./dom.js";

let afterSave = () => {};

/** What saving a key does next (main.js: reload the lists the key may now see). */
export function onKeySaved(handler) {
  afterSave = handler;
}

export function openKeyDialog(reason) {
  const dialog = $("key-dialog");
  $("key-reason").textContent = reason || "";
  $("key-reason").hidden = !reason;
  $("key-input").value = apiKey();
  if (!dialog.open) dialog.showModal();
  $("key-input").focus();
}

function saveKey(event) {
  event.preventDefault();
  const key = $("key-input").value.trim();
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
  $("key-dialog").close();
  updateKeyButton();
  afterSave();
}

function forgetKey() {
  sessionStorage.removeItem(KEY_STORAGE);
  $("key-input").value = "";
  $("key-dialog").close();
  updateKeyButton();
}

function updateKeyButton() {
  $("key-open").textContent = apiKey() ? "API key (set)" : "API key";
}

export function setUpKeyDialog() {
  $("key-open").addEventListener("click", () => openKeyDialog(""));
  $("key-form").addEventListener("submit", saveKey);
  $("key-cancel").addEventListener("click", () => $("key-dialog").close());
  $("key-forget").addEventListener("click", forgetKey);
  updateKeyButton();
}
