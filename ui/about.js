// The About panel: version, build, folders, policy and gateway mode, and
// the support text for IT. Rust gathers every fact and writes the text;
// this shows them and puts the text on the clipboard.
import * as api from "./api.js";
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
let supportText = "";

export async function refresh() {
  let about;
  try {
    about = await api.about();
  } catch {
    return;
  }
  const f = about.facts;
  $("about-version").textContent = f.version;
  $("about-build").textContent = f.build;
  $("about-gateway-mode").textContent = f.gatewayMode;
  $("about-policy").textContent = f.policy;
  $("about-data-folder").textContent = f.dataFolder;
  $("about-log-folder").textContent = f.logFolder;
  supportText = about.supportText;
}

// The text also shows, selected, under the button: the clipboard may be
// refused (no focus, a locked-down WebView), and a person can still copy it.
async function copy() {
  await refresh();
  const area = $("support-text");
  area.value = supportText;
  area.hidden = false;
  area.focus();
  area.select();
  let copied = false;
  try {
    await navigator.clipboard.writeText(supportText);
    copied = true;
  } catch {
    try { copied = document.execCommand("copy"); } catch { copied = false; }
  }
  $("copy-support-result").textContent = copied ? t("ui.support_copied") : t("ui.support_copy_by_hand");
}

export function init() {
  $("copy-support").addEventListener("click", copy);
}
