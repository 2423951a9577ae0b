//! S24's configuration: branch mode is IT's alone to turn on, only with
//! every shared limit locked, and only over TLS unless the database is on
//! this machine. Checked where the policy file is read, with no database.

use countersign::config::it_policy;

const LIMITS_LOCKED: &str = "max_attempts = 5\nnumber_failures_per_hour = 10\n\
resend_cooldown_seconds = 30\nsends_per_window = 5\nsend_window_minutes = 10\n\
default_country = \"GB\"\nallowed_countries = [\"GB\"]\n\
audit_key_file = \"/etc/countersign/audit.key\"\n";

fn locked(extra: &str) -> String {
    format!("[locked]\n{LIMITS_LOCKED}{extra}")
}

#[test]
fn s24_branch_mode_with_its_limits_locked_is_accepted() {
    let text = locked(
        "branch_store = \"postgres://desk_01@127.0.0.1:5432/branch\"\n\
         branch_key_file = \"/etc/countersign/branch.key\"\n",
    );
    let policy = it_policy::parse(&text, false).expect("a complete branch policy");
    assert!(policy
        .locked
        .contains_key(&countersign::config::Key::BranchStore));
}

#[test]
fn s24_branch_mode_that_leaves_a_limit_open_is_refused_naming_it() {
    let text = "[locked]\nmax_attempts = 5\n\
                branch_store = \"postgres://desk_01@127.0.0.1/branch\"\n\
                branch_key_file = \"/etc/countersign/branch.key\"\n\
                audit_key_file = \"/etc/countersign/audit.key\"\n";
    let e = it_policy::parse(text, false).expect_err("limits left to the desk");
    let message = e.to_string();
    assert_eq!(e.key.as_deref(), Some("branch_store"));
    for open in [
        "number_failures_per_hour",
        "resend_cooldown_seconds",
        "sends_per_window",
        "send_window_minutes",
        "default_country",
        "allowed_countries",
    ] {
        assert!(message.contains(open), "{open} not named: {message}");
    }
    assert!(!message.contains("max_attempts,"), "{message}");
}

#[test]
fn s24_branch_mode_cannot_be_a_default_staff_could_clear() {
    let text = format!(
        "{}[defaults]\nbranch_store = \"postgres://desk_01@127.0.0.1/branch\"\n",
        locked("branch_key_file = \"/etc/countersign/branch.key\"\n")
    );
    let e = it_policy::parse(&text, false).expect_err("branch mode as a default");
    assert_eq!(e.key.as_deref(), Some("branch_store"));
    assert!(e.to_string().contains("[locked]"), "{e}");
}

#[test]
fn s24_branch_mode_needs_an_it_provisioned_audit_key() {
    let text = locked(
        "branch_store = \"postgres://desk_01@127.0.0.1/branch\"\n\
         branch_key_file = \"/etc/countersign/branch.key\"\n",
    )
    .replace("audit_key_file = \"/etc/countersign/audit.key\"\n", "");
    let e = it_policy::parse(&text, false).expect_err("a derived audit key");
    assert_eq!(e.key.as_deref(), Some("audit_key_file"));
}

#[test]
fn s24_branch_mode_needs_the_branch_key() {
    let text = locked("branch_store = \"postgres://desk_01@127.0.0.1/branch\"\n");
    let e = it_policy::parse(&text, false).expect_err("no branch key");
    assert_eq!(e.key.as_deref(), Some("branch_key_file"));
}

#[test]
fn s24_a_branch_store_off_this_machine_needs_tls_a_desk_role_and_no_password() {
    let refused = [
        ("postgres://desk_01@db.bank.example/branch", "TLS"),
        (
            "postgres://desk_01@localhost/branch?hostaddr=10.0.0.5",
            "TLS",
        ),
        ("postgres://desk_01:secret@127.0.0.1/branch", "password"),
        ("postgres://127.0.0.1/branch", "role"),
        (
            "postgres://Desk-01@127.0.0.1/branch",
            "not a desk role name",
        ),
        ("not a url", "not a PostgreSQL URL"),
    ];
    for (url, why) in refused {
        let text = locked(&format!(
            "branch_store = \"{url}\"\nbranch_key_file = \"/etc/countersign/branch.key\"\n"
        ));
        let e = it_policy::parse(&text, false).expect_err(url);
        assert!(e.to_string().contains(why), "{url}: {e}");
        assert!(
            !e.to_string().contains("secret"),
            "the password is not repeated: {e}"
        );
    }
    let text = locked(
        "branch_store = \"postgres://desk_01@db.bank.example/branch?sslmode=require\"\n\
         branch_key_file = \"/etc/countersign/branch.key\"\n",
    );
    it_policy::parse(&text, false).expect("TLS to a remote database");
}
