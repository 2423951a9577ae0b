//! The audit trail as CSV for a spreadsheet: a UTF-8 byte order mark (Excel
//! reads a file without one in the machine's ANSI code page and garbles `•`,
//! `€`, `é`), a header row, then one row per record, written as records are
//! read so an export of a year's trail never sits in memory as one string.
//!
//! Every cell is quoted, and a cell a spreadsheet would run as a formula is
//! neutralised with a leading `'` (CSV injection, OWASP): see [`guard`].

use std::borrow::Cow;
use std::io::{self, Write};

use super::AuditRecord;

/// The UTF-8 byte order mark, first in every export.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The columns, in order. New ones go at the end, so readers by position
/// keep working: `gateway_mode` and `os_account` came with S22, `desk` with
/// branch mode (empty for this desk's own trail).
pub const COLUMNS: [&str; 19] = [
    "seq",
    "time",
    "event",
    "operator",
    "staff_id",
    "branch",
    "workstation",
    "verification",
    "masked_number",
    "number_id",
    "reference",
    "outcome",
    "gateway_sid",
    "delivery",
    "detail",
    "hash",
    "gateway_mode",
    "os_account",
    "desk",
];

/// What the masking uses for hidden digits (`PhoneNumber::masked`).
const MASK: char = '•';

/// The cell as a spreadsheet must show it: text, never a formula.
///
/// Excel, LibreOffice and Google Sheets start a formula at `=`, `+`, `-` or
/// `@`, and some strip a leading TAB or CR first and then find one; a cell
/// starting with any of these gets a `'`, which the spreadsheet shows as
/// text and does not run.
///
/// Masked numbers (`+44 •••• 455`) start with `+` but are kept as they are,
/// so an auditor can read and search them: a value made only of `+`, ASCII
/// digits, spaces and the mask character has no letter, parenthesis,
/// operator or reference in it, so it can neither call a function nor
/// point at a cell. The exemption is for that shape of value, whatever the
/// column, rather than for the `masked_number` column: a number column
/// filled from elsewhere would otherwise be a hole.
pub fn guard(value: &str) -> Cow<'_, str> {
    let dangerous = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if dangerous && !is_masked_number(value) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// Whether `value` has exactly the shape `PhoneNumber::masked` produces:
/// `+`, the country code, a space, the mask, a space, the last digits.
pub fn is_masked_number(value: &str) -> bool {
    let Some(rest) = value.strip_prefix('+') else {
        return false;
    };
    let Some((code, rest)) = rest.split_once(' ') else {
        return false;
    };
    let Some((mask, tail)) = rest.split_once(' ') else {
        return false;
    };
    !code.is_empty()
        && code.bytes().all(|b| b.is_ascii_digit())
        && !mask.is_empty()
        && mask.chars().all(|c| c == MASK)
        && tail.bytes().all(|b| b.is_ascii_digit())
}

fn text(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

/// One cell: guarded, then quoted with inner quotes doubled (RFC 4180), so
/// commas, quotes and line breaks in free text stay inside the cell.
fn cell(out: &mut impl Write, value: &str) -> io::Result<()> {
    let guarded = guard(value);
    out.write_all(b"\"")?;
    let mut parts = guarded.split('"');
    if let Some(first) = parts.next() {
        out.write_all(first.as_bytes())?;
    }
    for part in parts {
        out.write_all(b"\"\"")?;
        out.write_all(part.as_bytes())?;
    }
    out.write_all(b"\"")
}

fn line<'a>(out: &mut impl Write, cells: impl IntoIterator<Item = &'a str>) -> io::Result<()> {
    for (i, value) in cells.into_iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        cell(out, value)?;
    }
    // CRLF, as RFC 4180 has it and as Excel writes; every reader takes it.
    out.write_all(b"\r\n")
}

/// Writes the BOM and the header, then a row per [`CsvWriter::row`].
pub struct CsvWriter<W: Write> {
    out: W,
    rows: u64,
}

impl<W: Write> CsvWriter<W> {
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(BOM)?;
        // The names are plain words: unquoted, as every reader expects.
        out.write_all(COLUMNS.join(",").as_bytes())?;
        out.write_all(b"\r\n")?;
        Ok(Self { out, rows: 0 })
    }

    /// One record; `desk` names the desk whose record it is in the branch
    /// scope. The event is its raw slug (`check_failed`), not a display
    /// name: a stable value to filter and to compare across languages.
    pub fn row(&mut self, r: &AuditRecord, desk: Option<&str>) -> io::Result<()> {
        let e = &r.event;
        let seq = r.seq.to_string();
        let name = e.name();
        let cells: [&str; COLUMNS.len()] = [
            &seq,
            &r.time,
            &name,
            text(&e.operator),
            text(&e.staff_id),
            text(&e.branch),
            text(&e.workstation),
            text(&e.verification),
            text(&e.masked_number),
            text(&e.number_id),
            text(&e.reference),
            text(&e.outcome),
            text(&e.gateway_sid),
            text(&e.delivery),
            text(&e.detail),
            &r.hash,
            text(&e.gateway_mode),
            text(&e.os_account),
            desk.unwrap_or(""),
        ];
        line(&mut self.out, cells)?;
        self.rows += 1;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// The records as one CSV text, BOM first: for small exports and tests.
pub fn to_csv(records: &[AuditRecord]) -> String {
    let mut writer = match CsvWriter::new(Vec::new()) {
        Ok(w) => w,
        Err(_) => return String::new(),
    };
    for r in records {
        // Writing to a Vec cannot fail.
        let _ = writer.row(r, None);
    }
    String::from_utf8_lossy(&writer.into_inner()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_dangerous_first_character_is_guarded() {
        for value in [
            "=1+1",
            "+1",
            "-1",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
            "+44 •••• 455x",
            "+44 •••• 45 5",
            "+44 ••x• 455",
            "+ •••• 455",
            "+44 455",
            "+44  455",
            "+44 •••• +455",
            "=+44 •••• 455",
        ] {
            assert_eq!(guard(value), format!("'{value}"), "{value:?}");
        }
    }

    #[test]
    fn masked_numbers_and_plain_text_are_left_alone() {
        for value in [
            "+44 •••• 455",
            "+33 •••• 678",
            "+1 •••• 000",
            "+353 •••• 12",
            "+7 •••• ",
            "Cash withdrawal",
            "'already quoted",
            " =leading space is text to every spreadsheet",
            "",
        ] {
            assert_eq!(guard(value), value, "{value:?}");
        }
    }

    #[test]
    fn cells_are_quoted_with_inner_quotes_doubled() {
        let mut out = Vec::new();
        line(&mut out, ["a\"b", "c,d", "e\nf", "=x"]).unwrap();
        assert_eq!(out, b"\"a\"\"b\",\"c,d\",\"e\nf\",\"'=x\"\r\n");
    }

    proptest! {
        #[test]
        fn any_value_starting_with_a_formula_character_is_guarded_unless_masked(
            first in prop::sample::select(vec!['=', '+', '-', '@', '\t', '\r']),
            rest in ".*",
        ) {
            let value = format!("{first}{rest}");
            let out = guard(&value);
            if is_masked_number(&value) {
                prop_assert_eq!(out.as_ref(), value.as_str());
                prop_assert!(value.chars().all(|c| c == '+' || c == ' ' || c == MASK || c.is_ascii_digit()));
            } else {
                prop_assert_eq!(out.as_ref(), format!("'{value}"));
            }
        }

        #[test]
        fn every_masked_number_survives(code in "[0-9]{1,3}", tail in "[0-9]{0,3}") {
            let value = format!("+{code} •••• {tail}");
            prop_assert_eq!(guard(&value), Cow::Borrowed(value.as_str()));
        }

        #[test]
        fn values_not_starting_with_a_formula_character_are_unchanged(value in "[^=+\\-@\t\r].*") {
            prop_assert_eq!(guard(&value), Cow::Borrowed(value.as_str()));
        }
    }
}
