//! A desk's trail as held somewhere else (the branch database, S24),
//! checked as the desk's own trail is: the records are laid out as a trail
//! of their own in a private temp folder, with the head their own first and
//! last records give, and verified with the audit key. A record changed,
//! removed from the middle or reordered shows with its place. (Records cut
//! from the newest end cannot show here: the desk's next forwarding round
//! finds them missing and sends them again.)

use std::io;

use super::chain::{head_path, AuditRecord, Head};
use super::{verify_trail_keyed, AuditKey, TrailReport};

/// Verifies `lines` (`(seq, line)`, in seq order) with `key`.
pub fn verify_copy(lines: &[(u64, String)], key: &AuditKey) -> io::Result<TrailReport> {
    let dir = tempfile::Builder::new()
        .prefix("countersign-trail-copy")
        .tempdir()?;
    let path = dir.path().join("audit.jsonl");
    let mut text = String::new();
    for (_, line) in lines {
        text.push_str(line);
        text.push('\n');
    }
    std::fs::write(&path, text)?;
    let records: Vec<AuditRecord> = lines
        .iter()
        .filter_map(|(_, line)| serde_json::from_str(line).ok())
        .collect();
    if let (Some(first), Some(last)) = (records.first(), records.last()) {
        let head = Head {
            seq: last.seq,
            hash: last.hash.clone(),
            first_seq: first.seq,
            first_prev: first.prev.clone(),
            keyed_from: records.iter().find(|r| r.chain.is_some()).map(|r| r.seq),
        };
        let head = serde_json::to_vec(&head).map_err(io::Error::other)?;
        std::fs::write(head_path(&path), head)?;
    }
    verify_trail_keyed(&path, key, None)
}
