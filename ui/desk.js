// The desk: the send form, one card per pending verification, and the result
// panel. Rust decides every outcome; this module renders what it returns and
// keeps the countdowns ticking for display only.
import * as api from "./api.js";
import { lang, render as inWords, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

// id -> { el, view, offset, touched, askedAt, busy }
// `offset` is serverNow - Date.now() at receipt, so countdowns follow Rust's
// clock rather than a workstation clock that may be off.
const cards = new Map();
// Ids Rust has ended. A late "pending" view (event or stale list) must not
// bring a closed card back.
const ended = new Set();
let cardSeq = 0;

// Dates in the desk's language, asked when shown: the catalogue arrives after load.
const timeFormat = () => new Intl.DateTimeFormat(lang(), { dateStyle: "medium", timeStyle: "medium" });

export function init(status) {
  applyStatus(status);
  $("send-form").addEventListener("submit", onSend);
  $("payment-toggle").addEventListener("change", onPaymentToggle);
  $("result-new-send").addEventListener("click", () => $("phone").focus());
  setInterval(tick, 500);
}

// The defaults settings may change while the desk runs.
export function applyStatus(status) {
  if (!status) return;
  if (status.defaultCountry) describeCountry(status.defaultCountry);
  fillLanguages(status.languages || [], status.defaultLanguage);
}

// The SMS language for the next verification; back to the default after each.
let defaultLanguage = "en";
function fillLanguages(languages, chosen) {
  const select = $("language");
  select.replaceChildren(...languages.map(([code, name]) => new Option(name, code)));
  defaultLanguage = chosen || "en";
  select.value = defaultLanguage;
}

function describeCountry(code) {
  let name = code;
  try { name = new Intl.DisplayNames([lang()], { type: "region" }).of(code) || code; } catch { /* plain code */ }
  $("default-country").textContent = name === code ? code : `${name} (${code})`;
  $("phone-hint").hidden = false;
}

function onPaymentToggle() {
  const payment = $("payment-toggle").checked;
  $("payment-fields").hidden = !payment;
  $("reference-field").hidden = payment;
  (payment ? $("amount") : $("purpose")).focus();
}

function readPurpose() {
  if ($("payment-toggle").checked) {
    return { kind: "payment", amount: $("amount").value, currency: $("currency").value, payee: $("payee").value };
  }
  return { kind: "reference", reference: $("purpose").value };
}

function resetForm() {
  for (const id of ["phone", "purpose", "amount", "currency", "payee"]) $(id).value = "";
  $("language").value = defaultLanguage;
}

let sending = false;
async function onSend(event) {
  event.preventDefault();
  if (sending) return;
  sending = true;
  const button = $("send");
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    const started = await api.startVerification($("phone").value, readPurpose(), $("language").value || null);
    upsertView(started.verification);
    api.announce(inWords(started.message));
    // Nothing was sent when it was already pending: leave the form as typed.
    if (!started.alreadyPending) resetForm();
    focusCode(started.verification.id);
  } catch (err) {
    if (err.kind === "invalid_number") $("phone").focus();
  } finally {
    sending = false;
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

// ---- cards ---------------------------------------------------------------

export function upsertView(view) {
  if (!view || !view.id) return;
  if (view.status !== "pending") { removeCard(view.id); return; }
  if (ended.has(view.id)) return;
  let entry = cards.get(view.id);
  if (entry && entry.view.serverNow > view.serverNow) return; // older news
  if (!entry) {
    entry = { el: buildCard(view.id), busy: false, askedAt: 0 };
    cards.set(view.id, entry);
    $("queue").prepend(entry.el); // newest first
  }
  entry.view = view;
  entry.offset = view.serverNow - Date.now();
  entry.touched = performance.now();
  render(entry);
  updateQueueState();
}

function buildCard(id) {
  const el = $("tpl-card").content.firstElementChild.cloneNode(true);
  const n = ++cardSeq;
  const q = (sel) => el.querySelector(sel);
  const heading = q(".card-number");
  const input = q('[data-testid="code"]');
  const confirm = q(".card-confirm");
  const cancel = q('[data-testid="cancel"]');
  heading.id = `card-${n}-number`;
  input.id = `card-${n}-code`;
  confirm.id = `card-${n}-confirm`;
  q(".code-label").htmlFor = input.id;
  el.setAttribute("aria-labelledby", heading.id);
  for (const b of el.querySelectorAll("button")) b.setAttribute("aria-describedby", heading.id);
  input.setAttribute("aria-describedby", heading.id);

  q(".card-check").addEventListener("submit", (e) => { e.preventDefault(); onCheck(id, input); });
  q('[data-testid="resend"]').addEventListener("click", () => onResend(id));
  cancel.addEventListener("click", () => onCancel(id));
  cancel.addEventListener("blur", () => setConfirm(el, false));
  el.addEventListener("keydown", (e) => onCardKey(e, el));
  // Picking a card anywhere continues it: the code field is what comes next.
  el.addEventListener("click", (e) => {
    if (!e.target.closest("button, input, a")) input.focus();
  });
  return el;
}

// Esc once: move to Cancel and say what Enter will do. Esc again: back out.
function onCardKey(event, el) {
  if (event.key !== "Escape") return;
  event.preventDefault();
  if (el.dataset.confirm === "cancel") {
    setConfirm(el, false);
    el.querySelector('[data-testid="code"]').focus();
  } else {
    setConfirm(el, true);
    el.querySelector('[data-testid="cancel"]').focus();
  }
}

function setConfirm(el, on) {
  const confirm = el.querySelector(".card-confirm");
  const cancel = el.querySelector('[data-testid="cancel"]');
  const heading = el.querySelector(".card-number");
  confirm.hidden = !on;
  if (on) el.dataset.confirm = "cancel"; else delete el.dataset.confirm;
  cancel.setAttribute("aria-describedby", on ? `${heading.id} ${confirm.id}` : heading.id);
}

function render(entry) {
  const { el, view } = entry;
  el.dataset.id = view.id;
  el.dataset.status = view.status;
  el.querySelector(".card-number").textContent = view.maskedNumber;
  const ref = el.querySelector(".card-reference");
  ref.textContent = view.reference;
  ref.hidden = !view.reference;
  const delivery = el.querySelector('[data-testid="delivery"]');
  delivery.textContent = inWords(view.delivery.text);
  delivery.dataset.state = view.delivery.state;
  el.querySelector(".tries").textContent = String(view.triesLeft);
  tickCard(entry, Date.now());
}

function removeCard(id) {
  ended.add(id);
  const entry = cards.get(id);
  if (!entry) return;
  const hadFocus = entry.el.contains(document.activeElement);
  entry.el.remove();
  cards.delete(id);
  updateQueueState();
  // Focus must not fall to <body>: the next thing at a desk is the next customer.
  if (hadFocus) $("phone").focus();
}

function updateQueueState() {
  $("queue-count").textContent = String(cards.size);
  $("queue-empty").hidden = cards.size > 0;
}

export function focusCode(id) {
  const entry = cards.get(id);
  if (entry) entry.el.querySelector('[data-testid="code"]').focus();
}

// Runs a card command once at a time; a double Enter must not check twice.
async function withCard(id, work) {
  const entry = cards.get(id);
  if (!entry || entry.busy) return;
  entry.busy = true;
  entry.el.setAttribute("aria-busy", "true");
  try {
    await work(entry);
  } finally {
    entry.busy = false;
    entry.el.removeAttribute("aria-busy");
  }
}

function onCheck(id, input) {
  return withCard(id, async () => {
    const pending = api.checkCode(id, input.value);
    input.value = ""; // never keep an entered code on screen, whatever the answer
    try {
      applyResult(await pending);
      focusCode(id);
    } catch (err) {
      if (err.kind === "invalid_code_input") input.focus();
      else refreshPending();
    }
  });
}

function onResend(id) {
  return withCard(id, async () => {
    try {
      const view = await api.resendCode(id);
      upsertView(view);
      if (view.status === "pending") api.announce(`${view.maskedNumber}: ${inWords(view.delivery.text)}`);
      focusCode(id);
    } catch {
      refreshPending();
    }
  });
}

function onCancel(id) {
  return withCard(id, async () => {
    try {
      applyResult(await api.cancelVerification(id));
    } catch {
      refreshPending();
    }
  });
}

// ---- results -------------------------------------------------------------

function applyResult(result) {
  showResult(result);
  if (result.verification) upsertView(result.verification);
  else removeCard(result.id);
}

// For `verification-ended` (expired by the clock, not sent after a gateway
// failure): same panel, same removal.
export function handleEnded(result) {
  applyResult({ ...result, verification: null });
}

function showResult(r) {
  const panel = $("result");
  panel.dataset.outcome = r.outcome;
  const title = inWords(r.title);
  const message = inWords(r.message);
  $("result-title").textContent = title;
  $("result-message").textContent = message;
  $("result-number").textContent = r.maskedNumber;
  $("result-reference").textContent = r.reference || "—";
  $("result-operator").textContent = r.operator || "—";
  const time = $("result-time");
  const at = new Date(r.at);
  time.dateTime = at.toISOString();
  time.textContent = timeFormat().format(at);

  const tries = $("result-tries");
  const value = $("result-tries-value");
  const hasTries = r.triesLeft !== null && r.triesLeft !== undefined;
  tries.hidden = !hasTries;
  if (hasTries) {
    value.setAttribute("data-testid", "tries-left");
    value.textContent = String(r.triesLeft);
  } else {
    value.removeAttribute("data-testid");
    value.textContent = "";
  }

  // The SMS never reached the phone (S23): the next step is a new send,
  // to the number checked again with the customer.
  $("result-new-send").hidden = r.outcome !== "not-sent";

  panel.hidden = false;
  // Restart the arrival highlight even when the outcome repeats.
  panel.classList.remove("fresh");
  void panel.offsetWidth;
  panel.classList.add("fresh");
  api.announce(`${title}. ${message}`, { quiet: true });
}

// ---- countdowns and resync ----------------------------------------------

function mmss(ms, padMinutes) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const m = Math.floor(total / 60);
  const s = String(total % 60).padStart(2, "0");
  return `${padMinutes ? String(m).padStart(2, "0") : m}:${s}`;
}

function tick() {
  const now = Date.now();
  for (const entry of cards.values()) tickCard(entry, now);
}

function tickCard(entry, now) {
  const { el, view, offset } = entry;
  const serverNow = now + offset;
  const left = view.expiresAt - serverNow;
  const expires = el.querySelector('[data-testid="expires-in"]');
  const text = mmss(left, true);
  if (expires.textContent !== text) expires.textContent = text;
  // Display only: the colour warns, it does not decide.
  expires.dataset.urgency = left <= 0 ? "zero" : left < 60_000 ? "low" : "ok";
  // At zero Rust decides; ask again now and then while it still says pending.
  if (left <= 0 && now - entry.askedAt > 5000) {
    entry.askedAt = now;
    refreshPending();
  }

  const resend = el.querySelector('[data-testid="resend"]');
  const wait = view.resendAvailableAt - serverNow;
  const label = wait > 0 ? t("ui.resend_in", { time: mmss(wait, false) }) : t("ui.resend_code");
  if (resend.textContent !== label) resend.textContent = label;
  const disabled = wait > 0 || entry.busy;
  if (resend.disabled !== disabled) resend.disabled = disabled;
}

// Reconciles the queue with Rust. Cards touched after the request left are
// newer than the answer and stay; the rest that are missing have ended (their
// result comes by `verification-ended`).
export async function refreshPending({ initial = false } = {}) {
  const asked = performance.now();
  let views;
  try {
    views = await api.listPending();
  } catch {
    return;
  }
  const ids = new Set(views.map((v) => v.id));
  for (const [id, entry] of cards) {
    if (!ids.has(id) && entry.touched < asked) removeCard(id);
  }
  // First load has no arrival order to go by; later expiry approximates it.
  if (initial) views = [...views].sort((a, b) => a.expiresAt - b.expiresAt);
  for (const v of views) upsertView(v);
}
