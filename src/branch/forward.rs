//! Every desk's audit records, copied to the branch (S24): so IT sees the
//! branch's trail whole, and so a desk's trail that is cut or rewritten
//! after its records left shows against the copy.
//!
//! The desk's own trail is the queue: it is already durable (fsync'ed per
//! record), so nothing new is written on the desk. Each round asks the
//! branch for the newest record it holds from this desk, checks that the
//! local trail still holds that very line, and sends what follows, in
//! order, in one transaction per batch. The table's key (desk, seq) makes a
//! repeated batch a no-op: a round cut short by a lost connection is simply
//! run again, and nothing is stored twice.

use std::io;
use std::path::Path;

use serde::Deserialize;

use super::postgres::PgLedger;
use super::Unreachable;
use crate::audit::trail;

/// Records sent per transaction.
pub const BATCH: usize = 500;

/// Why a round of forwarding stopped.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("{0}")]
    Unreachable(#[from] Unreachable),
    /// The local trail no longer holds, as it was, a record the branch
    /// already has: it was rewritten or cut after it was forwarded.
    #[error("the local audit trail no longer matches the branch's copy at record {seq}: it was changed or cut after that record was forwarded")]
    Diverged { seq: u64 },
    /// The local trail ends before the branch's copy does.
    #[error("the local audit trail ends at record {local}, but the branch already holds records up to {branch}: the local trail was cut or replaced")]
    Behind { local: u64, branch: u64 },
    #[error("the local audit trail cannot be read ({0})")]
    Trail(#[from] io::Error),
}

/// The newest record the branch holds from this desk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BranchHead {
    pub seq: u64,
    pub line: String,
}

#[derive(Deserialize)]
struct Seq {
    seq: u64,
}

/// The trail's records from `from` on (inclusive), oldest first, as
/// `(seq, line)`. Files are read newest first and reading stops at the
/// first file that reaches back to `from`, so a round reads what is new.
pub fn records_from(current: &Path, from: u64) -> io::Result<Vec<(u64, String)>> {
    let mut out = Vec::new();
    for file in trail::files(current)?.iter().rev() {
        let text = match std::fs::read(file) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let mut reached = false;
        for line in text.lines().rev() {
            // A line that does not parse (a crash's half line, damage) is
            // not a record; verification is where damage is named.
            let Ok(Seq { seq }) = serde_json::from_str::<Seq>(line) else {
                continue;
            };
            if seq < from {
                reached = true;
                break;
            }
            out.push((seq, line.to_owned()));
        }
        if reached {
            break;
        }
    }
    out.reverse();
    Ok(out)
}

/// The trail's newest record number; 0 for an empty trail.
fn newest_seq(current: &Path) -> io::Result<u64> {
    for file in trail::files(current)?.iter().rev() {
        let text = match std::fs::read(file) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let newest = text
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str::<Seq>(l).ok());
        if let Some(Seq { seq }) = newest {
            return Ok(seq);
        }
    }
    Ok(0)
}

/// Sends what the branch does not have yet. Returns how many records were
/// sent.
pub fn forward_trail(ledger: &mut PgLedger, current: &Path) -> Result<usize, ForwardError> {
    let head = ledger.branch_head()?;
    let from = head.as_ref().map_or(0, |h| h.seq);
    let mut records = records_from(current, from)?;
    if let Some(head) = &head {
        match records.first() {
            Some((seq, line)) if *seq == head.seq && *line == head.line => {
                records.remove(0);
            }
            Some(_) => return Err(ForwardError::Diverged { seq: head.seq }),
            None => {
                return Err(ForwardError::Behind {
                    local: newest_seq(current)?,
                    branch: head.seq,
                })
            }
        }
    }
    let mut sent = 0;
    for batch in records.chunks(BATCH) {
        ledger.forward(batch.to_vec())?;
        sent += batch.len();
    }
    Ok(sent)
}
