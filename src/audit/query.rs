//! Reading the trail back: the Activity screen's filter, what matches it,
//! and the last hour the pending store is checked against at start. Each
//! reads every kept month through [`Trail`], so no caller joins file paths;
//! unreadable lines are skipped here, the verifiers are where damage is
//! reported.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::ops::ControlFlow;
use std::path::Path;

use super::scan::{self, Page};
use super::trail::{self, Trail};
use super::{AuditEvent, AuditRecord};
use crate::clock::Timestamp;

/// What the activity screen may ask for. Empty fields match everything.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// The first instant shown (the start of the operator's local "from"
    /// day).
    pub from: Option<Timestamp>,
    /// The first instant no longer shown (the start of the local day after
    /// the "to" day): exclusive, so a day of 23 or 25 hours is whole.
    pub before: Option<Timestamp>,
    pub operator: Option<String>,
    pub outcome: Option<String>,
    pub number_id: Option<String>,
}

impl Filter {
    pub fn matches(&self, e: &AuditEvent) -> bool {
        self.from.is_none_or(|f| e.at >= f)
            && self.before.is_none_or(|t| e.at < t)
            && self.operator.as_ref().is_none_or(|o| {
                e.operator
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(o))
            })
            && self
                .outcome
                .as_ref()
                .is_none_or(|o| e.outcome.as_deref() == Some(o.as_str()))
            && self
                .number_id
                .as_ref()
                .is_none_or(|n| e.number_id.as_deref() == Some(n.as_str()))
    }
}

/// Records matching `filter` across every month of the trail, newest
/// first, at most `limit`. Unreadable lines are skipped here;
/// [`trail::verify_trail`] is where damage is reported.
pub fn query(path: &Path, filter: &Filter, limit: usize) -> io::Result<Vec<AuditRecord>> {
    let mut out = Vec::new();
    for file in trail::files(path)?.iter().rev() {
        let lines = match File::open(file) {
            Ok(f) => BufReader::new(f).split(b'\n'),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let mut records: Vec<AuditRecord> = lines
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_slice::<AuditRecord>(&l).ok())
            .filter(|r| filter.matches(&r.event))
            .collect();
        records.reverse();
        out.extend(records);
        if out.len() >= limit {
            break;
        }
    }
    out.truncate(limit);
    Ok(out)
}

/// Records at or after `since`, oldest first, read from the newest month
/// backwards and stopping at the first older record, so a start reads the
/// last hour rather than the whole month. Unreadable lines are skipped, as
/// in [`query`]. (Records are in time order; after the clock was set back,
/// records older than a later one's time may be missed.)
pub fn recent(path: &Path, since: Timestamp) -> io::Result<Vec<AuditRecord>> {
    let mut out = Vec::new();
    'files: for file in trail::files(path)?.iter().rev() {
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for line in bytes.rsplit(|b| *b == b'\n') {
            let Ok(record) = serde_json::from_slice::<AuditRecord>(line) else {
                continue;
            };
            if record.event.at < since {
                break 'files;
            }
            out.push(record);
        }
    }
    out.reverse();
    Ok(out)
}

/// The same reads, asked of the trail itself.
impl Trail {
    /// See [`query`].
    pub fn query(&self, filter: &Filter, limit: usize) -> io::Result<Vec<AuditRecord>> {
        query(self.current(), filter, limit)
    }

    /// See [`recent`].
    pub fn recent(&self, since: Timestamp) -> io::Result<Vec<AuditRecord>> {
        recent(self.current(), since)
    }

    /// One page of the matches, newest first, with their count
    /// ([`scan::page`]).
    pub fn page(&self, filter: &Filter, offset: u64, limit: u64) -> io::Result<Page> {
        scan::page(self.current(), filter, offset, limit)
    }

    /// How many records match ([`scan::count`]).
    pub fn count(&self, filter: &Filter) -> io::Result<u64> {
        scan::count(self.current(), filter)
    }

    /// Every match, oldest first, as counted ([`scan::stream`]).
    pub fn stream<E: From<io::Error>>(
        &self,
        filter: &Filter,
        each: impl FnMut(&AuditRecord, u64, u64) -> Result<(), E>,
    ) -> Result<u64, E> {
        scan::stream(self.current(), filter, each)
    }

    /// Every match, oldest first, until `each` breaks
    /// ([`scan::for_each_match`]).
    pub fn for_each_match(
        &self,
        filter: &Filter,
        each: impl FnMut(AuditRecord) -> ControlFlow<()>,
    ) -> io::Result<()> {
        scan::for_each_match(self.current(), filter, each)
    }
}
