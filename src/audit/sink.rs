//! Where the engine's audit events go: the [`AuditSink`] seam, its error,
//! and the in-memory sink the engine's tests use. The desk's real sink is
//! [`super::AuditLog`].

use std::io;
use std::path::PathBuf;

use super::AuditEvent;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("The audit log {path} cannot be written: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// The existing log could not be read at start; it was left as it is.
    #[error("The audit log {path} cannot be read: {source}. It was left as it is; check that Countersign may read its data folder, or ask IT.")]
    Read { path: PathBuf, source: io::Error },
}

/// Where audit events go. Called after the change it records is durable.
pub trait AuditSink: Send {
    fn record(&mut self, event: AuditEvent) -> Result<(), AuditError>;
}

/// Keeps events in memory: for tests.
#[derive(Clone, Debug, Default)]
pub struct MemoryAudit {
    pub events: Vec<AuditEvent>,
}

impl AuditSink for MemoryAudit {
    fn record(&mut self, event: AuditEvent) -> Result<(), AuditError> {
        self.events.push(event);
        Ok(())
    }
}
