//! The activity screen's list: one page of the trail (this desk's, or the
//! branch's) for a filter (`filter`), with the count of every matching
//! record (the list used to stop at 500 rows without saying so).
//! Each page also carries the outcomes a record can have, with their labels,
//! so the window's filter and outcome column take them from the core.

use countersign::audit::scan::page_limit;
use countersign::audit::{AuditOutcome, AuditRecord, Trail};
use serde::{Deserialize, Serialize};
use tauri::State;

use super::filter::{FilterInput, Scope};
use crate::error::{IpcError, IpcResult};
use crate::shell::Shell;

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

    #[test]
    fn a_page_is_at_most_max_rows_and_at_least_one() {
        let page = |limit| PageInput { offset: 7, limit };
        assert_eq!(page(None).bounds(), (7, PAGE_ROWS));
        assert_eq!(page(Some(0)).bounds(), (7, 1));
        assert_eq!(page(Some(10_000)).bounds(), (7, MAX_PAGE_ROWS));
    }
}
