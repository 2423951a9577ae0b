//! Scans log files for what must never be in them: a code, the auth token,
//! a full phone number. Used on the files a real run wrote (`e2e_logs.rs`)
//! and proved on planted ones (`logs.rs`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// What a run sent, to look for afterwards.
#[derive(Default)]
pub struct Secrets {
    codes: Vec<String>,
    /// (label, text) matched anywhere in a line.
    texts: Vec<(String, String)>,
}

impl Secrets {
    /// A code is found as a whole run of digits, so a longer number that
    /// merely contains its digits (a port, a count) is not taken for it.
    pub fn code(mut self, code: &str) -> Self {
        self.codes.push(code.to_owned());
        self
    }

    pub fn token(mut self, token: &str) -> Self {
        self.texts
            .push(("the auth token".to_owned(), token.to_owned()));
        self
    }

    /// A number in every form a line could hold it: E.164 (`+447400123456`),
    /// its digits (`447400123456`), the national form as typed
    /// (`07400 123456`) and without spaces (`07400123456`).
    pub fn number(mut self, e164: &str, national: &str) -> Self {
        let compact: String = national.chars().filter(|c| !c.is_whitespace()).collect();
        let forms = [
            e164.to_owned(),
            e164.trim_start_matches('+').to_owned(),
            national.to_owned(),
            compact,
        ];
        for form in forms {
            if !self.texts.iter().any(|(_, t)| *t == form) {
                self.texts.push((format!("the number {e164}"), form));
            }
        }
        self
    }
}

/// One line that holds a secret. The secret itself is named, not quoted,
/// so a failing test's output does not repeat the leak.
#[derive(Debug, PartialEq, Eq)]
pub struct Leak {
    pub file: PathBuf,
    pub line: usize,
    pub what: String,
}

/// Every line of every file in `dir` (not below it) holding one of
/// `secrets`. Files that are not UTF-8 are read lossily.
pub fn scan(dir: &Path, secrets: &Secrets) -> std::io::Result<Vec<Leak>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut leaks = Vec::new();
    for file in files {
        let bytes = std::fs::read(&file)?;
        let text = String::from_utf8_lossy(&bytes);
        for (i, line) in text.lines().enumerate() {
            for what in leaks_in(line, secrets) {
                leaks.push(Leak {
                    file: file.clone(),
                    line: i + 1,
                    what,
                });
            }
        }
    }
    Ok(leaks)
}

fn leaks_in(line: &str, secrets: &Secrets) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    // One leak per secret and line, however many of its forms are there.
    for (label, text) in &secrets.texts {
        if line.contains(text.as_str()) && !found.contains(label) {
            found.push(label.clone());
        }
    }
    let runs: Vec<&str> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|r| !r.is_empty())
        .collect();
    for (i, code) in secrets.codes.iter().enumerate() {
        if runs.contains(&code.as_str()) {
            found.push(format!("code #{}", i + 1));
        }
    }
    found
}

/// The lines of every file in `dir`, for a test that wants to see that
/// something was logged at all.
pub fn line_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .map(|t| t.lines().count())
                .sum()
        })
        .unwrap_or(0)
}
