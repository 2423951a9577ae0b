//! S20: one writer per data folder, from the shell's side. A second desk on
//! a folder in use does not start and touches nothing in it, whether it is
//! built in this process (`run_app`, as tests and `main` build it) or is
//! the real `countersign` binary; a shell that shuts down lets go of its
//! folder and writes nothing more. And within the one process, the core is
//! the only writer: the store plugin never rewrites `pending.json` or
//! `settings.json`, not even at exit.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use countersign::folder_lock::DataFolderLock;
use countersign_desk::shell::Shell;
use serde_json::json;
use support::{id_of, open, try_open};
use tauri::test::mock_builder;
use tauri::utils::config::AppDirectoriesOverride;
use tauri::{Manager, RunEvent};

/// What a file is, for "nothing changed": size, modification time, inode
/// (a replaced file has a new one) and the bytes themselves.
#[derive(Clone, PartialEq)]
struct Seen {
    len: u64,
    modified: SystemTime,
    inode: u64,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = String::from_utf8_lossy(&self.bytes);
        f.debug_struct("Seen")
            .field("len", &self.len)
            .field("modified", &self.modified)
            .field("inode", &self.inode)
            .field("starts", &text.chars().take(40).collect::<String>())
            .finish()
    }
}

/// Every file and folder under `dir`, by path relative to it.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Seen>> {
    let mut seen = BTreeMap::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(folder) = todo.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(dir).unwrap().to_owned();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                todo.push(path);
                seen.insert(rel, None);
                continue;
            }
            seen.insert(
                rel,
                Some(Seen {
                    len: meta.len(),
                    modified: meta.modified().unwrap(),
                    inode: inode(&meta),
                    bytes: std::fs::read(&path).unwrap(),
                }),
            );
        }
    }
    seen
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}

/// A desk that has been used: key, pending list, settings and audit log.
fn used_folder(data: &Path) {
    let desk = open(data);
    desk.start("07400 123456");
}

#[test]
fn s20_a_second_desk_on_a_folder_in_use_does_not_build_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = open(&data);
    let id = id_of(&first.start("07400 123457"));
    let before = snapshot(&data);
    assert!(before.contains_key(Path::new("pending.json")), "{before:?}");

    let second = try_open(&data, None, &[], Vec::new());
    let message = match second {
        Ok(_) => panic!("the second desk is refused"),
        Err(e) => e.to_string(),
    };
    assert!(
        message.contains(&data.display().to_string()),
        "the folder is named: {message}"
    );
    assert!(message.contains("another Countersign"), "{message}");
    assert_eq!(
        snapshot(&data),
        before,
        "the second desk changed the folder"
    );

    // The first desk carries on, alone.
    let pending = first.call("list_pending", json!({})).unwrap();
    assert_eq!(pending[0]["id"], id.as_str());
}

#[test]
fn s20_shutdown_stops_writing_and_releases_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let desk = open(&data);
    let id = id_of(&desk.start("07400 123458"));
    desk.app.state::<Shell>().shutdown();
    let before = snapshot(&data);

    // Later commands are refused rather than written: the desk is closed,
    // the settings file too (sign-in still answers, remembering nothing).
    let err = desk.check(&id, "000000").unwrap_err();
    assert_eq!(err["kind"], "desk_unavailable", "{err}");
    assert_eq!(
        desk.try_start("07400 123459").unwrap_err()["kind"],
        "desk_unavailable"
    );
    desk.call("sign_in", json!({"staffId": "S77", "name": "Late Comer"}))
        .unwrap();
    let save = desk.call("settings_save", json!({"changes": {"brand": "Late"}}));
    assert_eq!(save.unwrap_err()["kind"], "storage");
    // A sweep or tracker that was running would have had a second to write.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(snapshot(&data), before, "written after shutdown");

    // The folder is free for the next desk, with the state the first left.
    let lock = DataFolderLock::acquire(&data).expect("released at shutdown");
    drop(lock);
    desk.app.state::<Shell>().shutdown(); // Idempotent.
    let next = open(&data);
    let pending = next.call("list_pending", json!({})).unwrap();
    assert_eq!(pending[0]["id"], id.as_str());
}

#[test]
fn s20_the_folder_run_locks_is_the_one_tauri_uses() {
    let dir = tempfile::tempdir().unwrap();
    let resolved = |over: Option<AppDirectoriesOverride>| {
        let mut context = tauri::generate_context!();
        context.config_mut().app.app_directories_override = over;
        let expected = countersign_desk::data_folder(&context);
        // Built without `run_app`: nothing is opened or made.
        let app = mock_builder().build(context).unwrap();
        (expected, app.path().app_local_data_dir().unwrap())
    };
    let root = dir.path().join("portable").join(".").join("desk");
    let (expected, actual) = resolved(Some(AppDirectoriesOverride::Root(root)));
    assert_eq!(expected, Some(actual));
    let (expected, actual) = resolved(None);
    assert_eq!(expected, Some(actual));
    assert!(!dir.path().join("portable").exists());
}

/// The log folder `run` opens before the app is built is the one Tauri's
/// `app_log_dir` names: with a root override (tests, portable desks, a
/// system policy's pinned folder) its `logs` folder, else the OS's.
#[test]
fn the_log_folder_run_opens_is_the_one_tauri_names() {
    let dir = tempfile::tempdir().unwrap();
    let resolved = |over: Option<AppDirectoriesOverride>| {
        let mut context = tauri::generate_context!();
        context.config_mut().app.app_directories_override = over;
        let expected = countersign_desk::shell::logging::log_folder(&context);
        let app = mock_builder().build(context).unwrap();
        (expected, app.path().app_log_dir().unwrap())
    };
    let root = dir.path().join("portable").join(".").join("desk");
    let (expected, actual) = resolved(Some(AppDirectoriesOverride::Root(root.clone())));
    assert_eq!(expected, Some(actual));
    assert_eq!(
        expected,
        Some(dir.path().join("portable").join("desk").join("logs"))
    );
    let (expected, actual) = resolved(None);
    assert_eq!(expected, Some(actual));
    assert!(!dir.path().join("portable").exists(), "nothing is made");
}

/// The real app, started on a folder another process holds: it exits with
/// an error naming the folder before it reads or writes anything there,
/// and before it needs a display (there is none in its environment).
#[test]
fn s20_the_countersign_binary_refuses_a_folder_in_use_and_touches_nothing() {
    for system in countersign::config::it_policy::system_locations() {
        assert!(
            !system.exists(),
            "{} exists: the binary would follow that policy, not this test's folder",
            system.display()
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    used_folder(&data);
    let held = DataFolderLock::acquire(&data).expect("this test holds the folder");
    let before = snapshot(&data);

    let mut child = Command::new(env!("CARGO_BIN_EXE_countersign"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("COUNTERSIGN_DATA_DIR", &data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the app starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the app did not exit on a folder in use");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "it exited 0: {stderr}");
    assert!(
        stderr.contains(&data.display().to_string()) && stderr.contains("another Countersign"),
        "stderr names the folder and why: {stderr}"
    );
    assert_eq!(
        snapshot(&data),
        before,
        "the refused app changed the folder"
    );
    assert_eq!(
        std::fs::read_dir(&home).unwrap().count(),
        0,
        "nothing was made in HOME either"
    );
    drop(held);
}

/// tauri-plugin-store saves every store still registered with it on
/// `RunEvent::Exit`, with a plain (non-atomic) `fs::write`. The app closes
/// here the way a desk user closes it: the last window closes, the event
/// loop (the mock runtime's own `run`) asks to exit and exits, the plugins
/// and the app's own handler (`on_run_event`) see `RunEvent::Exit`. Neither
/// store file may have been written: same inode, bytes and mtime.
#[test]
fn closing_the_window_exits_without_the_store_plugin_rewriting_pending_or_settings() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let desk = open(&data);
    desk.start("07400 123450");
    // Until the SMS is delivered: its tracker then stops, and nothing but
    // an exit could write the pending list.
    let deadline = Instant::now() + Duration::from_secs(30);
    while desk.call("list_pending", json!({})).unwrap()[0]["delivery"]["state"] != "delivered" {
        assert!(Instant::now() < deadline, "never delivered");
        std::thread::sleep(Duration::from_millis(200));
    }
    let files = ["pending.json", "settings.json"];
    // An old mtime: any write at exit shows, however coarse the clock of
    // the file system.
    let long_ago = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    for f in files {
        let file = std::fs::File::options()
            .write(true)
            .open(data.join(f))
            .unwrap();
        file.set_modified(long_ago).unwrap();
    }
    let seen = |files: &[&str]| {
        let all = snapshot(&data);
        files
            .iter()
            .map(|f| all.get(Path::new(f)).cloned().flatten())
            .collect::<Vec<_>>()
    };
    let before = seen(&files);
    assert!(before.iter().all(Option::is_some), "both files exist");

    let support::Desk { app, window, .. } = desk;
    app.run(move |handle, event| {
        if let RunEvent::Ready = event {
            window.close().expect("the window closes");
        }
        countersign_desk::on_run_event(handle, &event);
    });

    // The exit went through the app's own handler: it recorded the stop
    // and let go of the folder.
    let log = std::fs::read_to_string(data.join("audit.jsonl")).unwrap();
    assert!(log.contains("app_stopped"), "{log}");
    DataFolderLock::acquire(&data).expect("released at exit");
    assert_eq!(
        seen(&files),
        before,
        "the store plugin rewrote a file at exit"
    );
}
