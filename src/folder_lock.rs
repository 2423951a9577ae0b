//! One writer per data folder (S20).
//!
//! Two desks on one folder would each keep their own copy of the pending
//! list and overwrite each other's: each would give its own tries on one
//! code, approve the right code in both, and fork the audit chain. So the
//! app takes an exclusive OS lock on `countersign.lock` in the folder before
//! it reads anything there, and holds it for the life of the process.
//!
//! The lock is the OS's (`flock` on Unix, `LockFileEx` on Windows, through
//! [`std::fs::File::try_lock`]): it goes with the process, however that
//! ends, so a crash never leaves the folder locked. The holder writes its
//! process id into the file, but only for the message a second desk shows;
//! the content decides nothing.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The lock file's name in the data folder.
pub const LOCK_FILE: &str = "countersign.lock";

/// Why a data folder could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum FolderLockError {
    /// Another process holds the lock.
    #[error(
        "The data folder {} is in use by another Countersign{}. Close that one first: two desks on one folder would overwrite each other's pending codes and audit trail.",
        dir.display(),
        holder.map(|p| format!(" (process {p})")).unwrap_or_default()
    )]
    InUse {
        dir: PathBuf,
        /// The holder's process id, as it wrote it (for the message only).
        holder: Option<u32>,
    },
    /// The folder or its lock file cannot be made or locked at all.
    #[error("The data folder {} cannot be locked for this Countersign: {source}", dir.display())]
    Unusable {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl FolderLockError {
    /// The folder concerned.
    pub fn dir(&self) -> &Path {
        match self {
            Self::InUse { dir, .. } | Self::Unusable { dir, .. } => dir,
        }
    }
}

/// The exclusive lock on one data folder; released when dropped (or when
/// the process ends).
/// How many 50 ms waits a lock that names this very process gets (1 s).
const OWN_PID_RETRIES: u32 = 20;

#[derive(Debug)]
pub struct DataFolderLock {
    dir: PathBuf,
    // Held open: closing it releases the lock.
    _file: File,
}

impl DataFolderLock {
    /// Takes the lock on `dir`, making the folder if it does not exist yet.
    /// Never waits: a folder another process holds is an error at once.
    pub fn acquire(dir: &Path) -> Result<Self, FolderLockError> {
        let unusable = |source| FolderLockError::Unusable {
            dir: dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(unusable)?;
        // Never truncated on open: the holder's pid stays readable.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(LOCK_FILE))
            .map_err(unusable)?;
        let mut tries = 0;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let holder = read_holder(&mut file);
                    // A lock this process has just let go can stay held for
                    // an instant by a child another thread forked and has
                    // not yet exec'd (close-on-exec acts at exec): wait out
                    // that window, for our own pid only; another process's
                    // lock is refused at once.
                    if holder == Some(std::process::id()) && tries < OWN_PID_RETRIES {
                        tries += 1;
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        continue;
                    }
                    return Err(FolderLockError::InUse {
                        dir: dir.to_owned(),
                        holder,
                    });
                }
                Err(TryLockError::Error(e)) => return Err(unusable(e)),
            }
        }
        // For a second desk's message only; a failure here changes nothing.
        let _ = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{}", std::process::id()));
        Ok(Self {
            dir: dir.to_owned(),
            _file: file,
        })
    }

    /// The folder this lock holds.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The pid the holder wrote, if it can be read (Windows locks the bytes).
fn read_holder(file: &mut File) -> Option<u32> {
    file.seek(SeekFrom::Start(0)).ok()?;
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holder_writes_its_pid_and_the_second_desk_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let held = DataFolderLock::acquire(dir.path()).unwrap();
        assert_eq!(held.dir(), dir.path());
        let text = std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());
        let err = DataFolderLock::acquire(dir.path()).unwrap_err();
        assert!(
            matches!(err, FolderLockError::InUse { holder: Some(p), .. } if p == std::process::id()),
            "{err:?}"
        );
    }

    #[test]
    fn a_folder_that_cannot_be_made_is_unusable_not_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, "").unwrap();
        let err = DataFolderLock::acquire(&file.join("data")).unwrap_err();
        assert!(matches!(err, FolderLockError::Unusable { .. }), "{err:?}");
        assert!(err.to_string().contains("a-file"), "{err}");
    }
}
