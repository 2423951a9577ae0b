// The settings screen: one form over every configuration key Rust lists.
// Rust checks each field as it is typed and the whole set on save; this
// module only lays the fields out, shows Rust's messages beside them, and
// never sees the auth token's value (only whether one is set).
import * as api from "./api.js";
import { render, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

// Layout only; names, values, bounds and locks come from Rust, and the
// words from the catalogue (`setting.<key>`, `setting.<key>.hint`).
const FIELDS = [
  { key: "gateway", group: "gateway", type: "select", options: () => gateways },
  { key: "base_url", group: "gateway", real: true },
  { key: "account_sid", group: "gateway", real: true },
  { key: "sender", group: "gateway", real: true },
  { key: "request_timeout_seconds", group: "gateway", real: true },
  { key: "auth_token_file", group: "gateway", real: true, itOnly: true },
  { key: "gateway_proxy", group: "gateway", real: true, itOnly: true },
  { key: "ca_bundle_file", group: "gateway", real: true, itOnly: true },
  { key: "default_country", group: "countries" },
  { key: "allowed_countries", group: "countries" },
  { key: "code_length", group: "limits" },
  { key: "validity_seconds", group: "limits" },
  { key: "max_attempts", group: "limits" },
  { key: "number_failures_per_hour", group: "limits" },
  { key: "resend_cooldown_seconds", group: "limits" },
  { key: "sends_per_window", group: "limits" },
  { key: "send_window_minutes", group: "limits" },
  { key: "brand", group: "messages" },
  { key: "default_language", group: "messages", type: "select", options: () => languages },
  { key: "template_en", group: "messages", type: "template" },
  { key: "template_fr", group: "messages", type: "template" },
  { key: "template_es", group: "messages", type: "template" },
  { key: "template_de", group: "messages", type: "template" },
  { key: "sms_warning_en", group: "messages", itOnly: true },
  { key: "sms_warning_fr", group: "messages", itOnly: true },
  { key: "sms_warning_es", group: "messages", itOnly: true },
  { key: "sms_warning_de", group: "messages", itOnly: true },
  { key: "ui_language", group: "desk", type: "select", options: () => uiLanguages },
  { key: "branch", group: "desk" },
  { key: "workstation", group: "desk" },
  { key: "demo_allowed", group: "desk", type: "checkbox" },
  { key: "allow_data_dir_override", group: "desk", type: "checkbox", itOnly: true },
  { key: "allow_credentials_override", group: "desk", type: "checkbox", itOnly: true },
  { key: "audit_key_file", group: "desk", itOnly: true },
  { key: "branch_store", group: "desk", itOnly: true },
  { key: "branch_key_file", group: "desk", itOnly: true },
  { key: "branch_password_file", group: "desk", itOnly: true },
  { key: "log_level", group: "desk", itOnly: true },
  { key: "log_file_size_mb", group: "desk", itOnly: true },
  { key: "log_files_kept", group: "desk", itOnly: true },
];

let languages = [];
let uiLanguages = [];
let gateways = [];
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
  languages = view.languages;
  uiLanguages = [["auto", t("ui.language_auto")], ...view.languages];
  gateways = view.gateways.map(([value]) => [value, t(`ui.mode.${value}`)]);
  for (const spec of FIELDS) {
    const meta = view.fields.find((f) => f.key === spec.key);
    if (!meta) continue;
    const field = document.createElement("div");
    field.className = `field field-${spec.type || "text"}`;
    if (spec.real) field.dataset.real = "true";
    const id = `setting-${spec.key}`;
    let input;
    if (spec.type === "select") {
      input = document.createElement("select");
      for (const [value, text] of spec.options()) input.add(new Option(text, value));
    } else if (spec.type === "template") {
      input = document.createElement("textarea");
      input.rows = 3;
    } else {
      input = document.createElement("input");
      input.type = spec.type === "checkbox" ? "checkbox" : "text";
      input.autocomplete = "off";
      input.spellcheck = false;
    }
    input.id = id;
    input.dataset.testid = id;
    input.dataset.key = spec.key;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = t(`setting.${spec.key}`);
    const hint = document.createElement("p");
    hint.className = "hint";
    hint.id = `${id}-hint`;
    const hintKey = `setting.${spec.key}.hint`;
    hint.textContent = meta.bounds
      ? t("ui.bounds", { min: meta.bounds[0], max: meta.bounds[1], unit: t(`unit.${meta.bounds[2]}`) })
      : (t(hintKey) === hintKey ? "" : t(hintKey));
    const error = document.createElement("p");
    error.className = "field-error";
    error.id = `${id}-error`;
    error.dataset.testid = `setting-error-${spec.key}`;
    input.setAttribute("aria-describedby", `${hint.id} ${error.id}`);
    field.append(label, input, hint);
    if (spec.type === "template") {
      const preview = document.createElement("p");
      preview.className = "template-preview";
      preview.id = `${id}-preview`;
      preview.dataset.testid = `template-preview-${spec.key.slice(-2)}`;
      field.append(preview);
    }
    field.append(error);
    if (spec.type === "checkbox") field.prepend(input);
    $(`group-${spec.group}`).append(field);
    input.addEventListener(spec.type === "select" || spec.type === "checkbox" ? "change" : "input", () => checkSoon(spec.key));
    inputs.set(spec.key, input);
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
    if (input.tagName === "TEXTAREA") input.placeholder = view.shippedTemplates[meta.key.slice(-2)] || "";
    const locked = meta.lockedBy;
    const spec = FIELDS.find((f) => f.key === meta.key);
    input.disabled = Boolean(locked) || Boolean(spec && spec.itOnly);
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
  for (const key of ["template_en", "template_fr", "template_es", "template_de"]) checkSoon(key, 0);
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
