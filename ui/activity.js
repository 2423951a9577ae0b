// The activity screen: the audit trail as Rust reads it, newest first, a page
// at a time, with filters, "Verify log" and CSV export. Rust matches a typed
// number by its keyed digest; nothing here stores or compares numbers.
import * as api from "./api.js";
import { lang, render as inWords, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const timeFormat = () => new Intl.DateTimeFormat(lang(), { dateStyle: "medium", timeStyle: "medium" });
const count = (n) => new Intl.NumberFormat(lang()).format(n);

// Rows a page holds: Rust's default, learnt from the first page.
let pageRows = 1;
let offset = 0;
let total = 0;

// The outcomes Rust sends with each page: the name a record carries and
// the catalogue key it is shown by. Filled by the first page.
let outcomeLabels = {};

// This desk's name in its branch, or null outside branch mode.
let branchDesk = null;

// The start of a local calendar day ("YYYY-MM-DD" from a date field), plus
// `days`, as milliseconds since the epoch; null when the field is empty.
// Date's local constructor knows the time zone's rules, so a DST day is 23
// or 25 hours long and times are filtered by the day the list shows them in.
function dayStart(value, days = 0) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!m) return null;
  const t = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + days).getTime();
  return Number.isFinite(t) ? t : null;
}

function filter() {
  return {
    from: dayStart($("filter-from").value),
    before: dayStart($("filter-to").value, 1),
    operator: $("filter-operator").value,
    outcome: $("filter-outcome").value,
    phone: $("filter-phone").value,
    scope: branchDesk ? $("filter-scope").value : "desk",
    desk: branchDesk ? $("filter-desk").value : "",
  };
}

// Branch mode adds the scope and desk filters and the Desk column.
export function applyStatus(status) {
  branchDesk = (status && status.branchDesk) || null;
  for (const el of document.querySelectorAll(".branch-only")) el.hidden = !branchDesk;
}

// The filter's choices, in Rust's order, after its "any" option; the
// choice made survives a refill.
function applyOutcomes(outcomes) {
  outcomeLabels = Object.fromEntries(outcomes.map((o) => [o.value, o.label]));
  const select = $("filter-outcome");
  const chosen = select.value;
  const any = select.querySelector('option[value=""]');
  select.replaceChildren(any, ...outcomes.map((o) => {
    const option = document.createElement("option");
    option.value = o.value;
    option.dataset.i18n = o.label;
    option.textContent = t(o.label);
    return option;
  }));
  select.value = chosen;
}

function renderPage(page) {
  total = page.total;
  if (page.outcomes) applyOutcomes(page.outcomes);
  render(page.rows);
  const info = $("activity-page-info");
  info.textContent = page.total > 0
    ? [
      t("ui.page_of", { first: count(page.offset + 1), last: count(page.offset + page.rows.length), total: count(page.total) }),
      page.partial ? t("ui.page_partial") : "",
    ]
        .filter(Boolean)
        .join(" ")
    : "";
  info.dataset.total = String(page.total);
  $("activity-page-prev").disabled = page.offset === 0;
  $("activity-page-next").disabled = page.offset + page.rows.length >= page.total;
}

function render(rows) {
  const tpl = $("tpl-audit-row").content.firstElementChild;
  const formatTime = timeFormat();
  $("audit-list").replaceChildren(...rows.map((r) => {
    const tr = tpl.cloneNode(true);
    tr.dataset.seq = String(r.seq);
    tr.dataset.event = r.event;
    tr.querySelector(".audit-time").textContent = formatTime.format(new Date(r.at));
    tr.querySelector(".audit-event").textContent = t(`event.${r.event}`);
    tr.querySelector(".audit-number").textContent = r.maskedNumber || "";
    tr.querySelector(".audit-reference").textContent = r.reference || "";
    tr.querySelector(".audit-outcome").textContent = outcomeLabels[r.outcome] ? t(outcomeLabels[r.outcome]) : (r.outcome || "");
    tr.querySelector(".audit-gateway").textContent = r.gatewayMode ? t(`ui.mode.${r.gatewayMode}`) : "";
    tr.querySelector(".audit-operator").textContent =
      [r.operator, r.staffId && `(${r.staffId})`, r.osAccount && `[${r.osAccount}]`]
        .filter(Boolean)
        .join(" ");
    tr.querySelector(".audit-detail").textContent = r.detail || "";
    const deskCell = tr.querySelector(".audit-desk");
    deskCell.hidden = !branchDesk;
    deskCell.textContent = r.desk || branchDesk || "";
    return tr;
  }));
  $("audit-empty").hidden = rows.length > 0;
}

export async function refresh() {
  try {
    let page = await api.auditQuery(filter(), { offset });
    pageRows = page.limit;
    // Fewer records than before (a narrower filter): show the last page.
    if (page.rows.length === 0 && page.total > 0) {
      offset = Math.floor((page.total - 1) / pageRows) * pageRows;
      page = await api.auditQuery(filter(), { offset });
    }
    offset = page.offset;
    renderPage(page);
  } catch {
    /* the error area says why */
  }
}

function turn(by) {
  offset = Math.max(0, Math.min(offset + by, Math.max(0, total - 1)));
  refresh();
}

async function verify() {
  try {
    const answer = await api.auditVerify();
    const el = $("verify-result");
    el.textContent = inWords(answer.text || answer.message);
    el.dataset.intact = String(answer.intact);
  } catch {
    /* shown in the error area */
  }
}

function showProgress({ done, total: of }) {
  const bar = $("activity-export-progress");
  bar.hidden = false;
  bar.max = Math.max(1, of);
  bar.value = done;
  bar.dataset.done = String(done);
  bar.dataset.total = String(of);
  const words = t("ui.exporting", { done: count(done), total: count(of) });
  bar.textContent = words;
  bar.setAttribute("aria-valuetext", words);
}

async function exportCsv() {
  const button = $("audit-export");
  button.disabled = true;
  try {
    const message = await api.auditExport(filter());
    if (message) api.announce(inWords(message));
  } catch {
    /* shown in the error area */
  } finally {
    button.disabled = false;
    $("activity-export-progress").hidden = true;
  }
}

export function init() {
  $("activity-filter").addEventListener("submit", (e) => {
    e.preventDefault();
    offset = 0;
    refresh();
  });
  $("activity-page-prev").addEventListener("click", () => turn(-pageRows));
  $("activity-page-next").addEventListener("click", () => turn(pageRows));
  api.listen("audit-export-progress", showProgress);
  $("audit-verify").addEventListener("click", verify);
  $("audit-export").addEventListener("click", exportCsv);
  $("audit-key-export").addEventListener("click", async () => {
    try {
      const message = await api.auditKeyExport();
      if (message) api.announce(inWords(message));
    } catch {
      /* shown in the error area */
    }
  });
}
