// The settings screen: one form over every configuration key Rust lists.
// Rust checks each field as it is typed and the whole set on save; this
// module only lays the fields out, shows Rust's messages beside them, and
// never sees the auth token's value (only whether one is set).
import * as api from "./api.js";
import { render, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

// Everything about a field comes from Rust: its name, group, input,
// choices, bounds, lock, and whether it is IT's alone or only matters for a
// real gateway (`view.fields`, in the order shown); the words come from the
// catalogue (`setting.<key>`, `setting.<key>.hint`).
let original = new Map(); // key -> value as shown when read
const inputs = new Map(); // key -> input element
let built = false;

// Values travel as Rust normalised them; the form shows them as text.
function shown(value) {
  if (Array.isArray(value)) return value.join(", ");
  if (typeof value === "boolean") return value;
  return value === null || value === undefined ? "" : String(value);
}

function readInput(input) {
  return input.type === "checkbox" ? input.checked : input.value;
}

function build(view) {
  for (const meta of view.fields) {
    const field = document.createElement("div");
    field.className = `field field-${meta.input}`;
    if (meta.realGatewayOnly) field.dataset.real = "true";
    const id = `setting-${meta.key}`;
    let input;
    if (meta.input === "select") {
      input = document.createElement("select");
      for (const choice of meta.choices || []) input.add(new Option(render(choice.text), choice.value));
    } else if (meta.input === "template") {
      input = document.createElement("textarea");
      input.rows = 3;
    } else {
      input = document.createElement("input");
      input.type = meta.input === "checkbox" ? "checkbox" : "text";
      input.autocomplete = "off";
      input.spellcheck = false;
    }
    input.id = id;
    input.dataset.testid = id;
    input.dataset.key = meta.key;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = t(`setting.${meta.key}`);
    const hint = document.createElement("p");
    hint.className = "hint";
    hint.id = `${id}-hint`;
    const hintKey = `setting.${meta.key}.hint`;
    hint.textContent = meta.bounds
      ? t("ui.bounds", { min: meta.bounds[0], max: meta.bounds[1], unit: t(`unit.${meta.bounds[2]}`) })
      : (t(hintKey) === hintKey ? "" : t(hintKey));
    const error = document.createElement("p");
    error.className = "field-error";
    error.id = `${id}-error`;
    error.dataset.testid = `setting-error-${meta.key}`;
    input.setAttribute("aria-describedby", `${hint.id} ${error.id}`);
    field.append(label, input, hint);
    if (meta.input === "template") {
      const preview = document.createElement("p");
      preview.className = "template-preview";
      preview.id = `${id}-preview`;
      preview.dataset.testid = `template-preview-${meta.language}`;
      field.append(preview);
    }
    field.append(error);
    if (meta.input === "checkbox") field.prepend(input);
    $(`group-${meta.group}`).append(field);
    const changes = meta.input === "select" || meta.input === "checkbox" ? "change" : "input";
    input.addEventListener(changes, () => checkSoon(meta.key));
    inputs.set(meta.key, input);
  }
}

function fill(view) {
  original = new Map();
  for (const meta of view.fields) {
    const input = inputs.get(meta.key);
    if (!input) continue;
    const value = shown(meta.value);
    original.set(meta.key, value);
    if (input.type === "checkbox") input.checked = Boolean(value);
    else input.value = value;
    // An empty template means the shipped one, shown as the placeholder.
    if (meta.input === "template") input.placeholder = view.shippedTemplates[meta.language] || "";
    const locked = meta.lockedBy;
    input.disabled = Boolean(locked) || meta.itOnly;
    const field = input.closest(".field");
    field.dataset.locked = locked || "";
    field.title = locked === "it-policy" ? t("ui.locked_by_policy") : locked === "environment" ? t("ui.set_by_environment") : "";
    showError(meta.key, "");
  }
  showToken(view.token);
  showGatewayFields();
  $("settings-problem").hidden = !view.problem;
  $("settings-problem").textContent = view.problem || "";
  $("choose-demo-row").hidden = !view.demoNeedsChoice;
  $("policy-file-note").hidden = !view.policyFile;
  $("policy-file-note").textContent = view.policyFile ? t("ui.policy_file_note", { file: view.policyFile }) : "";
  for (const meta of view.fields) if (meta.input === "template") checkSoon(meta.key, 0);
}

function showToken(token) {
  $("token-status").textContent = token.set ? t("ui.token_set") : t("ui.token_not_set");
  $("token-status").dataset.set = String(token.set);
  $("token-source").textContent = token.source;
  $("token-replace").hidden = !token.replaceable;
  $("token-replace").textContent = token.set ? t("ui.replace_token") : t("ui.set_token");
  $("token-field").hidden = true;
  $("token-input").value = "";
}

function showGatewayFields() {
  const real = inputs.get("gateway") && inputs.get("gateway").value !== "demo";
  for (const field of document.querySelectorAll('#group-gateway [data-real="true"], #group-gateway .token-row')) {
    field.hidden = !real;
  }
}

function showError(key, message) {
  const input = inputs.get(key);
  if (!input) return;
  $(`${input.id}-error`).textContent = message;
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

const timers = new Map();
function checkSoon(key, delay = 200) {
  if (key === "gateway") showGatewayFields();
  clearTimeout(timers.get(key));
  timers.set(key, setTimeout(() => checkNow(key), delay));
}

async function checkNow(key) {
  const input = inputs.get(key);
  try {
    const checked = await api.settingsCheck(key, readInput(input));
    showError(key, "");
    if (checked.preview) showPreview(key, checked.preview);
  } catch (err) {
    showError(key, err.message);
    const preview = $(`${input.id}-preview`);
    if (preview) preview.textContent = "";
  }
}

function showPreview(key, p) {
  const el = $(`setting-${key}-preview`);
  el.replaceChildren();
  const sample = document.createElement("span");
  sample.className = "template-sample";
  sample.textContent = p.sample;
  const meter = document.createElement("span");
  meter.className = "template-meter";
  meter.textContent = t("ui.template_meter", {
    shown: p.sampleUnits, worst: p.worstUnits, limit: p.limit, encoding: p.encoding, segments: p.segments,
  }, p.segments);
  el.append(sample, meter);
}

async function onSave(event) {
  event.preventDefault();
  const changes = {};
  for (const [key, input] of inputs) {
    if (input.disabled) continue;
    const value = readInput(input);
    if (value !== original.get(key)) changes[key] = value;
  }
  const typedToken = $("token-field").hidden ? null : $("token-input").value;
  const result = $("settings-result");
  if (Object.keys(changes).length === 0 && !typedToken) {
    result.textContent = t("ui.nothing_to_save");
    return;
  }
  const modeBefore = document.body.dataset.mode;
  const languageBefore = document.documentElement.lang;
  let answer;
  try {
    answer = await api.settingsSave(changes, typedToken || null);
  } catch {
    return;
  }
  if (!answer.saved) {
    for (const e of answer.errors) showError(e.key, render(e.text || e.message));
    result.dataset.ok = "false";
    result.textContent = t("ui.nothing_saved", { count: answer.errors.length }, answer.errors.length);
    const first = answer.errors[0] && inputs.get(answer.errors[0].key);
    if (first) first.focus();
    return;
  }
  result.dataset.ok = "true";
  result.textContent = t("ui.saved");
  const status = await api.appStatus();
  // A new gateway changes the whole page (banner, demo phone, languages),
  // and a new language every word on it: start it afresh; the session
  // stays signed in.
  if (status.mode !== modeBefore || status.uiLanguage !== languageBefore) {
    location.reload();
    return;
  }
  await refresh();
  result.textContent = t("ui.saved");
  if (onSaved) onSaved(status);
}

async function onTestSms(event) {
  event.preventDefault();
  const out = $("test-sms-result");
  out.textContent = t("ui.sending");
  let sent;
  try {
    sent = await api.sendTestSms($("test-sms-phone").value);
  } catch (err) {
    out.textContent = t("ui.test_not_sent", { reason: err.message });
    return;
  }
  out.textContent = t("ui.test_status", { message: render(sent.message), status: sent.status });
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 1500));
    try {
      const s = await api.testSmsStatus(sent.sid);
      out.textContent = t("ui.test_status", { message: render(sent.message), status: s.status });
      if (s.isFinal) return;
    } catch (err) {
      out.textContent = t("ui.test_status_unreadable", { message: render(sent.message), reason: err.message });
      return;
    }
  }
}

export async function refresh() {
  let view;
  try {
    view = await api.settingsRead();
  } catch {
    return;
  }
  if (!built) {
    build(view);
    built = true;
  }
  fill(view);
}

let onSaved = null;

// `saved(status)` is called after each save that keeps the gateway, so the
// rest of the page can take the new defaults (country, language).
export function init(saved) {
  onSaved = saved;
  $("settings-form").addEventListener("submit", onSave);
  $("test-sms-form").addEventListener("submit", onTestSms);
  // Demo mode on a desk set up for a real gateway is a choice staff make
  // on purpose (Rust audits it), never what a lost settings file leaves.
  $("choose-demo").addEventListener("click", async () => {
    try {
      const answer = await api.settingsSave({ gateway: "demo" }, null);
      if (answer.saved) location.reload();
    } catch {
      /* shown in the error area */
    }
  });
  $("token-replace").addEventListener("click", () => {
    $("token-field").hidden = false;
    $("token-input").focus();
  });
}
