//! Reading the trail for the activity screen and the export: matching
//! records counted, paged and streamed across every kept month, one line in
//! memory at a time.
//!
//! A deep page and an export first count the matches and then read again
//! up to that count: records the desk appends in between (they only ever go
//! at the end) are left out, so the page or export is the trail as it stood
//! when it was counted, and an export's progress never passes its total.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::ops::ControlFlow;
use std::path::Path;

use super::{trail, AuditRecord, Filter};

/// One page of matching records, newest first, and how many match in all.
#[derive(Clone, Debug)]
pub struct Page {
    pub records: Vec<AuditRecord>,
    pub total: u64,
}

/// Calls `each` with every record matching `filter`, oldest first (the
/// order they were written in), until it breaks. Unreadable lines are
/// skipped, as in [`super::query`]; the verifiers report damage.
pub fn for_each_match(
    path: &Path,
    filter: &Filter,
    mut each: impl FnMut(AuditRecord) -> ControlFlow<()>,
) -> io::Result<()> {
    for file in trail::files(path)? {
        let reader = match File::open(&file) {
            Ok(f) => BufReader::new(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for line in reader.split(b'\n') {
            let Ok(record) = serde_json::from_slice::<AuditRecord>(&line?) else {
                continue;
            };
            if filter.matches(&record.event) && each(record).is_break() {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// How many records match `filter`.
pub fn count(path: &Path, filter: &Filter) -> io::Result<u64> {
    let mut n = 0;
    for_each_match(path, filter, |_| {
        n += 1;
        ControlFlow::Continue(())
    })?;
    Ok(n)
}

/// Rows on a page when the window does not say.
pub const PAGE_ROWS: u64 = 100;
/// The most rows one page may ask for: a page is rendered whole.
pub const MAX_PAGE_ROWS: u64 = 500;

/// The rows a page holds when `asked` for: held to `1..=MAX_PAGE_ROWS`.
pub fn page_limit(asked: Option<u64>) -> u64 {
    asked.unwrap_or(PAGE_ROWS).clamp(1, MAX_PAGE_ROWS)
}

/// Pages within this many of the newest matches are read in one pass,
/// keeping that many records at most; deeper ones count first and then read
/// again, so memory stays at one page however deep.
const ONE_PASS_DEPTH: u64 = 2_000;

/// The `limit` matching records after the newest `offset`, newest first.
pub fn page(path: &Path, filter: &Filter, offset: u64, limit: u64) -> io::Result<Page> {
    if offset.saturating_add(limit) <= ONE_PASS_DEPTH {
        one_pass(path, filter, offset, limit)
    } else {
        two_passes(path, filter, offset, limit)
    }
}

/// The newest pages, the ones looked at: the newest `offset + limit`
/// matches kept as the trail goes by, in one read.
fn one_pass(path: &Path, filter: &Filter, offset: u64, limit: u64) -> io::Result<Page> {
    let keep = usize::try_from(offset.saturating_add(limit)).unwrap_or(usize::MAX);
    let mut newest = VecDeque::new();
    let mut total = 0u64;
    for_each_match(path, filter, |r| {
        total += 1;
        if keep > 0 {
            if newest.len() == keep {
                newest.pop_front();
            }
            newest.push_back(r);
        }
        ControlFlow::Continue(())
    })?;
    let records = newest
        .into_iter()
        .rev()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .collect();
    Ok(Page { records, total })
}

/// A deep page: counted, then read again up to the page, one page in memory.
fn two_passes(path: &Path, filter: &Filter, offset: u64, limit: u64) -> io::Result<Page> {
    let total = count(path, filter)?;
    // Newest first from the end of the matches: the page is the oldest-first
    // positions [end - limit, end).
    let end = total.saturating_sub(offset);
    let start = end.saturating_sub(limit);
    let mut records = Vec::new();
    let mut index = 0u64;
    if end > 0 {
        for_each_match(path, filter, |r| {
            if index >= start {
                records.push(r);
            }
            index += 1;
            if index >= end {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
    }
    records.reverse();
    Ok(Page { records, total })
}

/// Every matching record as it stood when counted, oldest first, to `each`
/// with its 1-based position and the total (for progress). Stops at the
/// first error `each` returns.
pub fn stream<E: From<io::Error>>(
    path: &Path,
    filter: &Filter,
    mut each: impl FnMut(&AuditRecord, u64, u64) -> Result<(), E>,
) -> Result<u64, E> {
    let total = count(path, filter)?;
    let mut done = 0u64;
    let mut failed = None;
    if total > 0 {
        for_each_match(path, filter, |r| {
            done += 1;
            if let Err(e) = each(&r, done, total) {
                failed = Some(e);
                return ControlFlow::Break(());
            }
            if done >= total {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(done),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditEvent, EventKind};
    use crate::clock::Timestamp;
    use std::io::Write;

    #[test]
    fn one_pass_and_two_passes_give_the_same_pages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut f = File::create(&path).unwrap();
        for seq in 1..=23u64 {
            let mut event = AuditEvent::new(Timestamp::from_millis(seq as i64), EventKind::Sent);
            event.outcome = Some(if seq % 2 == 0 { "even" } else { "odd" }.into());
            let r = AuditRecord {
                seq,
                time: event.at.to_rfc3339(),
                event,
                prev: String::new(),
                hash: String::new(),
                chain: None,
            };
            serde_json::to_writer(&mut f, &r).unwrap();
            f.write_all(b"\n").unwrap();
        }
        // An unreadable line is skipped by both.
        f.write_all(b"{not json\n").unwrap();
        let odd = Filter {
            outcome: Some("odd".into()),
            ..Filter::default()
        };
        for filter in [Filter::default(), odd] {
            for offset in 0..26 {
                for limit in 0..6 {
                    let a = one_pass(&path, &filter, offset, limit).unwrap();
                    let b = two_passes(&path, &filter, offset, limit).unwrap();
                    let seqs = |p: &Page| p.records.iter().map(|r| r.seq).collect::<Vec<_>>();
                    assert_eq!(seqs(&a), seqs(&b), "{offset} {limit}");
                    assert_eq!(a.total, b.total);
                    assert!(seqs(&a).windows(2).all(|w| w[0] > w[1]), "newest first");
                }
            }
        }
    }
}
