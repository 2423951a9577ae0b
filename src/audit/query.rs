//! Reading the trail back: the Activity screen's filter (its date range
//! checked here), what matches it, and the last hour the pending store is checked against at start. Each
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
use crate::i18n::Text;

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

/// The last instant a date bound may name (the end of year 9999): beyond
/// it, the value is a mistake rather than a day.
const LAST_INSTANT_MS: i64 = 253_402_300_800_000;

/// One end of the date range as the window sent it: nothing, a whole number
/// of milliseconds since the epoch, or something that is not one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawBound {
    Empty,
    Millis(i64),
    Unreadable,
}

/// Why a date range is refused; each says which date to pick again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeError {
    From,
    Before,
    /// The range ends before (or where) it starts.
    Reversed,
}

impl RangeError {
    pub fn text(self) -> Text {
        Text::new(match self {
            Self::From => "audit.bad_from",
            Self::Before => "audit.bad_to",
            Self::Reversed => "audit.to_before_from",
        })
    }
}

/// The filter's `from` and `before` instants, each absent when empty. The
/// window works the instants out in the operator's time zone (Rust has none
/// to guess with), so only the values are checked here: a day between the
/// epoch and the end of year 9999, and a range that does not end before it
/// starts.
pub fn date_range(
    from: RawBound,
    before: RawBound,
) -> Result<(Option<Timestamp>, Option<Timestamp>), RangeError> {
    let instant = |raw: RawBound, unreadable: RangeError| match raw {
        RawBound::Empty => Ok(None),
        RawBound::Millis(ms) if (0..=LAST_INSTANT_MS).contains(&ms) => {
            Ok(Some(Timestamp::from_millis(ms)))
        }
        _ => Err(unreadable),
    };
    let from = instant(from, RangeError::From)?;
    let before = instant(before, RangeError::Before)?;
    if let (Some(f), Some(b)) = (from, before) {
        if f >= b {
            return Err(RangeError::Reversed);
        }
    }
    Ok((from, before))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_range_is_two_instants_in_order_within_the_calendar() {
        use RawBound::{Empty, Millis, Unreadable};
        assert_eq!(date_range(Empty, Empty), Ok((None, None)));
        let (from, before) = date_range(Millis(1_000), Millis(2_000)).unwrap();
        assert_eq!(
            (from.unwrap().millis(), before.unwrap().millis()),
            (1_000, 2_000)
        );
        assert_eq!(date_range(Millis(-1), Empty), Err(RangeError::From));
        assert_eq!(date_range(Unreadable, Empty), Err(RangeError::From));
        assert_eq!(date_range(Empty, Millis(i64::MAX)), Err(RangeError::Before));
        assert_eq!(date_range(Millis(2), Millis(2)), Err(RangeError::Reversed));
        assert_eq!(date_range(Millis(3), Millis(2)), Err(RangeError::Reversed));
        let last = LAST_INSTANT_MS;
        assert!(date_range(Empty, Millis(last)).is_ok());
    }
}
