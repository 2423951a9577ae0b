//! Activity across the branch (S24): the records the branch's store holds
//! from every desk, read through this desk's ledger and filtered here.

use countersign::audit::AuditRecord;
use countersign::branch::DeskName;
use countersign::i18n::Text;

use super::filter::FilterInput;
use crate::error::{IpcError, IpcResult};
use crate::shell::Shell;

/// How many of the branch's newest records one Activity query reads before
/// filtering: a branch's day, bounded so a query stays quick.
const BRANCH_SCAN: usize = 5000;

/// Records the branch holds that match the filter, newest first, each with
/// the desk whose record it is, and whether the search stopped at the
/// newest [`BRANCH_SCAN`] (older matches may exist). The branch's store is
/// read once per call and filtered here: the filter's digest and text
/// fields are not columns there, so paging in SQL would page the unfiltered
/// records.
pub(crate) async fn branch_records(
    shell: &Shell,
    mut filter: FilterInput,
) -> IpcResult<(Vec<(AuditRecord, String)>, bool)> {
    shell.session.require_operator()?;
    let Some(mut ledger) = shell.branch.clone() else {
        return Err(IpcError::NotInBranch);
    };
    if filter.has_phone() {
        return Err(IpcError::InvalidFilter(Text::new("branch.phone_filter")));
    }
    let desk = match filter.take_desk() {
        None => None,
        Some(raw) => Some(
            DeskName::parse(&raw)
                .ok_or_else(|| IpcError::InvalidFilter(Text::new("branch.bad_desk_name")))?,
        ),
    };
    let filter = filter.parse(shell)?;
    let lines = tauri::async_runtime::spawn_blocking(move || ledger.read_audit(desk, BRANCH_SCAN))
        .await
        .map_err(IpcError::internal)?
        .map_err(|e| {
            tracing::warn!(error = %e, "branch audit read failed");
            IpcError::BranchUnreachable
        })?;
    let partial = lines.len() >= BRANCH_SCAN;
    let matches = lines
        .into_iter()
        .filter_map(|(desk, line)| {
            let record = serde_json::from_str::<AuditRecord>(&line).ok()?;
            filter.matches(&record.event).then_some((record, desk))
        })
        .collect();
    Ok((matches, partial))
}
