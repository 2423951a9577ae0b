//! The activity screen's list: the filter as the form sends it, parsed here
//! into the core's types, and one page of the trail with the count of every
//! matching record (the list used to stop at 500 rows without saying so).
//! Each page also carries the outcomes a record can have, with their labels,
//! so the window's filter and outcome column take them from the core.

use countersign::audit::scan::page_limit;
use countersign::audit::{date_range, AuditOutcome, AuditRecord, Filter, RawBound, Trail};
use countersign::clock::Timestamp;
use countersign::i18n::Text;
use countersign::policy::NumberUse;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tauri::State;

use crate::error::{IpcError, IpcResult};
use crate::shell::Shell;

/// The activity screen's filter, as the form sends it. Unknown fields are
/// refused, so a window still sending the old `to` day gets an error
/// instead of an unfiltered list.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct FilterInput {
    /// The start of the first local day shown, in milliseconds since the
    /// epoch. The window works it out in the operator's time zone (the one
    /// the list shows times in), so a day is the operator's day, DST
    /// included; Rust has no time zone of its own to guess with.
    from: Option<Value>,
    /// The start of the local day after the last one shown (exclusive).
    before: Option<Value>,
    operator: Option<String>,
    outcome: Option<String>,
    phone: Option<String>,
    /// `desk` (this desk's trail, the default) or `branch` (every desk's
    /// records as the branch holds them, in branch mode).
    scope: Option<String>,
    /// In the branch scope: one desk's records only.
    desk: Option<String>,
}

/// Which trail a filter reads.
pub(crate) enum Scope {
    Desk,
    Branch,
}

impl FilterInput {
    pub(crate) fn take_scope(&mut self) -> IpcResult<Scope> {
        match self.scope.take().as_deref().map(str::trim) {
            None | Some("") | Some("desk") => Ok(Scope::Desk),
            Some("branch") => Ok(Scope::Branch),
            Some(_) => Err(IpcError::InvalidFilter(Text::new("audit.bad_scope"))),
        }
    }

    /// The desk asked for, in the branch scope.
    pub(crate) fn take_desk(&mut self) -> Option<String> {
        self.desk
            .take()
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty())
    }

    /// Whether a phone number was given (the branch scope cannot search by
    /// it: each desk's records name numbers under that desk's own key).
    pub(crate) fn has_phone(&self) -> bool {
        self.phone.as_deref().is_some_and(|p| !p.trim().is_empty())
    }

    pub(crate) fn parse(self, shell: &Shell) -> IpcResult<Filter> {
        let (from, before) = parse_bounds(self.from.as_ref(), self.before.as_ref())?;
        let text = |raw: Option<String>| raw.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let number_id = match text(self.phone) {
            None => None,
            Some(phone) => Some(shell.with_desk(|d| {
                let number = d.policy().parse_number(&phone, NumberUse::Search)?;
                Ok(d.number_id(&number).as_str().to_owned())
            })?),
        };
        Ok(Filter {
            from,
            before,
            operator: text(self.operator),
            outcome: text(self.outcome),
            number_id,
        })
    }
}

/// The date range's two instants, each absent when empty. A bound is a
/// whole number of milliseconds (a JSON number, or the same digits as a
/// string); the core checks the range.
pub(crate) fn parse_bounds(
    from: Option<&Value>,
    before: Option<&Value>,
) -> IpcResult<(Option<Timestamp>, Option<Timestamp>)> {
    date_range(raw_bound(from), raw_bound(before)).map_err(|e| IpcError::InvalidFilter(e.text()))
}

/// What the form sent for one bound, as the core reads it.
fn raw_bound(raw: Option<&Value>) -> RawBound {
    let ms = match raw {
        None | Some(Value::Null) => return RawBound::Empty,
        Some(Value::String(s)) if s.trim().is_empty() => return RawBound::Empty,
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(Value::Number(n)) => n.as_i64(),
        Some(_) => None,
    };
    ms.map_or(RawBound::Unreadable, RawBound::Millis)
}

/// Which rows of the matches to send: `offset` rows from the newest on.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PageInput {
    offset: u64,
    limit: Option<u64>,
}

impl PageInput {
    /// The offset and the limit the core allows for the one asked.
    pub(crate) fn bounds(&self) -> (u64, u64) {
        (self.offset, page_limit(self.limit))
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRow {
    seq: u64,
    at: i64,
    event: String,
    operator: Option<String>,
    staff_id: Option<String>,
    branch: Option<String>,
    workstation: Option<String>,
    verification: Option<String>,
    masked_number: Option<String>,
    /// The number's keyed digest (never the number), as the CSV has it.
    number_id: Option<String>,
    reference: Option<String>,
    outcome: Option<String>,
    gateway_sid: Option<String>,
    delivery: Option<String>,
    detail: Option<String>,
    gateway_mode: Option<String>,
    os_account: Option<String>,
    /// In the branch scope, the desk whose record it is (its database role).
    desk: Option<String>,
}

impl AuditRow {
    pub(crate) fn from_desk(record: AuditRecord, desk: String) -> Self {
        Self {
            desk: Some(desk),
            ..Self::from(record)
        }
    }
}

impl From<AuditRecord> for AuditRow {
    fn from(r: AuditRecord) -> Self {
        let event = r.event.name();
        let e = r.event;
        Self {
            seq: r.seq,
            at: e.at.millis(),
            event,
            operator: e.operator,
            staff_id: e.staff_id,
            branch: e.branch,
            workstation: e.workstation,
            verification: e.verification,
            masked_number: e.masked_number,
            number_id: e.number_id,
            reference: e.reference,
            outcome: e.outcome,
            gateway_sid: e.gateway_sid,
            delivery: e.delivery,
            detail: e.detail,
            gateway_mode: e.gateway_mode,
            os_account: e.os_account,
            desk: None,
        }
    }
}

/// An outcome the filter offers: the name records carry and the catalogue
/// key the window shows it by.
#[derive(Debug, Serialize)]
pub struct OutcomeChoice {
    value: &'static str,
    label: &'static str,
}

/// The verification outcomes, in the order the filter offers them.
fn outcome_choices() -> Vec<OutcomeChoice> {
    AuditOutcome::VERIFICATION
        .into_iter()
        .filter_map(|o| {
            o.label().map(|label| OutcomeChoice {
                value: o.name(),
                label,
            })
        })
        .collect()
}

/// One page of the list, newest first.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    pub(crate) rows: Vec<AuditRow>,
    /// Every record that matches, on any page.
    pub(crate) total: u64,
    pub(crate) offset: u64,
    pub(crate) limit: u64,
    /// The branch scope searched only the branch's newest records (see
    /// `branch_setup::BRANCH_SCAN`), so older matches may exist.
    pub(crate) partial: bool,
    /// What the outcome filter offers and the outcome column shows.
    pub(crate) outcomes: Vec<OutcomeChoice>,
}

#[tauri::command]
pub async fn audit_query(
    shell: State<'_, Shell>,
    filter: Option<FilterInput>,
    page: Option<PageInput>,
) -> IpcResult<AuditPage> {
    shell.session.require_operator()?;
    let mut filter = filter.unwrap_or_default();
    let (offset, limit) = page.unwrap_or_default().bounds();
    let (rows, total, partial) = match filter.take_scope()? {
        Scope::Desk => desk_page(&shell, filter, offset, limit).await?,
        Scope::Branch => branch_page(&shell, filter, offset, limit).await?,
    };
    Ok(AuditPage {
        rows,
        total,
        offset,
        limit,
        partial,
        outcomes: outcome_choices(),
    })
}

/// Rows, the count of every match, and whether the search stopped short.
type Rows = (Vec<AuditRow>, u64, bool);

/// A page of this desk's own trail, read off the async runtime.
async fn desk_page(shell: &Shell, filter: FilterInput, offset: u64, limit: u64) -> IpcResult<Rows> {
    let filter = filter.parse(shell)?;
    let trail = Trail::in_folder(&shell.data_dir);
    let page = tauri::async_runtime::spawn_blocking(move || trail.page(&filter, offset, limit))
        .await
        .map_err(IpcError::internal)?
        .map_err(IpcError::internal)?;
    let rows = page.records.into_iter().map(AuditRow::from).collect();
    Ok((rows, page.total, false))
}

/// A page of every desk's records as the branch holds them.
async fn branch_page(
    shell: &Shell,
    filter: FilterInput,
    offset: u64,
    limit: u64,
) -> IpcResult<Rows> {
    let (matches, partial) = super::branch::branch_records(shell, filter).await?;
    let total = matches.len() as u64;
    let skip = usize::try_from(offset).unwrap_or(usize::MAX);
    let take = usize::try_from(limit).unwrap_or(usize::MAX);
    let rows = matches
        .into_iter()
        .skip(skip)
        .take(take)
        .map(|(record, desk)| AuditRow::from_desk(record, desk))
        .collect();
    Ok((rows, total, partial))
}

#[cfg(test)]
mod tests {
    use super::*;
    use countersign::audit::scan::{MAX_PAGE_ROWS, PAGE_ROWS};
    use serde_json::json;

    #[test]
    fn bounds_are_the_instants_the_window_sends() {
        // Paris, 29 March 2026, the day the clocks go forward: it starts at
        // 23:00 UTC the day before and lasts 23 hours, to 22:00 UTC; neither
        // bound is a UTC midnight.
        let (from, before) = parse_bounds(
            Some(&json!(1_774_738_800_000i64)),
            Some(&json!("1774821600000")),
        )
        .unwrap();
        assert_eq!(from.unwrap().to_rfc3339(), "2026-03-28T23:00:00.000Z");
        assert_eq!(before.unwrap().to_rfc3339(), "2026-03-29T22:00:00.000Z");
    }

    #[test]
    fn empty_bounds_filter_nothing() {
        assert_eq!(parse_bounds(None, None).unwrap(), (None, None));
        assert_eq!(
            parse_bounds(Some(&json!("")), Some(&Value::Null)).unwrap(),
            (None, None)
        );
    }

    #[test]
    fn bad_bounds_are_refused_with_a_reason() {
        for (from, before, says) in [
            (
                json!("2026-03-30"),
                Value::Null,
                "start date could not be read",
            ),
            (json!(1.5), Value::Null, "start date could not be read"),
            (json!(-1), Value::Null, "start date could not be read"),
            (json!(true), Value::Null, "start date could not be read"),
            (Value::Null, json!("soon"), "end date could not be read"),
            (Value::Null, json!(i64::MAX), "end date could not be read"),
            (json!(2_000), json!(1_000), "before the"),
            (json!(1_000), json!(1_000), "before the"),
        ] {
            let e = parse_bounds(Some(&from), Some(&before)).unwrap_err();
            assert_eq!(e.kind(), "invalid_filter", "{from} {before}");
            assert!(
                e.message().contains(says),
                "{from} {before}: {}",
                e.message()
            );
        }
    }

    #[test]
    fn a_page_is_at_most_max_rows_and_at_least_one() {
        let page = |limit| PageInput { offset: 7, limit };
        assert_eq!(page(None).bounds(), (7, PAGE_ROWS));
        assert_eq!(page(Some(0)).bounds(), (7, 1));
        assert_eq!(page(Some(10_000)).bounds(), (7, MAX_PAGE_ROWS));
    }

    #[test]
    fn a_stale_window_sending_the_old_day_field_is_refused() {
        let old = serde_json::from_value::<FilterInput>(json!({"to": "2026-03-30"}));
        assert!(old.is_err());
    }
}
