//! The desk's log files: IT's settings, the size rotation, and the scan
//! that proves no code, token or full number reached them.

mod log_support;

use std::io::Write;
use std::path::Path;

use countersign::config::it_policy::{self, Discovered};
use countersign::logfile::{LogSettings, RotatingFile, LOG_FILE_NAME};
use log_support::{scan, Secrets};

const MB: u64 = 1024 * 1024;

fn discovered(toml: &str) -> Discovered {
    Discovered {
        policy: it_policy::parse(toml, false),
        system: true,
        ignored_explicit: None,
    }
}

#[test]
fn log_settings_default_to_info_5_mb_and_10_files() {
    let settings = LogSettings::from_policy(&discovered(""));
    assert_eq!(
        settings,
        LogSettings {
            level: "info".to_owned(),
            max_bytes: 5 * MB,
            files_kept: 10,
        }
    );
    assert_eq!(settings, LogSettings::default());
}

#[test]
fn it_sets_the_log_level_and_retention_in_either_table() {
    let locked = LogSettings::from_policy(&discovered(
        "[locked]\nlog_level = \"debug\"\nlog_file_size_mb = 20\nlog_files_kept = 3\n",
    ));
    assert_eq!(
        (locked.level.as_str(), locked.max_bytes, locked.files_kept),
        ("debug", 20 * MB, 3)
    );
    let provisioned = LogSettings::from_policy(&discovered("[defaults]\nlog_level = \"WARN\"\n"));
    assert_eq!(provisioned.level, "warn");
}

#[test]
fn bad_log_values_are_refused_with_the_key_named() {
    for (toml, says) in [
        (
            "[locked]\nlog_level = \"trace\"",
            "error, warn, info or debug",
        ),
        ("[locked]\nlog_file_size_mb = 0", "between 1 and 100 MB"),
        ("[locked]\nlog_files_kept = 51", "between 1 and 50 files"),
    ] {
        let err = it_policy::parse(toml, false).unwrap_err().to_string();
        assert!(err.contains(says), "{toml}: {err}");
    }
    // A broken policy still logs, at the defaults: the desk says why it
    // refuses to send.
    assert_eq!(
        LogSettings::from_policy(&discovered("[locked]\nlog_level = 7")),
        LogSettings::default()
    );
}

#[test]
fn debug_is_for_the_desk_s_own_crates_only() {
    let debug = LogSettings {
        level: "debug".to_owned(),
        ..LogSettings::default()
    };
    assert_eq!(
        debug.filter_directives(),
        "info,countersign=debug,countersign_desk=debug"
    );
    let warn = LogSettings {
        level: "warn".to_owned(),
        ..LogSettings::default()
    };
    assert_eq!(
        warn.filter_directives(),
        "warn,countersign=warn,countersign_desk=warn"
    );
}

fn settings(max_bytes: u64, files_kept: u32) -> LogSettings {
    LogSettings {
        level: "info".to_owned(),
        max_bytes,
        files_kept,
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn read(dir: &Path, n: u32) -> String {
    std::fs::read_to_string(RotatingFile::path(dir, n)).unwrap()
}

#[test]
fn a_full_file_starts_the_next_and_only_the_newest_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let mut file = RotatingFile::open(&logs, &settings(20, 3)).unwrap();
    // Ten-byte lines: two fit in a file.
    for i in 0..7 {
        file.write_all(format!("line {i:04}\n").as_bytes()).unwrap();
    }
    assert_eq!(
        files(&logs),
        [LOG_FILE_NAME, "countersign.log.1", "countersign.log.2"]
    );
    assert_eq!(read(&logs, 0), "line 0006\n");
    assert_eq!(read(&logs, 1), "line 0004\nline 0005\n");
    assert_eq!(read(&logs, 2), "line 0002\nline 0003\n");
}

#[test]
fn a_line_longer_than_a_file_is_written_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = RotatingFile::open(dir.path(), &settings(8, 2)).unwrap();
    file.write_all(b"a line of twenty-two\n").unwrap();
    file.write_all(b"next\n").unwrap();
    assert_eq!(read(dir.path(), 1), "a line of twenty-two\n");
    assert_eq!(read(dir.path(), 0), "next\n");
}

#[test]
fn a_restart_continues_the_file_and_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = RotatingFile::open(dir.path(), &settings(20, 2)).unwrap();
    first.write_all(b"line 0001\n").unwrap();
    drop(first);
    let mut second = RotatingFile::open(dir.path(), &settings(20, 2)).unwrap();
    second.write_all(b"line 0002\n").unwrap();
    assert_eq!(read(dir.path(), 0), "line 0001\nline 0002\n");
    second.write_all(b"line 0003\n").unwrap();
    assert_eq!(read(dir.path(), 1), "line 0001\nline 0002\n");
    assert_eq!(read(dir.path(), 0), "line 0003\n");
}

#[test]
fn one_file_kept_means_the_full_one_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = RotatingFile::open(dir.path(), &settings(10, 1)).unwrap();
    file.write_all(b"line 0001\n").unwrap();
    file.write_all(b"line 0002\n").unwrap();
    assert_eq!(files(dir.path()), [LOG_FILE_NAME]);
    assert_eq!(read(dir.path(), 0), "line 0002\n");
}

#[cfg(unix)]
#[test]
fn the_log_folder_and_files_are_the_owner_s_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let mut file = RotatingFile::open(&logs, &settings(MB, 2)).unwrap();
    file.write_all(b"x\n").unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&logs), 0o700);
    assert_eq!(mode(&logs.join(LOG_FILE_NAME)), 0o600);
}

// ------------------------------------------------------------ the scan

const CODE: &str = "483920";
const TOKEN: &str = "tok-3f9a0c2e";

fn secrets() -> Secrets {
    Secrets::default()
        .code(CODE)
        .token(TOKEN)
        .number("+447400123456", "07400 123456")
}

fn write_log(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

const CLEAN: &str = "\
2026-12-01T10:00:00.123Z  INFO countersign::desk: code sent to=+44 7400 ****56 id=v-1 port=48392
2026-12-01T10:00:01.456Z DEBUG countersign::gateway::restcomm: SMS accepted by the gateway sid=SM4839201 status=Sending
2026-12-01T10:00:02.789Z  INFO countersign_desk: verification ended outcome=approved attempts=1
";

#[test]
fn a_clean_log_passes() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), LOG_FILE_NAME, CLEAN);
    assert_eq!(scan(dir.path(), &secrets()).unwrap(), []);
}

#[test]
fn a_planted_code_token_or_number_is_caught_in_any_file() {
    for (planted, what) in [
        ("body=\"Countersign code 483920 for Loan\"", "code #1"),
        ("auth=tok-3f9a0c2e", "the auth token"),
        ("to=+447400123456", "the number +447400123456"),
        ("to=447400123456", "the number +447400123456"),
        ("typed=\"07400 123456\"", "the number +447400123456"),
        ("typed=07400123456", "the number +447400123456"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        write_log(dir.path(), LOG_FILE_NAME, CLEAN);
        write_log(
            dir.path(),
            "countersign.log.3",
            &format!("{CLEAN}2026-12-01T10:00:03.000Z  WARN countersign_desk: {planted}\n"),
        );
        let leaks = scan(dir.path(), &secrets()).unwrap();
        assert_eq!(leaks.len(), 1, "{planted}: {leaks:?}");
        assert_eq!(leaks[0].file, dir.path().join("countersign.log.3"));
        assert_eq!(leaks[0].line, 4, "{planted}");
        assert_eq!(leaks[0].what, what, "{planted}");
    }
}
