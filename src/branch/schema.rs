//! The branch database's schema, its versions, and the roles that use it.
//!
//! IT applies the migrations with an administrator role
//! (`countersign-branch migrate`); desks sign in with roles that are
//! members of [`DESK_GROUP`], which may read and insert, never update or
//! delete, and may insert only rows in their own name (row-level
//! security: `desk = current_user`). So a desk user who reads their desk's
//! database password can add noise in their own desk's name, but cannot
//! erase a wrong code, a send or an audit record, nor speak for another
//! desk. A desk refuses to work against a schema of another version.

use tokio_postgres::Client;

/// The schema version this build of the desk speaks.
pub const SCHEMA_VERSION: i32 = 1;

/// The group role every desk role is a member of.
pub const DESK_GROUP: &str = "countersign_desk";

/// Migrations, in order; the version of each is its position plus one.
/// Applied ones are never edited: a change is a new migration.
const MIGRATIONS: [&str; 1] = [r#"
CREATE TABLE countersign_schema (
    version integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- What every desk did to each number, append-only: sends (S8), wrong codes
-- (S5), codes pending (S6) and their release. Times in milliseconds since
-- the epoch, from the server's clock in production.
CREATE TABLE number_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number_id text NOT NULL CHECK (number_id ~ '^[0-9a-f]{64}$'),
    kind text NOT NULL CHECK (kind IN ('send', 'failure', 'claim', 'release')),
    desk name NOT NULL DEFAULT current_user,
    verification text,
    at_ms bigint NOT NULL,
    expires_ms bigint,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- A row dated in the future would hold a number for as long as its
    -- date says, past every prune: a minute of clock skew, no more; and a
    -- claim lasts at most the longest validity (10 minutes).
    CHECK (at_ms <= (extract(epoch FROM clock_timestamp()) * 1000)::bigint + 60000),
    CHECK (expires_ms IS NULL OR expires_ms <= at_ms + 660000)
);
CREATE INDEX number_events_by_number ON number_events (number_id, at_ms);

-- Every desk's audit records, as each desk's trail holds them.
CREATE TABLE audit_records (
    desk name NOT NULL DEFAULT current_user,
    seq bigint NOT NULL CHECK (seq >= 0),
    line text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (desk, seq)
);

ALTER TABLE number_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY desks_read_all ON number_events FOR SELECT USING (true);
CREATE POLICY desks_insert_their_own ON number_events FOR INSERT
    WITH CHECK (desk = current_user);
ALTER TABLE audit_records ENABLE ROW LEVEL SECURITY;
CREATE POLICY desks_read_all ON audit_records FOR SELECT USING (true);
CREATE POLICY desks_insert_their_own ON audit_records FOR INSERT
    WITH CHECK (desk = current_user);
"#];

/// Grants for the desk group, run after every migration (idempotent). No
/// temporary tables: a desk role's temp table named like a shared one
/// would shadow it for whichever desk a pooler hands that connection next
/// (every desk statement also names `public.` for the same reason).
const GRANTS: &str = r#"
DO $$ BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM countersign_desk', current_database());
END $$;
REVOKE ALL ON countersign_schema, number_events, audit_records FROM PUBLIC;
REVOKE ALL ON countersign_schema, number_events, audit_records FROM countersign_desk;
GRANT SELECT ON countersign_schema TO countersign_desk;
GRANT SELECT, INSERT ON number_events, audit_records TO countersign_desk;
"#;

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("the branch database has no Countersign schema; IT applies it with `countersign-branch migrate`")]
    Missing,
    #[error("the branch database's schema is version {found}, this desk speaks version {expected}; {hint}")]
    Mismatch {
        found: i32,
        expected: i32,
        hint: &'static str,
    },
    #[error("the branch database refused: {0}")]
    Database(String),
}

fn db(e: tokio_postgres::Error) -> SchemaError {
    SchemaError::Database(describe(&e))
}

/// The server's own words for an error, which name no secret: the driver's
/// `Display` says only "db error".
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// The version a desk finds, checked against [`SCHEMA_VERSION`].
pub async fn check_version(client: &Client) -> Result<(), SchemaError> {
    let found = current_version(client).await?.ok_or(SchemaError::Missing)?;
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    let hint = if found < SCHEMA_VERSION {
        "IT applies the new version with `countersign-branch migrate`"
    } else {
        "this desk's app is older than the branch database: update it"
    };
    Err(SchemaError::Mismatch {
        found,
        expected: SCHEMA_VERSION,
        hint,
    })
}

async fn current_version(client: &Client) -> Result<Option<i32>, SchemaError> {
    // Unnamed statements (`query_typed`), as every statement a desk sends:
    // a named one prepared on one server connection may be executed on
    // another behind PgBouncer in transaction mode.
    let exists = client
        .query_typed(
            "SELECT to_regclass('public.countersign_schema') IS NOT NULL",
            &[],
        )
        .await
        .map_err(db)?
        .first()
        .is_some_and(|r| r.get::<_, bool>(0));
    if !exists {
        return Ok(None);
    }
    let rows = client
        .query_typed("SELECT max(version) FROM public.countersign_schema", &[])
        .await
        .map_err(db)?;
    Ok(rows.first().and_then(|r| r.get::<_, Option<i32>>(0)))
}

/// Brings the schema to [`SCHEMA_VERSION`] in one transaction, creates the
/// desk group if missing, and grants it what desks need. Returns the
/// versions applied (none when already current).
pub async fn migrate(client: &mut Client) -> Result<Vec<i32>, SchemaError> {
    let tx = client.transaction().await.map_err(db)?;
    // One migrator at a time, whatever else runs.
    tx.batch_execute("SELECT pg_advisory_xact_lock(7305327011350651219)")
        .await
        .map_err(db)?;
    let exists: bool = tx
        .query_one(
            "SELECT to_regclass('public.countersign_schema') IS NOT NULL",
            &[],
        )
        .await
        .map_err(db)?
        .get(0);
    let found = if exists {
        tx.query_one(
            "SELECT coalesce(max(version), 0) FROM countersign_schema",
            &[],
        )
        .await
        .map_err(db)?
        .get::<_, i32>(0)
    } else {
        0
    };
    if found > SCHEMA_VERSION {
        return Err(SchemaError::Mismatch {
            found,
            expected: SCHEMA_VERSION,
            hint: "this tool is older than the database: use the newer one",
        });
    }
    tx.batch_execute(&format!(
        "DO $$ BEGIN
             IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{DESK_GROUP}') THEN
                 CREATE ROLE {DESK_GROUP} NOLOGIN;
             END IF;
         END $$;"
    ))
    .await
    .map_err(db)?;
    let mut applied = Vec::new();
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = index as i32 + 1;
        tx.batch_execute(sql).await.map_err(db)?;
        tx.execute(
            "INSERT INTO countersign_schema (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(db)?;
        applied.push(version);
    }
    tx.batch_execute(GRANTS).await.map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(applied)
}

/// Creates a desk's role (or gives an existing one the desk group) with
/// `password`, or with none where the server trusts its connections some
/// other way (a client certificate, `peer`).
pub async fn add_desk(
    client: &Client,
    desk: &super::DeskName,
    password: Option<&str>,
) -> Result<(), SchemaError> {
    // DeskName allows only [a-z0-9_]: safe to name unquoted.
    let name = desk.as_str();
    let existing = client
        .query_opt(
            "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls OR rolreplication \
             FROM pg_roles WHERE rolname = $1",
            &[&name],
        )
        .await
        .map_err(db)?;
    // A desk role that could bypass row-level security, or make roles,
    // would let a desk speak for every other.
    if existing.as_ref().is_some_and(|r| r.get::<_, bool>(0)) {
        return Err(SchemaError::Database(format!(
            "{name} is a privileged role (superuser, role or database maker, replication, or bypassing row security), not a desk"
        )));
    }
    let exists = existing.is_some();
    if !exists {
        client
            .batch_execute(&format!("CREATE ROLE {name} LOGIN"))
            .await
            .map_err(db)?;
    }
    client
        .batch_execute(&format!("GRANT {DESK_GROUP} TO {name}"))
        .await
        .map_err(db)?;
    if let Some(password) = password {
        // The server hashes it (SCRAM); a literal, quoted by the server.
        let quoted: String = client
            .query_one("SELECT quote_literal($1)", &[&password])
            .await
            .map_err(db)?
            .get(0);
        client
            .batch_execute(&format!("ALTER ROLE {name} PASSWORD {quoted}"))
            .await
            .map_err(db)?;
    }
    Ok(())
}

/// Deletes the number events older than `keep` by the server's clock, as
/// the administrator (desk roles may not delete). The audit records are
/// kept: their retention is the bank's to decide.
pub async fn prune(client: &Client, keep: std::time::Duration) -> Result<u64, SchemaError> {
    let keep_ms = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
    client
        .execute(
            "DELETE FROM public.number_events \
             WHERE at_ms < (extract(epoch FROM clock_timestamp()) * 1000)::bigint - $1",
            &[&keep_ms],
        )
        .await
        .map_err(db)
}
