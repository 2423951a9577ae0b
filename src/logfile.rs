//! The desk's log files: `countersign.log` in the OS log folder, a new one
//! started when it reaches IT's size (`log_file_size_mb`), and at most
//! `log_files_kept` files in all (`countersign.log.1` is the newest old
//! one). A Windows build has no console, so without these files it would
//! have no log at all.
//!
//! Written here rather than with a crate: `tracing-appender` rotates by time
//! only, and `file-rotate` 0.8 panics when it cannot create its folder
//! (`expect("create dir")`), which would stop the desk at start; this needs
//! neither compression nor dates. Each write is one whole line (the `fmt`
//! layer writes an event in one `write_all`), and a file is only ever
//! switched between writes, so no line is split across files.
//!
//! What goes in is the same as on stderr: never a code, a token or a full
//! number (the tests scan the files after a real run).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::it_policy::Discovered;
use crate::config::Key;

/// The file being written; older ones carry `.1`, `.2`, … (newest first).
pub const LOG_FILE_NAME: &str = "countersign.log";

/// What IT chose for the log files (`log_level`, `log_file_size_mb`,
/// `log_files_kept`), each a built-in default where the policy is silent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSettings {
    /// `error`, `warn`, `info` or `debug`.
    pub level: String,
    pub max_bytes: u64,
    /// Files in all, the one being written included; at least 1.
    pub files_kept: u32,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self::from_values(|_| None)
    }
}

impl LogSettings {
    /// The policy's values (IT-only keys: `[locked]` or `[defaults]`).
    /// A broken policy file gives the defaults: the desk still logs why it
    /// refuses to send.
    pub fn from_policy(policy: &Discovered) -> Self {
        match &policy.policy {
            Ok(p) => {
                let layers = p.layers(Default::default());
                Self::from_values(|k| layers.get(k).cloned())
            }
            Err(_) => Self::default(),
        }
    }

    fn from_values(get: impl Fn(Key) -> Option<Value>) -> Self {
        // Values from a parsed policy passed their check; anything else reads
        // as the default.
        let checked = |k: Key| {
            get(k)
                .and_then(|v| k.check(&v).ok())
                .unwrap_or_else(|| k.default_value())
        };
        let number = |k: Key| checked(k).as_u64().unwrap_or(1).max(1);
        Self {
            level: checked(Key::LogLevel).as_str().unwrap_or("info").to_owned(),
            max_bytes: number(Key::LogFileSizeMb).saturating_mul(1024 * 1024),
            files_kept: u32::try_from(number(Key::LogFilesKept)).unwrap_or(1),
        }
    }

    /// A `tracing` filter: `level` for the desk's own crates, never more
    /// than `info` for the libraries under them, whose debug lines may hold
    /// request bodies (codes) or headers (the token).
    pub fn filter_directives(&self) -> String {
        let others = match self.level.as_str() {
            "error" | "warn" => self.level.as_str(),
            _ => "info",
        };
        let own = &self.level;
        format!("{others},countersign={own},countersign_desk={own}")
    }
}

/// A file writer that starts a new file past `max_bytes` and keeps at most
/// `files_kept` files.
#[derive(Debug)]
pub struct RotatingFile {
    dir: PathBuf,
    max_bytes: u64,
    files_kept: u32,
    file: File,
    size: u64,
}

impl RotatingFile {
    /// Opens (or creates) `dir/countersign.log` for appending, creating the
    /// folder (owner-only on Unix: lines name operators and masked numbers).
    pub fn open(dir: &Path, settings: &LogSettings) -> io::Result<Self> {
        create_private_dir(dir)?;
        let file = crate::persist::open_append_owner_only(&dir.join(LOG_FILE_NAME))?;
        let size = file.metadata()?.len();
        Ok(Self {
            dir: dir.to_owned(),
            max_bytes: settings.max_bytes.max(1),
            files_kept: settings.files_kept.max(1),
            file,
            size,
        })
    }

    /// `countersign.log` for `0`, else `countersign.log.N`.
    pub fn path(dir: &Path, n: u32) -> PathBuf {
        match n {
            0 => dir.join(LOG_FILE_NAME),
            n => dir.join(format!("{LOG_FILE_NAME}.{n}")),
        }
    }

    /// Moves every file one place older, drops the oldest beyond the
    /// count, and starts an empty `countersign.log`.
    fn rotate(&mut self) -> io::Result<()> {
        let oldest = self.files_kept - 1;
        remove_if_present(&Self::path(&self.dir, oldest))?;
        for n in (0..oldest).rev() {
            let from = Self::path(&self.dir, n);
            if from.exists() {
                fs::rename(&from, Self::path(&self.dir, n + 1))?;
            }
        }
        // With one file kept, the old one was removed above.
        self.file = crate::persist::open_append_owner_only(&Self::path(&self.dir, 0))?;
        self.size = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let len = buf.len() as u64;
        if self.size > 0 && self.size.saturating_add(len) > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(buf)?;
        self.size = self.size.saturating_add(len);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
