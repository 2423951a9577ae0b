//! Pending verifications in the plugin-managed store, made durable.
//!
//! tauri-plugin-store owns `pending.json` (it resolves and registers the
//! file), but its own save is a truncate-and-write and its load swallows
//! errors, and every `set` broadcasts the value to the webviews. So:
//! - the file is checked (and a corrupt one quarantined) by the core before
//!   the plugin ever loads it;
//! - auto-save is off and `set` is never used (digests and sealed numbers
//!   must not reach a webview, S18);
//! - each change is written with the core's atomic write, then the plugin's
//!   copy is refreshed from disk (`reload_ignore_defaults`, which emits no
//!   event);
//! - the store is taken out of the plugin's registry as soon as it is open
//!   ([`open_store`]): on `RunEvent::Exit` the plugin saves every store
//!   still registered with a plain `fs::write`, which would rewrite the
//!   file non-atomically at every close, and put back its own stale copy
//!   after a failed refresh.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use countersign::persist::{FileStore, PendingDocument, PendingStore, StoreError};
use tauri::Runtime;
use tauri_plugin_store::{Store, StoreBuilder, StoreExt};

pub struct PluginPendingStore {
    file: FileStore,
    refresh: Box<dyn Fn() -> Result<(), String> + Send>,
}

impl PluginPendingStore {
    /// Registers `path` with the store plugin. Call only after the core has
    /// checked the file.
    pub fn open<R: Runtime, M: tauri::Manager<R>>(
        manager: &M,
        path: PathBuf,
    ) -> Result<Self, String> {
        let store = open_store(manager, &path)?;
        let refresh = Box::new(move || store.reload_ignore_defaults().map_err(|e| e.to_string()));
        Ok(Self {
            file: FileStore::new(path),
            refresh,
        })
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
) -> Result<Arc<Store<R>>, String> {
    let store: Arc<Store<R>> = StoreBuilder::new(manager, path)
        .disable_auto_save()
        .build()
        .map_err(|e| format!("the store plugin could not open {}: {e}", path.display()))?;
    store.close_resource();
    if manager.get_store(path).is_some() {
        return Err(format!(
            "the store plugin would still write {} at exit",
            path.display()
        ));
    }
    Ok(store)
}

impl PendingStore for PluginPendingStore {
    fn save(&mut self, doc: &PendingDocument) -> Result<(), StoreError> {
        self.file.save(doc)?;
        // The file is already durable; a stale plugin copy is not worth
        // failing the operator's action for.
        if let Err(e) = (self.refresh)() {
            tracing::warn!(error = %e, "store plugin could not reload pending.json");
        }
        Ok(())
    }
}
