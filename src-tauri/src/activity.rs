//! The Activity screen: the audit trail as the desk opens it (`trail`), its
//! list a page at a time (`list`), branch-wide pages (`branch`), the CSV
//! export (`export`), "Verify log" and the audit key for IT (`verify`), and
//! the save dialog the shell opens itself for both files (`save_dialog`; the
//! window is granted no dialog or file access). The rules (what matches,
//! what a record holds, whether the chain holds) are the core's
//! `countersign::audit`; these files translate.

pub(crate) mod branch;
pub mod export;
pub(crate) mod filter;
pub mod list;
mod save_dialog;
pub(crate) mod trail;
pub(crate) mod verify;
