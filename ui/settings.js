// The settings screen: one form over every configuration key Rust lists.
// Rust checks each field as it is typed and the whole set on save; this
// module only lays the fields out, shows Rust's messages beside them, and
// never sees the auth token's value (only whether one is set).
import * as api from "./api.js";

const $ = (id) => document.getElementById(id);

// Layout and words; names, values, bounds and locks come from Rust.
const FIELDS = [
  { key: "gateway", group: "gateway", label: "Gateway", type: "select", options: () => gateways },
  { key: "base_url", group: "gateway", label: "Base URL", real: true, hint: "Up to the API version, e.g. https://cloud.restcomm.com/restcomm" },
  { key: "account_sid", group: "gateway", label: "Account SID", real: true },
  { key: "sender", group: "gateway", label: "Sender", real: true, hint: "A number such as +15550001111, or a short name" },
  { key: "request_timeout_seconds", group: "gateway", label: "Request timeout", real: true },
  { key: "auth_token_file", group: "gateway", label: "Token file", real: true, itOnly: true, hint: "Set by IT in the policy file to read the token from a file; empty means the credential store" },
  { key: "gateway_proxy", group: "gateway", label: "Gateway proxy", real: true, itOnly: true, hint: "Set by IT in the policy file: none (or empty) for a direct connection, system for the OS's proxy settings, or the proxy's address" },
  { key: "ca_bundle_file", group: "gateway", label: "CA bundle file", real: true, itOnly: true, hint: "Set by IT in the policy file: only these certificates are trusted; empty means the system's. SSL_CERT_FILE is never used" },
  { key: "default_country", group: "countries", label: "Default country", hint: "Two-letter code, e.g. GB" },
  { key: "allowed_countries", group: "countries", label: "Allowed destination countries", hint: "Codes separated by commas; empty means the default country only" },
  { key: "code_length", group: "limits", label: "Code length" },
  { key: "validity_seconds", group: "limits", label: "Code validity" },
  { key: "max_attempts", group: "limits", label: "Tries per code" },
  { key: "number_failures_per_hour", group: "limits", label: "Failures per number per hour" },
  { key: "resend_cooldown_seconds", group: "limits", label: "Pause between sends" },
  { key: "sends_per_window", group: "limits", label: "Sends per number per window" },
  { key: "send_window_minutes", group: "limits", label: "Send window" },
  { key: "brand", group: "messages", label: "Brand name", hint: "Starts every SMS" },
  { key: "default_language", group: "messages", label: "Default SMS language", type: "select", options: () => languages },
  { key: "template_en", group: "messages", label: "English template", type: "template" },
  { key: "template_fr", group: "messages", label: "French template", type: "template" },
  { key: "template_es", group: "messages", label: "Spanish template", type: "template" },
  { key: "template_de", group: "messages", label: "German template", type: "template" },
  { key: "sms_warning_en", group: "messages", itOnly: true, label: "English warning", hint: "Every English SMS carries it: where the template puts {warning}, else at its end. Set by IT in the policy file; cannot be empty" },
  { key: "sms_warning_fr", group: "messages", itOnly: true, label: "French warning", hint: "Every French SMS carries it: where the template puts {warning}, else at its end. Set by IT in the policy file; cannot be empty" },
  { key: "sms_warning_es", group: "messages", itOnly: true, label: "Spanish warning", hint: "Every Spanish SMS carries it: where the template puts {warning}, else at its end. Set by IT in the policy file; cannot be empty" },
  { key: "sms_warning_de", group: "messages", itOnly: true, label: "German warning", hint: "Every German SMS carries it: where the template puts {warning}, else at its end. Set by IT in the policy file; cannot be empty" },
  { key: "branch", group: "desk", label: "Branch" },
  { key: "workstation", group: "desk", label: "Workstation", hint: "Empty: the computer's name" },
  { key: "demo_allowed", group: "desk", label: "Allow demo mode", type: "checkbox" },
  { key: "allow_data_dir_override", group: "desk", label: "Honour COUNTERSIGN_DATA_DIR", type: "checkbox", itOnly: true, hint: "Set by IT in the policy file" },
  { key: "allow_credentials_override", group: "desk", label: "Honour COUNTERSIGN_CREDENTIALS", type: "checkbox", itOnly: true, hint: "Set by IT in the policy file" },
  { key: "audit_key_file", group: "desk", label: "Audit key file", itOnly: true, hint: "Set by IT in the policy file; empty means derived from the desk key" },
  { key: "branch_store", group: "desk", label: "Branch store", itOnly: true, hint: "Set by IT in the policy file: the branch's shared PostgreSQL; empty means this desk counts alone" },
  { key: "branch_key_file", group: "desk", label: "Branch key file", itOnly: true, hint: "Set by IT in the policy file: the key every desk of the branch names numbers with" },
  { key: "branch_password_file", group: "desk", label: "Branch store password file", itOnly: true, hint: "Set by IT in the policy file" },
  { key: "log_level", group: "desk", label: "Log level", itOnly: true, hint: "Set by IT in the policy file: error, warn, info or debug. No log line holds a code, a token or a full number" },
  { key: "log_file_size_mb", group: "desk", label: "Log file size", itOnly: true, hint: "Set by IT in the policy file: a new file is started past this size" },
  { key: "log_files_kept", group: "desk", label: "Log files kept", itOnly: true, hint: "Set by IT in the policy file: the oldest beyond this count is deleted" },
];

let languages = [];
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
  gateways = view.gateways;
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
    label.textContent = spec.label;
    const hint = document.createElement("p");
    hint.className = "hint";
    hint.id = `${id}-hint`;
    hint.textContent = meta.bounds ? `${meta.bounds[0]}–${meta.bounds[1]} ${meta.bounds[2]}` : (spec.hint || "");
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
    field.title = locked === "it-policy" ? "Locked by the IT policy file" : locked === "environment" ? "Set by the environment" : "";
    showError(meta.key, "");
  }
  showToken(view.token);
  showGatewayFields();
  $("settings-problem").hidden = !view.problem;
  $("settings-problem").textContent = view.problem || "";
  $("choose-demo-row").hidden = !view.demoNeedsChoice;
  $("policy-file-note").hidden = !view.policyFile;
  $("policy-file-note").textContent = view.policyFile ? `IT policy file: ${view.policyFile}. Locked fields are shown greyed out.` : "";
  for (const key of ["template_en", "template_fr", "template_es", "template_de"]) checkSoon(key, 0);
}

function showToken(token) {
  $("token-status").textContent = token.set ? "Set" : "Not set";
  $("token-status").dataset.set = String(token.set);
  $("token-source").textContent = token.source;
  $("token-replace").hidden = !token.replaceable;
  $("token-replace").textContent = token.set ? "Replace token" : "Set token";
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
  meter.textContent = `${p.sampleUnits} characters as shown · up to ${p.worstUnits} of ${p.limit} at the longest · ${p.encoding} · ${p.segments} segment${p.segments === 1 ? "" : "s"}`;
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
    result.textContent = "Nothing to save.";
    return;
  }
  const modeBefore = document.body.dataset.mode;
  let answer;
  try {
    answer = await api.settingsSave(changes, typedToken || null);
  } catch {
    return;
  }
  if (!answer.saved) {
    for (const e of answer.errors) showError(e.key, e.message);
    result.dataset.ok = "false";
    result.textContent = `Nothing was saved: ${answer.errors.length === 1 ? "one field needs" : `${answer.errors.length} fields need`} attention.`;
    const first = answer.errors[0] && inputs.get(answer.errors[0].key);
    if (first) first.focus();
    return;
  }
  result.dataset.ok = "true";
  result.textContent = "Saved.";
  const status = await api.appStatus();
  // A new gateway changes the whole page (banner, demo phone, languages):
  // start it afresh; the session stays signed in.
  if (status.mode !== modeBefore) {
    location.reload();
    return;
  }
  await refresh();
  result.textContent = "Saved.";
  if (onSaved) onSaved(status);
}

async function onTestSms(event) {
  event.preventDefault();
  const out = $("test-sms-result");
  out.textContent = "Sending…";
  let sent;
  try {
    sent = await api.sendTestSms($("test-sms-phone").value);
  } catch (err) {
    out.textContent = `Not sent: ${err.message}`;
    return;
  }
  out.textContent = `${sent.message} Status: ${sent.status}.`;
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 1500));
    try {
      const s = await api.testSmsStatus(sent.sid);
      out.textContent = `${sent.message} Status: ${s.status}.`;
      if (s.isFinal) return;
    } catch (err) {
      out.textContent = `${sent.message} The status could not be read: ${err.message}`;
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
