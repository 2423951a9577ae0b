//! S20: one writer per data folder. A second lock on a held folder fails,
//! naming the folder, whether the holder is this process or another one;
//! the lock goes with its holder.
//!
//! The other process is a child copy of this test binary that runs one
//! `#[ignore]`d scenario with the folder passed on its command line's
//! environment (set on the child only: changing this multi-threaded
//! process's environment is unsound). It takes the lock, says so on
//! stdout, and holds it until its stdin closes.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use countersign::folder_lock::{DataFolderLock, FolderLockError, LOCK_FILE};

/// Set in the child: the folder it is to hold.
const HOLD: &str = "COUNTERSIGN_TEST_HOLD_FOLDER";

#[test]
fn s20_a_second_lock_on_a_held_folder_fails_naming_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("desk data");
    let first = DataFolderLock::acquire(&data).expect("the first desk locks its folder");
    let err = DataFolderLock::acquire(&data).expect_err("a second desk is refused");
    let message = err.to_string();
    assert!(matches!(err, FolderLockError::InUse { .. }), "{err:?}");
    assert!(
        message.contains(&data.display().to_string()),
        "the folder is named: {message}"
    );
    assert!(
        message.contains("another Countersign"),
        "the reason is given: {message}"
    );
    assert_eq!(err.dir(), data);
    drop(first);
    let again = DataFolderLock::acquire(&data).expect("released on drop");
    assert_eq!(again.dir(), data);
}

#[test]
fn s20_the_lock_is_the_os_lock_not_the_file_s_content() {
    let dir = tempfile::tempdir().unwrap();
    // A lock file left behind (a crash, a copied folder) does not lock.
    std::fs::write(dir.path().join(LOCK_FILE), "1\n").unwrap();
    let held = DataFolderLock::acquire(dir.path()).expect("a stale file does not lock");
    // Emptying or rewriting the file does not unlock (Unix: on Windows the
    // locked bytes cannot be written at all).
    #[cfg(unix)]
    std::fs::write(dir.path().join(LOCK_FILE), "").unwrap();
    assert!(DataFolderLock::acquire(dir.path()).is_err());
    drop(held);
}

#[test]
fn s20_a_folder_another_process_holds_cannot_be_locked_until_it_exits() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, mut stdout) = hold_in_child(dir.path());
    let err = DataFolderLock::acquire(dir.path()).expect_err("the child holds it");
    let message = err.to_string();
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
    assert!(
        matches!(err, FolderLockError::InUse { holder: Some(pid), .. } if pid == child.id()),
        "the holder's pid is named: {err:?}"
    );
    // Closing its stdin lets the child end; the lock goes with it.
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "child failed: {rest}");
    DataFolderLock::acquire(dir.path()).expect("free once the holder has exited");
}

/// Starts the holder and waits until it says it holds the lock.
fn hold_in_child(dir: &Path) -> (Child, BufReader<ChildStdout>) {
    let exe = std::env::current_exe().expect("the test binary");
    let mut child = Command::new(exe)
        .args([
            "child_holds_the_folder",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOLD, dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the child starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        let n = stdout.read_line(&mut line).unwrap();
        assert!(n > 0, "the child ended without taking the lock");
        // libtest may print the test's name on the same line first.
        if line.trim_end().ends_with("HOLDING") {
            break;
        }
    }
    (child, stdout)
}

/// The child's side: nothing unless started by the test above.
#[test]
#[ignore = "run by s20_a_folder_another_process_holds_cannot_be_locked_until_it_exits in a child process"]
fn child_holds_the_folder() {
    let Some(dir) = std::env::var_os(HOLD) else {
        return;
    };
    let lock = DataFolderLock::acquire(Path::new(&dir)).expect("the child locks the folder");
    let mut out = std::io::stdout();
    writeln!(out, "HOLDING").unwrap();
    out.flush().unwrap();
    // Until the parent closes our stdin.
    let mut sink = Vec::new();
    std::io::stdin().read_to_end(&mut sink).unwrap();
    drop(lock);
}
