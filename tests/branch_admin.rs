//! IT's admin tool (`countersign-branch`) against a real PostgreSQL: the
//! schema applied once and reported as current after, a desk role made
//! that can read it, and a password that never reaches the output.
// A throwaway PostgreSQL cluster is started the Unix way (runuser, chown,
// signals; tests/pg_support); the Windows CI job runs no PostgreSQL.
#![cfg(unix)]

mod pg_support;

use std::process::{Command, Output};

use pg_support::{connect, runtime, TestCluster, ADMIN};

fn tool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_countersign-branch"))
        .args(args)
        .output()
        .expect("the tool runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn s24_migrate_twice_then_add_a_desk_that_reads_the_schema() {
    let cluster = TestCluster::start();
    // The test cluster trusts loopback, so any password gets in: what is
    // checked is that the tool never shows it.
    let admin = format!(
        "postgres://{ADMIN}:admin-secret-42@127.0.0.1:{}/postgres",
        cluster.port()
    );

    let first = tool(&["migrate", "--url", &admin]);
    assert!(first.status.success(), "{}", text(&first));
    assert!(
        text(&first).contains("applied version 1"),
        "{}",
        text(&first)
    );

    let second = tool(&["migrate", "--url", &admin]);
    assert!(second.status.success(), "{}", text(&second));
    assert!(
        text(&second).contains("already at version 1"),
        "{}",
        text(&second)
    );

    let dir = tempfile::tempdir().expect("a temp folder");
    let file = dir.path().join("desk_a.password");
    std::fs::write(&file, "desk-secret-77\n").expect("the password file");
    let file = file.display().to_string();
    let added = tool(&[
        "add-desk",
        "--url",
        &admin,
        "--desk",
        "desk_a",
        "--password-file",
        &file,
    ]);
    assert!(added.status.success(), "{}", text(&added));
    assert!(text(&added).contains("desk_a"), "{}", text(&added));

    for out in [&first, &second, &added] {
        let shown = text(out);
        assert!(!shown.contains("admin-secret-42"), "{shown}");
        assert!(!shown.contains("desk-secret-77"), "{shown}");
    }

    let (desk_url, admin_url) = (cluster.url_for("desk_a"), cluster.admin_url());
    runtime().block_on(async move {
        let desk = connect(&desk_url).await;
        let version: i32 = desk
            .query_one("SELECT max(version) FROM countersign_schema", &[])
            .await
            .expect("a desk role reads the schema version")
            .get(0);
        assert_eq!(version, countersign::branch::schema::SCHEMA_VERSION);

        // Stored as the server's hash, with the newline trimmed off: the
        // plain text is nowhere, so only the hash's kind can be checked.
        let admin = connect(&admin_url).await;
        let hash: String = admin
            .query_one(
                "SELECT rolpassword FROM pg_authid WHERE rolname = 'desk_a'",
                &[],
            )
            .await
            .expect("the role exists")
            .get(0);
        assert!(hash.starts_with("SCRAM-SHA-256$"), "{hash}");
        let member: bool = admin
            .query_one(
                "SELECT pg_has_role('desk_a', 'countersign_desk', 'member')",
                &[],
            )
            .await
            .expect("membership")
            .get(0);
        assert!(member);
    });
}

#[test]
fn s24_usage_errors_exit_2_and_database_errors_exit_1() {
    for args in [
        &[][..],
        &["frobnicate"],
        &["migrate"],
        &[
            "add-desk",
            "--url",
            "postgres://a@127.0.0.1/b",
            "--desk",
            "Bad-Name",
        ],
        &[
            "add-desk",
            "--url",
            "postgres://a@127.0.0.1/b",
            "--desk",
            "d",
            "--password-file",
            "/nonexistent/p",
        ],
    ] {
        let out = tool(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(!out.stderr.is_empty(), "{args:?}: says why");
    }

    // Nothing listens on a port just freed: the database cannot be reached.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("postgres://{ADMIN}:admin-secret-42@127.0.0.1:{port}/postgres");
    let out = tool(&["migrate", "--url", &url]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("could not connect"), "{}", text(&out));
    assert!(!text(&out).contains("admin-secret-42"), "{}", text(&out));
}

#[test]
fn s24_prune_deletes_only_number_events_older_than_kept_and_never_audit_records() {
    let cluster = TestCluster::start();
    cluster.prepare(&["desk_a"]);
    let url = cluster.admin_url();
    let desk_url = cluster.url_for("desk_a");
    let old_ms: i64 = 1_000; // 1970: older than any window
    runtime().block_on(async {
        let desk = connect(&desk_url).await;
        desk.batch_execute(&format!(
            "INSERT INTO number_events (number_id, kind, at_ms) VALUES \
             (repeat('a', 64), 'send', {old_ms}), \
             (repeat('a', 64), 'send', (extract(epoch FROM clock_timestamp()) * 1000)::bigint); \
             INSERT INTO audit_records (seq, line) VALUES (1, '{{}}');"
        ))
        .await
        .expect("a desk adds rows");
    });

    let pruned = tool(&["prune", "--url", &url, "--keep-hours", "2"]);
    assert!(pruned.status.success(), "{}", text(&pruned));
    assert!(
        text(&pruned).contains("deleted 1 number events"),
        "{}",
        text(&pruned)
    );

    let (events, audit): (i64, i64) = runtime().block_on(async {
        let admin = connect(&url).await;
        let count = |sql: &'static str| {
            let admin = &admin;
            async move {
                admin
                    .query_one(sql, &[])
                    .await
                    .expect("count")
                    .get::<_, i64>(0)
            }
        };
        (
            count("SELECT count(*) FROM number_events").await,
            count("SELECT count(*) FROM audit_records").await,
        )
    });
    assert_eq!(
        (events, audit),
        (1, 1),
        "the recent event and the audit record stay"
    );
}

#[test]
fn s24_add_desk_refuses_a_privileged_role() {
    let cluster = TestCluster::start();
    cluster.prepare(&[]);
    let out = tool(&["add-desk", "--url", &cluster.admin_url(), "--desk", ADMIN]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("privileged role"), "{}", text(&out));
}
