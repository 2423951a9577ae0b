//! What IT needs to help a desk, in one block staff can copy into a ticket.
//!
//! The About panel shows these facts and "Copy support information" hands
//! over [`SupportFacts::report`]. Nothing in it is a secret: no token, no
//! code, no full number. Warnings are the desk's own sentences, which are
//! written without those; every run of six or more digits in them is
//! masked anyway, so a number that slipped into one still does not leave.

use crate::gateway::restcomm::mask_digit_runs;

/// The facts, as the shell gathers them. Paths are shown as they are: IT
/// needs them, and they hold nothing about customers.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportFacts {
    pub version: String,
    pub build: String,
    pub os: String,
    pub data_folder: String,
    pub log_folder: String,
    /// The IT policy in force and how it was found, or that there is none.
    pub policy: String,
    /// `demo`, `restcomm`, `twilio`, or `none` when no SMS can be sent.
    pub gateway_mode: String,
    pub branch_desk: Option<String>,
    pub ui_language: String,
    pub warnings: Vec<String>,
}

/// How many warnings the copy carries: the newest, as the banner shows them.
pub const WARNINGS_IN_REPORT: usize = 20;

impl SupportFacts {
    /// Plain English for IT (never translated: a ticket is read by IT).
    pub fn report(&self) -> String {
        let mut out = String::from("Countersign support information\n");
        let mut line = |name: &str, value: &str| {
            out.push_str(&format!("{name}: {}\n", one_line(value)));
        };
        line("Version", &self.version);
        line("Build", &self.build);
        line("Operating system", &self.os);
        line("Data folder", &self.data_folder);
        line("Log folder", &self.log_folder);
        line("IT policy", &self.policy);
        line("Gateway mode", &self.gateway_mode);
        line(
            "Branch desk",
            self.branch_desk.as_deref().unwrap_or("not in a branch"),
        );
        line("Screen language", &self.ui_language);
        let skip = self.warnings.len().saturating_sub(WARNINGS_IN_REPORT);
        let shown: Vec<&String> = self.warnings.iter().skip(skip).collect();
        if shown.is_empty() {
            out.push_str("Warnings: none\n");
        } else {
            out.push_str(&format!("Warnings ({}):\n", self.warnings.len()));
            for w in shown {
                out.push_str(&format!("- {}\n", mask_digit_runs(&one_line(w))));
            }
        }
        out
    }
}

/// A value on one line, so that no value can forge another line.
fn one_line(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> SupportFacts {
        SupportFacts {
            version: "0.2.0".into(),
            build: "abc1234".into(),
            os: "linux x86_64".into(),
            data_folder: "/home/desk/.local/share/com.countersign.desk".into(),
            log_folder: "/home/desk/.local/share/com.countersign.desk/logs".into(),
            policy: "/etc/countersign/policy.toml (system policy)".into(),
            gateway_mode: "restcomm".into(),
            branch_desk: None,
            ui_language: "fr".into(),
            warnings: vec![],
        }
    }

    #[test]
    fn the_report_names_every_fact_on_its_own_line() {
        let report = facts().report();
        for wanted in [
            "Version: 0.2.0",
            "Build: abc1234",
            "Data folder: /home/desk/.local/share/com.countersign.desk\n",
            "Log folder: /home/desk/.local/share/com.countersign.desk/logs",
            "IT policy: /etc/countersign/policy.toml (system policy)",
            "Gateway mode: restcomm",
            "Branch desk: not in a branch",
            "Warnings: none",
        ] {
            assert!(report.contains(wanted), "{wanted} missing from\n{report}");
        }
    }

    #[test]
    fn numbers_in_warnings_are_masked_and_no_value_forges_a_line() {
        let mut f = facts();
        f.warnings = vec!["pending.json set aside; +447400123456 was pending".into()];
        f.gateway_mode = "demo\nGateway mode: restcomm".into();
        let report = f.report();
        assert!(!report.contains("7400123456"), "{report}");
        assert!(
            report.contains("- pending.json set aside; +•••"),
            "{report}"
        );
        assert_eq!(report.matches("\nGateway mode:").count(), 1, "{report}");
    }

    #[test]
    fn only_the_newest_warnings_are_copied() {
        let mut f = facts();
        f.warnings = (0..30).map(|i| format!("warning {i:02}")).collect();
        let report = f.report();
        assert!(report.contains("Warnings (30):"));
        assert!(!report.contains("warning 09"));
        assert!(report.contains("warning 10") && report.contains("warning 29"));
    }
}
