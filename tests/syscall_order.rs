//! The order in which one change and one compaction reach the disk, seen at
//! the system-call level: a dropped or misplaced fsync fails here, though
//! nothing else notices it until a power cut.
//!
//! The test binary re-executes itself (`syscall_order_child`, inert unless
//! `COUNTERSIGN_SYSCALL_ORDER_DIR` is set on the child) under
//! `strace -f -y`, which names each file descriptor's path. The child opens
//! a `JournalStore` in a fresh folder, appends one change, prints
//! [`MARKER`], compacts once and exits. From the trace, the parent requires:
//!
//! 1. the change: a write to `pending.journal`, then an fdatasync (or fsync)
//!    of `pending.journal` with no other write to it between, all before the
//!    append returned (the marker's write);
//! 2. the compaction: writes to the snapshot's temp file, its fsync, its
//!    rename onto `pending.json`, then an fsync of the data folder; after
//!    that folder fsync (the snapshot is durable before journal records are
//!    dropped), the journal's new form — a temp file fsync'ed and renamed
//!    onto `pending.journal`, or the journal truncated and fsync'ed — and
//!    again a folder fsync.
//!
//! Needs `strace` (`scripts/setup.sh` installs it) and the right to ptrace a
//! child, which root and a normal user both have unless the container
//! forbids it; then the test fails with what strace said.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use countersign::clock::Timestamp;
use countersign::journal::{journal_path, JournalStore, OpenOptions};
use countersign::keys::{DigestKey, NumberId};
use countersign::persist::{Op, PendingStore};
use rand::rngs::StdRng;
use rand::SeedableRng;

const CHILD_ENV: &str = "COUNTERSIGN_SYSCALL_ORDER_DIR";
const CHILD_TEST: &str = "syscall_order_child";
/// Printed by the child once the append has returned `Ok`.
const MARKER: &str = "SYSCALL_ORDER_CHANGE_ACKNOWLEDGED";
const TRACED: &str = "openat,write,pwrite64,fsync,fdatasync,rename,renameat,renameat2,ftruncate";

// ---------------------------------------------------------------- child --

#[test]
#[ignore = "run by one_change_and_one_compaction_reach_the_disk_in_order, in a child process"]
fn syscall_order_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let snapshot = Path::new(&dir).join("pending.json");
    let key = DigestKey::generate(&mut StdRng::seed_from_u64(11));
    let now = Timestamp::from_millis(1_800_000_000_000);
    let opened = JournalStore::open(&snapshot, &key, &OpenOptions::default(), now).unwrap();
    assert!(opened.set_aside.is_none());
    let mut store = opened.store;
    store
        .append(&[Op::Send {
            number: NumberId::parse(&"ab".repeat(32)).unwrap(),
            at: now,
        }])
        .unwrap();
    // One write(2), so the trace shows exactly where the append returned.
    let mut out = std::io::stdout().lock();
    out.write_all(format!("{MARKER}\n").as_bytes()).unwrap();
    out.flush().unwrap();
    drop(out);
    store.compact_now().unwrap();
    assert_eq!(
        store.sizes().unwrap().0,
        0,
        "the compaction emptied the journal"
    );
}

// -------------------------------------------------------------- the trace --

/// One traced call, completed (an `<unfinished ...>` line joined with its
/// `<... resumed>` line).
#[derive(Debug)]
struct Call {
    name: String,
    /// The first argument's path, from `-y` (`5</dir/pending.journal>`).
    fd_path: Option<String>,
    /// The quoted string arguments, unescaped (paths for openat/rename).
    strings: Vec<String>,
    /// The call succeeded (its result is not `-1 E…`).
    ok: bool,
    /// The path of a returned descriptor (openat).
    ret_path: Option<String>,
    line: String,
}

/// Drops `[pid N] ` or `N ` (strace `-f`, to a terminal or with `-o`).
fn strip_pid(line: &str) -> (String, &str) {
    if let Some(rest) = line.strip_prefix("[pid ") {
        if let Some((pid, rest)) = rest.split_once(']') {
            return (pid.trim().to_owned(), rest.trim_start());
        }
    }
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && line[digits..].starts_with(' ') {
        return (line[..digits].to_owned(), line[digits..].trim_start());
    }
    (String::new(), line)
}

/// `"…"` (maybe followed by `...`, strace's truncation) → its text.
fn unquote(token: &str) -> Option<String> {
    let mut chars = token.strip_prefix('"')?.chars();
    let mut out = String::new();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// `5</a/b>` → `/a/b`.
fn fd_path(token: &str) -> Option<String> {
    let start = token.find('<')?;
    let end = token.rfind('>')?;
    (end > start).then(|| token[start + 1..end].to_owned())
}

/// `name(args) = result`, args split at top-level commas.
fn parse_call(text: &str) -> Option<Call> {
    let open = text.find('(')?;
    let name = text[..open].trim();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let mut args = Vec::new();
    let mut current = String::new();
    let (mut quoted, mut escaped, mut angle) = (false, false, 0usize);
    let mut close = None;
    for (i, c) in text[open + 1..].char_indices() {
        if quoted {
            current.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => quoted = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                quoted = true;
                current.push(c);
            }
            '<' => {
                angle += 1;
                current.push(c);
            }
            '>' if angle > 0 => {
                angle -= 1;
                current.push(c);
            }
            ',' if angle == 0 => args.push(std::mem::take(&mut current).trim().to_owned()),
            ')' if angle == 0 => {
                close = Some(open + 1 + i);
                break;
            }
            c => current.push(c),
        }
    }
    let close = close?;
    args.push(current.trim().to_owned());
    let result = text[close + 1..].trim_start().strip_prefix('=')?.trim();
    Some(Call {
        name: name.to_owned(),
        fd_path: args.first().and_then(|a| {
            a.starts_with(|c: char| c.is_ascii_digit())
                .then(|| fd_path(a))
                .flatten()
        }),
        strings: args.iter().filter_map(|a| unquote(a)).collect(),
        ok: !result.starts_with('-') && !result.starts_with('?'),
        ret_path: fd_path(result.split_whitespace().next().unwrap_or("")),
        line: text.to_owned(),
    })
}

/// Every completed call in an `strace -f -y` output, in completion order.
fn parse_trace(text: &str) -> Vec<Call> {
    let mut unfinished: std::collections::HashMap<String, String> = Default::default();
    let mut calls = Vec::new();
    for line in text.lines() {
        let (pid, rest) = strip_pid(line);
        let whole = if let Some(head) = rest.strip_suffix("<unfinished ...>") {
            unfinished.insert(pid, head.trim_end().to_owned());
            continue;
        } else if let Some(after) = rest.strip_prefix("<... ") {
            let Some((_, tail)) = after.split_once("resumed>") else {
                continue;
            };
            let Some(head) = unfinished.remove(&pid) else {
                continue;
            };
            format!("{head}{tail}")
        } else {
            rest.to_owned()
        };
        if let Some(call) = parse_call(&whole) {
            calls.push(call);
        }
    }
    calls
}

// --------------------------------------------------------------- parent --

struct Trace<'a> {
    calls: &'a [Call],
}

impl Trace<'_> {
    /// The first call at or after `from` that `pred` accepts.
    fn find(&self, from: usize, pred: impl Fn(&Call) -> bool) -> Option<usize> {
        (from..self.calls.len()).find(|&i| pred(&self.calls[i]))
    }

    fn all(&self, pred: impl Fn(&Call) -> bool) -> Vec<usize> {
        (0..self.calls.len())
            .filter(|&i| pred(&self.calls[i]))
            .collect()
    }
}

fn is_write(c: &Call, path: &str) -> bool {
    matches!(c.name.as_str(), "write" | "pwrite64") && c.fd_path.as_deref() == Some(path)
}

fn is_sync(c: &Call, path: &str) -> bool {
    matches!(c.name.as_str(), "fsync" | "fdatasync") && c.fd_path.as_deref() == Some(path) && c.ok
}

fn is_rename_onto(c: &Call, target: &str) -> bool {
    matches!(c.name.as_str(), "rename" | "renameat" | "renameat2")
        && c.ok
        && c.strings.get(1).map(String::as_str) == Some(target)
}

/// The calls touching the data folder, for failure messages.
fn relevant(calls: &[Call], dir: &str) -> String {
    calls
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            c.fd_path.as_deref().is_some_and(|p| p.starts_with(dir))
                || c.ret_path.as_deref().is_some_and(|p| p.starts_with(dir))
                || c.strings
                    .iter()
                    .any(|s| s.starts_with(dir) || s.contains(MARKER))
        })
        .map(|(i, c)| {
            let mut line = c.line.clone();
            if line.len() > 200 {
                let mut cut = 200;
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                line.truncate(cut);
                line.push_str(" …");
            }
            format!("  #{i}: {line}\n")
        })
        .collect()
}

/// A temp file's life before `rename` at `renamed`: every write to it
/// precedes an fsync of it, which precedes the rename.
fn check_staged(t: &Trace, temp: &str, renamed: usize, what: &str, context: &str) {
    let created = t
        .find(0, |c| {
            c.name == "openat" && c.ok && c.ret_path.as_deref() == Some(temp)
        })
        .unwrap_or_else(|| panic!("{what}: no openat created {temp}\n{context}"));
    let last_write = t
        .all(|c| is_write(c, temp))
        .into_iter()
        .rfind(|&i| i > created && i < renamed);
    let synced_from = last_write.unwrap_or(created);
    let synced = t
        .find(synced_from + 1, |c| is_sync(c, temp))
        .filter(|&i| i < renamed)
        .unwrap_or_else(|| {
            panic!("{what}: {temp} was not fsync'ed after its last write and before its rename (#{renamed})\n{context}")
        });
    assert!(
        t.all(|c| is_write(c, temp))
            .iter()
            .all(|&i| i < synced || i > renamed),
        "{what}: {temp} was written after its fsync (#{synced})\n{context}"
    );
}

#[test]
fn one_change_and_one_compaction_reach_the_disk_in_order() {
    let root = tempfile::tempdir().unwrap();
    // Canonical, as `-y` prints descriptors' paths.
    let root_path = root.path().canonicalize().unwrap();
    let data = root_path.join("data");
    fs::create_dir(&data).unwrap();
    let trace_file = root_path.join("strace.txt");
    let exe = std::env::current_exe().unwrap();

    let output = Command::new("strace")
        .args(["-f", "-y", "-qq", "-s", "256", "-e"])
        .arg(format!("trace={TRACED}"))
        .arg("-o")
        .arg(&trace_file)
        .arg("--")
        .arg(&exe)
        .args([
            "--exact",
            CHILD_TEST,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &data)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "could not run strace ({e}): this test needs it; run scripts/setup.sh, which installs it"
            )
        });
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the traced child failed ({}); if strace could not trace it (ptrace refused), its message is here:\n--- stderr\n{stderr}\n--- stdout\n{stdout}",
        output.status
    );
    // Sanity: the child ran its test and got past the append.
    assert!(
        stdout.contains(MARKER) && stdout.contains("1 passed"),
        "the child did not run {CHILD_TEST} through:\n{stdout}\n{stderr}"
    );

    let text = fs::read_to_string(&trace_file).unwrap();
    let calls = parse_trace(&text);
    let t = Trace { calls: &calls };
    let path = |p: PathBuf| p.to_str().unwrap().to_owned();
    let dir = path(data.clone());
    let snapshot = path(data.join("pending.json"));
    let journal = path(journal_path(&data.join("pending.json")));
    let context = format!("calls on {dir}:\n{}", relevant(&calls, &dir));

    // Where the append returned: the marker's write.
    let markers = t.all(|c| {
        matches!(c.name.as_str(), "write" | "pwrite64")
            && c.strings.first().is_some_and(|s| s.contains(MARKER))
    });
    assert_eq!(
        markers.len(),
        1,
        "the marker's write should be in the trace once\n{context}"
    );
    let acked = markers[0];

    // 1. The change: written, then synced, before the append returned.
    let writes = t.all(|c| is_write(c, &journal));
    assert_eq!(
        writes.len(),
        1,
        "one change should be one write to {journal}\n{context}"
    );
    let written = writes[0];
    assert!(
        written < acked,
        "the change was written after the append returned\n{context}"
    );
    let synced = t
        .find(written + 1, |c| is_sync(c, &journal))
        .filter(|&i| i < acked)
        .unwrap_or_else(|| {
            panic!("the change's write (#{written}) was not followed by an fdatasync/fsync of {journal} before the append returned (#{acked})\n{context}")
        });
    assert!(calls[written].ok, "the change's write failed\n{context}");

    // 2. The compaction: the snapshot staged, renamed, the folder synced.
    let snap_renamed = t
        .find(acked + 1, |c| is_rename_onto(c, &snapshot))
        .unwrap_or_else(|| {
            panic!("the compaction did not rename a file onto {snapshot}\n{context}")
        });
    let snap_temp = calls[snap_renamed].strings[0].clone();
    assert!(
        Path::new(&snap_temp).parent() == Some(data.as_path())
            && Path::new(&snap_temp)
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".pending.json.tmp-")),
        "the snapshot should come from a temp file beside it, not {snap_temp}\n{context}"
    );
    assert!(
        t.all(|c| is_write(c, &snap_temp))
            .iter()
            .any(|&i| i > acked && i < snap_renamed),
        "the compaction wrote nothing to {snap_temp}\n{context}"
    );
    check_staged(&t, &snap_temp, snap_renamed, "snapshot", &context);
    let snap_dir_synced = t
        .find(snap_renamed + 1, |c| is_sync(c, &dir))
        .unwrap_or_else(|| {
            panic!("the folder {dir} was not fsync'ed after the snapshot's rename (#{snap_renamed})\n{context}")
        });

    // ... then the journal's new form, once the snapshot is durable.
    if let Some(j_renamed) = t.find(acked + 1, |c| is_rename_onto(c, &journal)) {
        let j_temp = calls[j_renamed].strings[0].clone();
        assert!(
            j_renamed > snap_dir_synced,
            "the journal was replaced (#{j_renamed}) before the snapshot's folder fsync (#{snap_dir_synced}): a crash between could lose changes\n{context}"
        );
        check_staged(&t, &j_temp, j_renamed, "journal", &context);
        t.find(j_renamed + 1, |c| is_sync(c, &dir)).unwrap_or_else(|| {
            panic!("the folder {dir} was not fsync'ed after the journal's rename (#{j_renamed})\n{context}")
        });
    } else if let Some(cut) = t.find(acked + 1, |c| {
        c.name == "ftruncate" && c.ok && c.fd_path.as_deref() == Some(journal.as_str())
    }) {
        assert!(
            cut > snap_dir_synced,
            "the journal was cut (#{cut}) before the snapshot's folder fsync (#{snap_dir_synced})\n{context}"
        );
        t.find(cut + 1, |c| is_sync(c, &journal))
            .unwrap_or_else(|| {
                panic!("the journal's truncation (#{cut}) was not followed by its fsync\n{context}")
            });
    } else {
        panic!("the compaction neither replaced nor truncated {journal}\n{context}");
    }
    eprintln!(
        "syscall order: change written #{written}, synced #{synced}, acknowledged #{acked}; snapshot renamed #{snap_renamed}, folder synced #{snap_dir_synced}; {} calls traced",
        calls.len()
    );
}

#[test]
fn the_trace_parser_joins_unfinished_calls_and_reads_paths() {
    let text = "\
[pid 12] write(5</d/pending.journal>, \"{\\\"seq\\\":1}\\n\"..., 300 <unfinished ...>
13 openat(AT_FDCWD</d>, \"/d/.pending.json.tmp-1-2\", O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, 0600) = 6</d/.pending.json.tmp-1-2>
[pid 12] <... write resumed>) = 300
12 fsync(3</d>)                    = 0
12 renameat2(AT_FDCWD</d>, \"/d/a\", AT_FDCWD</d>, \"/d/b\", 0) = -1 ENOENT (No such file or directory)
12 --- SIGCHLD {si_signo=SIGCHLD} ---
";
    let calls = parse_trace(text);
    assert_eq!(calls.len(), 4, "{calls:#?}");
    assert_eq!(calls[0].name, "openat");
    assert_eq!(
        calls[0].ret_path.as_deref(),
        Some("/d/.pending.json.tmp-1-2")
    );
    assert_eq!(calls[0].strings, ["/d/.pending.json.tmp-1-2"]);
    assert!(is_write(&calls[1], "/d/pending.journal") && calls[1].ok);
    assert!(is_sync(&calls[2], "/d"));
    assert_eq!(calls[3].strings, ["/d/a", "/d/b"]);
    assert!(!calls[3].ok && !is_rename_onto(&calls[3], "/d/b"));
}
