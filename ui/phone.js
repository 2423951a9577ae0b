// The demo phone: the only place an SMS body (and so a code) is ever shown,
// and only in demo mode, where the "gateway" is the emulator inside the app.
import * as api from "./api.js";
import { lang, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const seen = new Set();
let enabled = false;

const clockFormat = () => new Intl.DateTimeFormat(lang(), { hour: "numeric", minute: "2-digit" });

export async function init(demo) {
  enabled = demo;
  $("phone-column").hidden = !demo;
  if (!demo) return;
  updateClock();
  setInterval(updateClock, 10_000);
  try {
    for (const sms of await api.demoInbox()) append(sms);
  } catch {
    /* shown in the error area by api.js */
  }
}

function updateClock() {
  $("device-clock").textContent = clockFormat().format(new Date());
}

// The inbox load and live events can overlap, so the same message may arrive
// twice; it is kept once and placed by time, newest at the bottom.
export function append(sms) {
  if (!enabled || !sms) return;
  const key = `${sms.at}\u0000${sms.to}\u0000${sms.body}`;
  if (seen.has(key)) return;
  seen.add(key);

  const li = $("tpl-sms").content.firstElementChild.cloneNode(true);
  li.dataset.at = String(sms.at);
  li.querySelector(".sms-meta").textContent = t("ui.sms_to", { number: sms.to, time: clockFormat().format(new Date(sms.at)) });
  li.querySelector('[data-testid="demo-sms"]').textContent = sms.body;

  const thread = $("sms-thread");
  const later = [...thread.children].find((other) => Number(other.dataset.at) > sms.at);
  thread.insertBefore(li, later || null);
  $("sms-empty").hidden = true;
  thread.scrollTop = thread.scrollHeight;
}
