//! Pending verifications in the plugin-managed store, made durable and
//! sealed by the core.
//!
//! tauri-plugin-store owns `pending.json` (it resolves and loads the file),
//! but its own save is a truncate-and-write and its load swallows errors,
//! and every `set` broadcasts the value to the webviews. So:
//! - the core's `JournalStore` opens and checks the sealed snapshot
//!   (`pending.json`) and its journal first, setting aside what does not
//!   hold (S21), before the plugin ever loads the file;
//! - each change is one sealed, fdatasync'd journal append by the core;
//!   `pending.json` changes only at compaction, which the shell's timer runs
//!   off the request path, and the plugin's copy is refreshed then
//!   (`reload_ignore_defaults`, which emits no event);
//! - auto-save is off and `set` is never used (digests and sealed numbers
//!   must not reach a webview, S18);
//! - the store is taken out of the plugin's registry as soon as it is open
//!   ([`open_store`]): on `RunEvent::Exit` the plugin saves every store
//!   still registered with a plain `fs::write`, which would rewrite the
//!   file non-atomically at every close.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use countersign::journal::JournalStore;
use countersign::persist::{Op, PendingStore, StoreError};
use tauri::Runtime;
use tauri_plugin_store::{Store, StoreBuilder, StoreExt};

/// The desk's store: the core's sealed journal.
pub(crate) struct PluginPendingStore {
    journal: JournalStore,
}

impl PluginPendingStore {
    pub(crate) fn new(journal: JournalStore) -> Self {
        Self { journal }
    }
}

/// Why the store plugin could not be given a file to hold.
#[derive(Debug, thiserror::Error)]
pub enum PluginStoreError {
    /// The plugin could not resolve or load it.
    #[error("the store plugin could not open {}: {source}", .path.display())]
    Open {
        path: PathBuf,
        source: tauri_plugin_store::Error,
    },
    /// The plugin kept it registered, so it would rewrite it at exit.
    #[error("the store plugin would still write {} at exit", .path.display())]
    StillRegistered { path: PathBuf },
}

/// Runs compaction from the shell's timer, outside the desk lock, and
/// refreshes the plugin's copy of `pending.json` when it changed.
pub(crate) struct Compactor {
    journal: JournalStore,
    refresh: Box<dyn Fn() -> Result<(), tauri_plugin_store::Error> + Send + Sync>,
    /// Held through each compaction; `true` once the shell has shut down.
    closed: std::sync::Mutex<bool>,
}

impl Compactor {
    /// Opens `pending.json` through the plugin (after the core has checked
    /// it) and keeps the journal to compact.
    pub(crate) fn open<R: Runtime, M: tauri::Manager<R>>(
        manager: &M,
        path: &Path,
        journal: JournalStore,
    ) -> Result<Self, PluginStoreError> {
        let store = open_store(manager, path)?;
        let refresh = Box::new(move || store.reload_ignore_defaults());
        Ok(Self {
            journal,
            refresh,
            closed: std::sync::Mutex::new(false),
        })
    }

    /// Compacts when due (cheap when not). A failure leaves the journal as
    /// it was and is tried again at the next tick.
    pub(crate) fn tick(&self) {
        let closed = self
            .closed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *closed {
            return;
        }
        match self.journal.compact() {
            Ok(true) => {
                // The file is durable; a stale plugin copy is not worth
                // failing anything for.
                if let Err(e) = (self.refresh)() {
                    tracing::warn!(error = %e, "store plugin could not reload pending.json");
                }
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "pending list compaction failed; retried later"),
        }
    }

    /// Waits for a compaction under way, and stops any later one: the
    /// folder is about to be let go (S20).
    pub(crate) fn close(&self) {
        *self
            .closed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
    }
}

/// Opens `path` through the store plugin, which resolves and loads it, and
/// takes it out of the plugin's registry at once (`close_resource` removes
/// it from the resource table and from the path map the plugin's exit
/// handler saves): the plugin never writes the file; the core does, and
/// refreshes this copy. Auto-save is off, so dropping the store writes
/// nothing either. Opening the same path through the plugin again would
/// register a new store: nothing in the app does, and the window is
/// granted no `store:*` command (S18).
pub(crate) fn open_store<R: Runtime, M: tauri::Manager<R>>(
    manager: &M,
    path: &Path,
) -> Result<Arc<Store<R>>, PluginStoreError> {
    let store: Arc<Store<R>> = StoreBuilder::new(manager, path)
        .disable_auto_save()
        .build()
        .map_err(|source| PluginStoreError::Open {
            path: path.to_owned(),
            source,
        })?;
    store.close_resource();
    if manager.get_store(path).is_some() {
        return Err(PluginStoreError::StillRegistered {
            path: path.to_owned(),
        });
    }
    Ok(store)
}

impl PendingStore for PluginPendingStore {
    fn append(&mut self, change: &[Op]) -> Result<(), StoreError> {
        self.journal.append(change)
    }
}
