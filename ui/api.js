import { render } from "./i18n.js";

// The one door to Rust. Every command goes through `call`, so every rejection
// lands in the same error area and the rest of the UI never touches Tauri.

const tauri = window.__TAURI__;

export const available = Boolean(tauri && tauri.core && tauri.event);

// Shown only when the page is opened outside the desktop app (a plain browser):
// nothing can work there, and a silent blank desk would be worse than saying so.
// The one sentence not in the catalogue: without Rust there is no catalogue.
const NO_RUNTIME = {
  kind: "no_runtime",
  message: "Countersign is not running: open this screen from the Countersign desktop app.",
};

function errorArea() {
  return document.querySelector('[data-testid="error"]');
}

export function showError(message) {
  const el = errorArea();
  if (el) el.textContent = message;
}

export function clearError() {
  const el = errorArea();
  if (el) el.textContent = "";
}

// Polite announcements go to one live region. `quiet` ones are for screen
// readers only (the result panel already shows them); the others also show as
// a short-lived note so they don't linger as stale news.
let fillTimer = 0;
let fadeTimer = 0;
export function announce(message, { quiet = false } = {}) {
  const el = document.getElementById("status");
  if (!el) return;
  clearTimeout(fillTimer);
  clearTimeout(fadeTimer);
  el.textContent = "";
  el.dataset.quiet = String(quiet);
  if (!message) return;
  // Emptied first and refilled a moment later, so a repeated text is read again.
  fillTimer = setTimeout(() => { el.textContent = message; }, 30);
  fadeTimer = setTimeout(() => { el.textContent = ""; }, 10_000);
}

// Rust serialises errors as {kind, message, text}: `text` is the message
// in the desk's language. The runtime itself (ACL denial, unknown command)
// rejects with a bare string. Both become one shape.
function normalise(raw) {
  if (raw && typeof raw === "object" && typeof raw.message === "string") {
    const message = raw.text ? render(raw.text) : raw.message;
    return { kind: typeof raw.kind === "string" ? raw.kind : "internal", message };
  }
  return { kind: "internal", message: String(raw) };
}

export class CommandError extends Error {
  constructor({ kind, message }) {
    super(message);
    this.kind = kind;
  }
}

// `userAction`: a successful call made because the operator did something
// clears the previous error; background refreshes must not wipe it unseen.
// `quiet`: the caller shows the error itself, next to the field it is about.
async function call(cmd, args, { userAction = false, quiet = false } = {}) {
  if (!available) {
    showError(NO_RUNTIME.message);
    throw new CommandError(NO_RUNTIME);
  }
  try {
    const value = await tauri.core.invoke(cmd, args);
    if (userAction) clearError();
    return value;
  } catch (raw) {
    const err = normalise(raw);
    if (!quiet) showError(err.message);
    throw new CommandError(err);
  }
}

export async function listen(event, handler) {
  if (!available) return () => {};
  return tauri.event.listen(event, (e) => handler(e.payload));
}

export const appStatus = () => call("app_status");
export const uiText = () => call("ui_text");
export const about = () => call("about");
export const uiReady = () => call("ui_ready");
export const listPending = () => call("list_pending");
export const demoInbox = () => call("demo_inbox");

export const startVerification = (phone, purpose, language) =>
  call("start_verification", { phone, purpose, language }, { userAction: true });
export const resendCode = (id) => call("resend_code", { id }, { userAction: true });
export const checkCode = (id, code) => call("check_code", { id, code }, { userAction: true });
export const cancelVerification = (id) => call("cancel_verification", { id }, { userAction: true });
export const setOperator = (name) => call("set_operator", { name }, { userAction: true });

export const signIn = (staffId, name) => call("sign_in", { staffId, name }, { userAction: true });
export const lockDesk = () => call("lock_desk", {}, { userAction: true });
export const auditQuery = (filter, page) => call("audit_query", { filter, page }, { userAction: true });
export const auditVerify = () => call("audit_verify", {}, { userAction: true });
export const auditExport = (filter) => call("audit_export", { filter }, { userAction: true });
export const auditKeyExport = () => call("audit_key_export", {}, { userAction: true });

export const settingsRead = () => call("settings_read");
export const settingsCheck = (key, value) => call("settings_check", { key, value }, { quiet: true });
export const settingsSave = (changes, token) =>
  call("settings_save", { changes, token }, { userAction: true });
export const sendTestSms = (phone) => call("send_test_sms", { phone }, { userAction: true });
export const testSmsStatus = (sid) => call("test_sms_status", { sid }, { quiet: true });

// Activity reports are best-effort and silent: a locked desk answers them
// with an error that the sign-in screen already explains.
export function stillHere() {
  if (available) tauri.core.invoke("still_here").catch(() => {});
}
