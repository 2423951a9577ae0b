//! Event names the UI listens to. Payloads are the core's views: masked
//! numbers, no digests, no codes (the demo phone's SMS is the one exception).

pub const VERIFICATION_CHANGED: &str = "verification-changed";
pub const VERIFICATION_ENDED: &str = "verification-ended";
pub const DEMO_SMS: &str = "demo-sms";
/// The desk signed its operator out (Lock, or inactivity).
pub const DESK_LOCKED: &str = "desk-locked";
/// A CSV export's progress: `{done, total}` rows (`activity::export::Progress`).
pub const AUDIT_EXPORT_PROGRESS: &str = "audit-export-progress";
