// Wiring: screens, the top bar, settings, and the start-up order
// (status → listeners → pending queue → demo inbox → ui_ready).
import * as about from "./about.js";
import * as activity from "./activity.js";
import * as api from "./api.js";
import * as desk from "./desk.js";
import { render, t, translatePage, use as useCatalogue } from "./i18n.js";
import * as phone from "./phone.js";
import * as settings from "./settings.js";

const $ = (id) => document.getElementById(id);
const SCREENS = ["desk", "activity", "settings", "about"];


let current = "desk";
function route() {
  // Only "#/screen" routes; other fragments (the skip link's #main) keep the screen.
  const wanted = location.hash.startsWith("#/") ? location.hash.slice(2) : current;
  const screen = SCREENS.includes(wanted) ? wanted : "desk";
  current = screen;
  for (const name of SCREENS) $(`screen-${name}`).hidden = name !== screen;
  for (const link of document.querySelectorAll(".nav a")) {
    if (link.dataset.screen === screen) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (screen === "activity" && signedIn) activity.refresh();
  if (screen === "settings" && signedIn) settings.refresh();
  if (screen === "about" && signedIn) about.refresh();
}

let signedIn = false;

// The desk starts locked. Until someone signs in, only the sign-in form is
// on screen; Rust refuses customer commands meanwhile anyway.
function askSignIn(suggested) {
  document.body.dataset.locked = "true";
  $("signin").hidden = false;
  $("signin-staff-id").value = (suggested && suggested.staffId) || "";
  $("signin-name").value = (suggested && suggested.name) || "";
  ($("signin-staff-id").value ? $("signin-name") : $("signin-staff-id")).focus();
  return new Promise((resolve) => {
    $("signin-form").addEventListener("submit", async function onSubmit(event) {
      event.preventDefault();
      try {
        await api.signIn($("signin-staff-id").value, $("signin-name").value);
      } catch {
        $("signin-staff-id").focus();
        return;
      }
      $("signin-form").removeEventListener("submit", onSubmit);
      $("signin").hidden = true;
      document.body.dataset.locked = "false";
      resolve();
    });
  });
}

// Locking wipes every customer detail from the page by reloading it: the
// fresh page starts at the sign-in form with nothing in memory.
function onLocked() {
  location.reload();
}

let lastReport = 0;
function reportActivity() {
  const now = Date.now();
  if (now - lastReport < 20_000) return;
  lastReport = now;
  api.stillHere();
}

function showOperator(name) {
  $("operator-name").textContent = name || t("ui.no_operator_set");
  $("operator-name").dataset.empty = name ? "false" : "true";
  $("operator-input").value = name || "";
}

function applyStatus(status) {
  document.body.dataset.mode = status.mode;
  // Display names only; the mode itself comes from Rust.
  const modeName = status.mode ? t(`ui.mode.${status.mode}`) : "";
  for (const badge of [$("mode-badge"), $("settings-mode")]) {
    badge.textContent = modeName;
    badge.dataset.mode = status.mode;
    badge.title = status.gatewayLabel;
  }
  $("settings-gateway").textContent = status.gatewayLabel;
  document.querySelector('[data-testid="demo-banner"]').hidden = status.mode !== "demo";
  showOperator(status.operator && status.operator.name);
  showWarnings(status.warningTexts || status.warnings || []);
}

// Problems found at start (a file set aside, a damaged trail, a refused
// variable) show on the desk itself, worded by Rust, and in Settings.
function showWarnings(warnings) {
  const items = () => warnings.map((text) => {
    const li = document.createElement("li");
    li.textContent = render(text);
    return li;
  });
  $("warning-list").replaceChildren(...items());
  $("desk-warning-list").replaceChildren(...items());
  $("desk-warning").hidden = warnings.length === 0;
  $("warnings-section").hidden = warnings.length === 0;
  const link = $("warnings-link");
  link.hidden = warnings.length === 0;
  link.textContent = t("ui.warning_count", { count: warnings.length }, warnings.length);
}

async function onSaveOperator(event) {
  event.preventDefault();
  try {
    const saved = await api.setOperator($("operator-input").value);
    showOperator(saved.name);
    api.announce(t("ui.operator_is", { name: saved.name }));
  } catch {
    $("operator-input").focus();
  }
}

async function start() {
  route();
  window.addEventListener("hashchange", route);
  $("operator-form").addEventListener("submit", onSaveOperator);

  let status = null;
  try {
    // The words first: nothing on the page is in any language until then.
    useCatalogue(await api.uiText());
    translatePage();
    status = await api.appStatus();
  } catch {
    desk.init(null);
    return; // the error area says why (or that the desktop runtime is missing)
  }
  applyStatus(status);
  await api.listen("desk-locked", onLocked);
  if (!status.operator) {
    const signedIn = askSignIn(status.suggestedOperator);
    reportReady();
    await signedIn;
    status = await api.appStatus();
    applyStatus(status);
  }
  signedIn = true;
  $("lock").hidden = false;
  $("lock").addEventListener("click", () => api.lockDesk().then(onLocked, () => {}));
  for (const kind of ["keydown", "pointerdown"]) document.addEventListener(kind, reportActivity, true);
  activity.init();
  about.init();
  activity.applyStatus(status);
  settings.init((fresh) => {
    applyStatus(fresh);
    desk.applyStatus(fresh);
  });
  if (current === "activity") activity.refresh();
  if (current === "settings") settings.refresh();
  if (current === "about") about.refresh();
  desk.init(status);

  // Listen before the first list so nothing that changes in between is missed.
  await Promise.all([
    api.listen("verification-changed", desk.upsertView),
    api.listen("verification-ended", desk.handleEnded),
    api.listen("demo-sms", phone.append),
  ]);
  await Promise.all([desk.refreshPending({ initial: true }), phone.init(status.mode === "demo")]);

  if (!location.hash || location.hash === "#/desk") $("phone").focus();
  reportReady();
}

// Tells Rust, once, that the first screen (sign-in or desk) takes input:
// the start-up time the footprint script measures.
let readyReported = false;
function reportReady() {
  if (readyReported) return;
  readyReported = true;
  api.uiReady().catch(() => {});
}

start();
