// The activity screen: the audit trail as Rust reads it, newest first, with
// filters, "Verify log" and CSV export. Rust matches a typed number by its
// keyed digest; nothing here stores or compares numbers.
import * as api from "./api.js";

const $ = (id) => document.getElementById(id);
const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

// Display names for event slugs; the slugs themselves come from Rust.
const EVENT_NAMES = {
  started: "Started", sent: "Sent", not_sent: "Not sent", resent: "Resent",
  delivery_status: "Delivery", check_failed: "Wrong code", approved: "Verified",
  locked: "Locked", expired: "Expired", cancelled: "Cancelled", number_blocked: "Number blocked",
  store_quarantined: "File set aside", app_started: "App started", app_stopped: "App stopped",
  settings_changed: "Settings changed", operator_signed_in: "Signed in", operator_locked: "Desk locked",
  test_sms_sent: "Test SMS", audit_chain_keyed: "Audit log keyed",
  audit_key_exported: "Audit key exported", branch_trail_mismatch: "Trail differs from the branch",
};

// This desk's name in its branch, or null outside branch mode.
let branchDesk = null;

function filter() {
  return {
    from: $("filter-from").value,
    to: $("filter-to").value,
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

function render(rows) {
  const tpl = $("tpl-audit-row").content.firstElementChild;
  $("audit-list").replaceChildren(...rows.map((r) => {
    const tr = tpl.cloneNode(true);
    tr.dataset.seq = String(r.seq);
    tr.dataset.event = r.event;
    tr.querySelector(".audit-time").textContent = timeFormat.format(new Date(r.at));
    tr.querySelector(".audit-event").textContent = EVENT_NAMES[r.event] || r.event;
    tr.querySelector(".audit-number").textContent = r.maskedNumber || "";
    tr.querySelector(".audit-reference").textContent = r.reference || "";
    tr.querySelector(".audit-outcome").textContent = r.outcome || "";
    tr.querySelector(".audit-gateway").textContent = r.gatewayMode || "";
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
    render(await api.auditQuery(filter()));
  } catch {
    /* the error area says why */
  }
}

async function verify() {
  try {
    const answer = await api.auditVerify();
    const el = $("verify-result");
    el.textContent = answer.message;
    el.dataset.intact = String(answer.intact);
  } catch {
    /* shown in the error area */
  }
}

async function exportCsv() {
  try {
    const message = await api.auditExport(filter());
    if (message) api.announce(message);
  } catch {
    /* shown in the error area */
  }
}

export function init() {
  $("activity-filter").addEventListener("submit", (e) => {
    e.preventDefault();
    refresh();
  });
  $("audit-verify").addEventListener("click", verify);
  $("audit-export").addEventListener("click", exportCsv);
  $("audit-key-export").addEventListener("click", async () => {
    try {
      const message = await api.auditKeyExport();
      if (message) api.announce(message);
    } catch {
      /* shown in the error area */
    }
  });
}
