//! S24 on a real PostgreSQL: the desks of a branch share S5, S6 and S8,
//! decided atomically in the database; the desk role can only add; a
//! database that is away stops sends, not checks.
//!
//! Every test starts its own cluster (`pg_support`); the ledger dates
//! events with the desks' hand-moved clocks (`LedgerClock::Desk`), so the
//! windows are crossed without sleeping.
// A throwaway PostgreSQL cluster is started the Unix way (runuser, chown,
// signals; tests/pg_support); the Windows CI job runs no PostgreSQL.
#![cfg(unix)]

mod pg_support;
mod support;

use std::sync::{Arc, Barrier};
use std::time::Duration;

use countersign::branch::memory::MemoryLedger;
use countersign::branch::postgres::{LedgerClock, LedgerConfig, PgLedger};
use countersign::branch::{
    Branch, BranchKey, BranchLedger, BranchRefusal, ClaimKind, DeskName, SendClaim,
};
use countersign::desk::{DeskError, OutcomeKind, Started};
use countersign::keys::{DigestKey, NumberId};
use countersign::limits::{LimitRefusal, NumberLimits};
use countersign::policy::PolicySettings;
use countersign::sms::Template;
use countersign::verification::VerificationId;
use pg_support::{connect, runtime, Bouncer, TestCluster};
use support::{code_of, wrong, Harness, A, B, T0};

fn ledger(cluster: &TestCluster, desk: &str) -> PgLedger {
    ledger_at(cluster.url_for(desk))
}

fn ledger_at(url: String) -> PgLedger {
    PgLedger::start(&LedgerConfig {
        url,
        password: None,
        ca_bundle: None,
        clock: LedgerClock::Desk,
    })
    .expect("a loopback URL with a desk role")
}

fn desk_names(desks: usize) -> Vec<String> {
    (0..desks).map(|i| format!("desk_{i}")).collect()
}

fn as_strs(names: &[String]) -> Vec<&str> {
    names.iter().map(String::as_str).collect()
}

fn branch_key() -> BranchKey {
    BranchKey::new(DigestKey::from_bytes(&[7; 32]).expect("32 bytes"))
}

/// Where a scenario's branch lives: the same scenarios run on the real
/// database and on the embedded ledger, which share `decide`.
enum Store {
    Postgres(TestCluster),
    Memory(MemoryLedger),
}

impl Store {
    fn postgres() -> Self {
        let cluster = TestCluster::start();
        cluster.prepare(&["desk_a", "desk_b"]);
        Store::Postgres(cluster)
    }

    fn memory() -> Self {
        Store::Memory(MemoryLedger::new(
            DeskName::parse("desk_a").expect("a name"),
        ))
    }

    fn ledger(&self, desk: &str) -> Box<dyn BranchLedger> {
        match self {
            Store::Postgres(cluster) => Box::new(ledger(cluster, desk)),
            Store::Memory(branch) => {
                Box::new(branch.for_desk(DeskName::parse(desk).expect("a name")))
            }
        }
    }

    /// A desk with its own key for codes, in the branch as `desk`.
    fn desk(&self, desk: &str, seed: u64) -> Harness {
        let mut h = Harness::seeded(PolicySettings::default(), Template::default_english(), seed);
        h.desk.join_branch(Branch {
            key: branch_key(),
            ledger: self.ledger(desk),
        });
        h
    }
}

fn desk_in_branch(cluster: &TestCluster, desk: &str, seed: u64) -> Harness {
    let mut h = Harness::seeded(PolicySettings::default(), Template::default_english(), seed);
    h.desk.join_branch(Branch {
        key: branch_key(),
        ledger: Box::new(ledger(cluster, desk)),
    });
    h
}

fn number_id(n: u8) -> NumberId {
    NumberId::parse(&format!("{n:02x}").repeat(32)).expect("64 hex digits")
}

/// A test-SMS claim with no pause, so that only the cap stops a desk.
fn slot(number: &NumberId) -> SendClaim {
    SendClaim {
        number: number.clone(),
        verification: None,
        kind: ClaimKind::Test,
        limits: NumberLimits {
            failures_per_hour: 10,
            sends_per_window: 5,
            send_window: Duration::from_secs(600),
            cooldown: Duration::ZERO,
        },
        validity: Duration::from_secs(300),
        at: T0,
    }
}

/// `desks` desks each ask for `tries` send slots on one number at once.
fn race_for_slots(desks: usize, tries: usize) -> (usize, Vec<BranchRefusal>) {
    let names = desk_names(desks);
    let cluster = TestCluster::start();
    cluster.prepare(&as_strs(&names));
    race(names.iter().map(|n| cluster.url_for(n)).collect(), tries)
}

/// One desk per URL, each asking for `tries` slots on one number at once.
fn race(urls: Vec<String>, tries: usize) -> (usize, Vec<BranchRefusal>) {
    race_with_cap(urls, tries, 5)
}

fn race_with_cap(urls: Vec<String>, tries: usize, cap: u32) -> (usize, Vec<BranchRefusal>) {
    let start = Arc::new(Barrier::new(urls.len()));
    let number = number_id(1);
    let threads: Vec<_> = urls
        .into_iter()
        .map(|url| {
            let mut ledger = ledger_at(url);
            // Connected before the race starts, so the claims meet in the
            // database rather than queue behind connection set-up.
            ledger.probe().expect("connected");
            let (start, number) = (start.clone(), number.clone());
            std::thread::spawn(move || {
                start.wait();
                let mut claim = slot(&number);
                claim.limits.sends_per_window = cap;
                (0..tries)
                    .map(|_| ledger.claim_send(&claim))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let results: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("a desk thread"))
        .collect();
    let passed = results.iter().filter(|r| r.is_ok()).count();
    let refusals = results.into_iter().filter_map(Result::err).collect();
    (passed, refusals)
}

/// Wrong codes told by one desk per URL at once: the counts each got back.
fn failures_at_once(urls: Vec<String>) -> Vec<usize> {
    let start = Arc::new(Barrier::new(urls.len()));
    let threads: Vec<_> = urls
        .into_iter()
        .map(|url| {
            let mut ledger = ledger_at(url);
            ledger.probe().expect("connected");
            let start = start.clone();
            std::thread::spawn(move || {
                let id = VerificationId::parse("aaaaaaaaaaaaaaaaaaab").expect("an id");
                start.wait();
                ledger.record_failure(&number_id(2), &id, T0)
            })
        })
        .collect();
    let mut counts: Vec<usize> = threads
        .into_iter()
        .map(|t| t.join().expect("a desk thread").expect("recorded"))
        .collect();
    counts.sort_unstable();
    counts
}

#[test]
fn s24_two_desks_racing_on_one_number_get_exactly_the_send_cap() {
    let (passed, refusals) = race_for_slots(2, 6);
    assert_eq!(
        passed, 5,
        "S8: 5 sends per number per 10 minutes, branch-wide"
    );
    assert_eq!(refusals.len(), 7);
    assert!(refusals
        .iter()
        .all(|r| matches!(r, BranchRefusal::Limit(LimitRefusal::SendLimit { .. }))));
}

#[test]
fn s24_ten_desks_racing_for_a_number_s_last_send_get_exactly_one() {
    let names = desk_names(10);
    let cluster = TestCluster::start();
    cluster.prepare(&as_strs(&names));
    let urls = names.iter().map(|n| cluster.url_for(n)).collect();
    let (passed, _) = race_with_cap(urls, 1, 1);
    assert_eq!(passed, 1, "ten desks at once, one slot");
}

#[test]
fn s24_ten_desks_racing_on_one_number_get_exactly_the_send_cap() {
    let (passed, refusals) = race_for_slots(10, 3);
    assert_eq!(passed, 5);
    assert_eq!(refusals.len(), 25);
}

#[test]
fn s24_wrong_codes_told_by_ten_desks_at_once_are_counted_one_by_one() {
    let names = desk_names(10);
    let cluster = TestCluster::start();
    cluster.prepare(&as_strs(&names));
    let counts = failures_at_once(names.iter().map(|n| cluster.url_for(n)).collect());
    assert_eq!(
        counts,
        (1..=10).collect::<Vec<_>>(),
        "each failure sees every earlier one"
    );
}

#[test]
fn s24_ten_desks_behind_pgbouncer_in_transaction_mode_decide_exactly_as_direct() {
    let names = desk_names(10);
    let cluster = TestCluster::start();
    cluster.prepare(&as_strs(&names));
    // Three server connections for ten desks: each transaction may run on
    // another one, as it does behind a busy pooler.
    let bouncer = Bouncer::start(&cluster, &as_strs(&names), 3);
    let urls = || names.iter().map(|n| bouncer.url_for(n)).collect::<Vec<_>>();

    let mut first = ledger_at(bouncer.url_for("desk_0"));
    first
        .probe()
        .expect("the schema check passes through the pooler");
    let (passed, refusals) = race(urls(), 3);
    assert_eq!(passed, 5, "{refusals:?}");
    assert!(refusals
        .iter()
        .all(|r| matches!(r, BranchRefusal::Limit(LimitRefusal::SendLimit { .. }))));
    assert_eq!(failures_at_once(urls()), (1..=10).collect::<Vec<_>>());
}

#[test]
fn s24_a_number_pending_at_desk_a_is_refused_at_desk_b_naming_desk_a() {
    pending_at_a_is_refused_at_b(Store::postgres());
}

#[test]
fn s24_a_desk_role_cannot_free_a_number_another_desk_holds() {
    let store = Store::postgres();
    let Store::Postgres(cluster) = &store else {
        unreachable!("a database store")
    };
    let mut a = store.desk("desk_a", 1);
    let mut b = store.desk("desk_b", 2);
    let (id, _code) = a.start_and_send(A);
    // Desk B's user, with desk B's password, tells of the end of desk A's
    // verification: a row in its own name, which the database accepts.
    let url = cluster.url_for("desk_b");
    let forged = id.as_str().to_owned();
    runtime().block_on(async move {
        connect(&url)
            .await
            .execute(
                "INSERT INTO number_events (number_id, kind, verification, at_ms) \
                 SELECT number_id, 'release', verification, at_ms FROM number_events \
                 WHERE kind = 'claim' AND verification = $1",
                &[&forged],
            )
            .await
            .expect("a row in desk B's own name");
    });
    b.advance(60);
    assert!(
        matches!(b.start(A), Err(DeskError::PendingAtDesk(_))),
        "only desk A's own end frees the number"
    );
}

#[test]
fn s24_the_embedded_ledger_refuses_a_number_pending_at_another_desk_alike() {
    pending_at_a_is_refused_at_b(Store::memory());
}

fn pending_at_a_is_refused_at_b(store: Store) {
    let mut a = store.desk("desk_a", 1);
    let mut b = store.desk("desk_b", 2);
    let (id, _code) = a.start_and_send(A);

    b.advance(60);
    match b.start(A) {
        Err(e @ DeskError::PendingAtDesk(_)) => {
            assert_eq!(e.kind(), "pending_at_other_desk");
            assert!(e.to_string().contains("desk desk_a"), "{e}");
        }
        other => panic!("expected S6 across desks, got {other:?}"),
    }
    // Another number is not held by it.
    assert!(matches!(b.start(B), Ok(Started::New { .. })));

    a.advance(60);
    a.desk.cancel(&id).expect("cancelled at desk A");
    assert!(
        matches!(b.start(A), Ok(Started::New { .. })),
        "once desk A is done, desk B may send"
    );
}

#[test]
fn s24_wrong_codes_at_two_desks_block_the_number_at_both() {
    wrong_codes_at_two_desks_block_at_both(Store::postgres());
}

#[test]
fn s24_the_embedded_ledger_blocks_a_number_across_desks_alike() {
    wrong_codes_at_two_desks_block_at_both(Store::memory());
}

fn wrong_codes_at_two_desks_block_at_both(store: Store) {
    let mut a = store.desk("desk_a", 1);
    let mut b = store.desk("desk_b", 2);

    // Desk A: five wrong codes lock the verification (S4), not the number.
    let (id, code) = a.start_and_send(A);
    for _ in 0..5 {
        a.desk.check(&id, &wrong(&code)).expect("checked");
    }
    // Desk B, a minute later: five more, the tenth in the hour (S5).
    b.advance(60);
    let (id, code) = b.start_and_send(A);
    let mut last = None;
    for _ in 0..5 {
        last = Some(b.desk.check(&id, &wrong(&code)).expect("checked"));
    }
    assert_eq!(last.map(|o| o.outcome), Some(OutcomeKind::Locked));
    assert!(b
        .event_kinds()
        .contains(&countersign::audit::EventKind::NumberBlocked));

    // Desk A's own count is five: only the branch knows of ten.
    a.advance(120);
    assert!(
        matches!(a.start(A), Err(DeskError::NumberBlocked { .. })),
        "blocked at desk A too"
    );
}

#[test]
fn s24_the_desk_role_may_read_and_add_its_own_rows_never_change_or_remove() {
    let cluster = TestCluster::start();
    cluster.prepare(&["desk_a"]);
    let mut a = desk_in_branch(&cluster, "desk_a", 1);
    a.start_and_send(A);
    let url = cluster.url_for("desk_a");
    runtime().block_on(async move {
        let desk = connect(&url).await;
        let rows: i64 = desk
            .query_one("SELECT count(*) FROM number_events", &[])
            .await
            .expect("a desk reads the branch's history")
            .get(0);
        assert_eq!(rows, 2, "the send and the claim");
        let forbidden = [
            "UPDATE number_events SET at_ms = 0",
            "DELETE FROM number_events",
            "TRUNCATE number_events",
            "UPDATE audit_records SET line = ''",
            "DELETE FROM audit_records",
            "INSERT INTO number_events (number_id, kind, desk, at_ms) \
             VALUES (repeat('a', 64), 'release', 'desk_b', 0)",
            "INSERT INTO audit_records (desk, seq, line) VALUES ('desk_b', 0, '{}')",
            "DROP TABLE number_events",
            "INSERT INTO countersign_schema (version) VALUES (2)",
            // A temp table would shadow the shared one on a pooled
            // connection for whichever desk gets it next.
            "CREATE TEMP TABLE number_events (LIKE public.number_events)",
            // Dated in the future: a number held past every prune.
            "INSERT INTO number_events (number_id, kind, at_ms) \
             VALUES (repeat('a', 64), 'failure', 99999999999999)",
        ];
        for sql in forbidden {
            let e = desk.batch_execute(sql).await.expect_err(sql);
            let code = e.as_db_error().map(|d| d.code().code().to_owned());
            assert!(
                matches!(code.as_deref(), Some("42501" | "42P01" | "23514")),
                "{sql}: {e:?}"
            );
        }
        let rows: i64 = desk
            .query_one("SELECT count(*) FROM number_events", &[])
            .await
            .expect("read again")
            .get(0);
        assert_eq!(rows, 2, "nothing changed");
    });
}

#[test]
fn s24_with_the_database_away_sends_are_refused_checks_go_on_and_sends_resume() {
    let cluster = TestCluster::start();
    cluster.prepare(&["desk_a"]);
    let mut a = desk_in_branch(&cluster, "desk_a", 1);
    let (id, code) = a.start_and_send(A);

    cluster.stop();
    a.advance(60);
    match a.start(B) {
        Err(e @ DeskError::BranchUnreachable) => {
            assert_eq!(e.kind(), "branch_unreachable");
        }
        other => panic!("expected a refused send, got {other:?}"),
    }
    assert!(a.saved().verifications.len() == 1, "no code was made for B");
    let outcome = a
        .desk
        .check(&id, &code)
        .expect("checked without the branch");
    assert_eq!(outcome.outcome, OutcomeKind::Approved);

    cluster.restart();
    a.advance(60);
    match a.start(B).expect("sends resume") {
        Started::New { sms, .. } => assert_eq!(code_of(&sms).len(), 6),
        other => panic!("expected a new verification, got {other:?}"),
    }
}

#[test]
fn s24_wrong_codes_and_ends_told_while_the_store_was_away_reach_it_when_it_returns() {
    let cluster = TestCluster::start();
    cluster.prepare(&["desk_a", "desk_b"]);
    let mut a = desk_in_branch(&cluster, "desk_a", 1);
    let mut b = desk_in_branch(&cluster, "desk_b", 2);
    let (id, code) = a.start_and_send(A);

    cluster.stop();
    for _ in 0..5 {
        a.desk
            .check(&id, &wrong(&code))
            .expect("checked without the branch");
    }
    cluster.restart();
    // Desk A's next request carries what it was told meanwhile, first.
    a.advance(60);
    a.start_and_send(B);

    // Desk B may start for the number (desk A's lock reached the store),
    // and five more wrong codes make ten in the hour across the branch.
    b.advance(60);
    let (id, code) = b.start_and_send(A);
    for _ in 0..5 {
        b.desk.check(&id, &wrong(&code)).expect("checked");
    }
    assert!(
        b.event_kinds()
            .contains(&countersign::audit::EventKind::NumberBlocked),
        "the five wrong codes made while the store was away were counted"
    );
}

#[test]
fn s24_a_database_without_the_schema_is_refused_naming_the_migration() {
    let cluster = TestCluster::start();
    let mut ledger = ledger(&cluster, pg_support::ADMIN);
    let e = ledger.probe().expect_err("no schema yet");
    assert!(e.to_string().contains("countersign-branch migrate"), "{e}");
    cluster.prepare(&[]);
    ledger.probe().expect("the schema is there now");
}

#[test]
fn s24_a_send_and_its_end_cost_the_store_seven_round_trips_dated_by_its_clock() {
    let cluster = TestCluster::start();
    cluster.prepare(&["desk_a"]);
    let mut ledger = PgLedger::start(&LedgerConfig {
        url: cluster.url_for("desk_a"),
        password: None,
        ca_bundle: None,
        clock: LedgerClock::Server,
    })
    .expect("a loopback URL with a desk role");
    ledger.probe().expect("connected");
    let trips = ledger.round_trips();
    let before = trips.get();
    let id = VerificationId::parse("aaaaaaaaaaaaaaaaaaab").expect("an id");
    // Desk times far in the past: under the server's clock they are ignored.
    let claim = SendClaim {
        verification: Some(id.clone()),
        kind: ClaimKind::New,
        ..slot(&number_id(3))
    };
    ledger.claim_send(&claim).expect("a first send passes");
    assert_eq!(
        trips.get() - before,
        6,
        "BEGIN, lock, history, 2 inserts, COMMIT"
    );
    ledger.release(&number_id(3), &id, T0).expect("released");
    assert_eq!(trips.get() - before, 7, "the end is one insert");

    let url = cluster.admin_url();
    runtime().block_on(async move {
        let admin = connect(&url).await;
        let stale: i64 = admin
            .query_one(
                "SELECT count(*) FROM number_events \
                 WHERE at_ms < (extract(epoch FROM now()) * 1000)::bigint - 60000",
                &[],
            )
            .await
            .expect("counted")
            .get(0);
        assert_eq!(
            stale, 0,
            "every event dated by the server, none by the desk"
        );
    });
}
