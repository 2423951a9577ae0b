//! The ledger's own thread: one connection, the requests in order, the
//! statements of each decision, and the backlog of what the store could
//! not be told yet. Everything here runs on the thread's small runtime.

use super::*;

pub(super) struct Worker {
    /// This desk's role: its own claims are its own S6 check's business.
    pub(super) desk: DeskName,
    pub(super) trips: RoundTrips,
    pub(super) pg: Config,
    /// `Some` when TLS is used, with IT's CA bundle if any.
    pub(super) tls: Option<Option<PathBuf>>,
    pub(super) password: Option<SecretString>,
    pub(super) clock: LedgerClock,
    pub(super) client: Option<Client>,
    pub(super) backlog: std::collections::VecDeque<Deferred>,
}

/// Why one request failed: the connection (try again later) or a refusal.
enum Failed {
    Connection(String),
}

impl From<tokio_postgres::Error> for Failed {
    fn from(e: tokio_postgres::Error) -> Self {
        Failed::Connection(describe(&e))
    }
}

impl Worker {
    pub(super) fn run(mut self, mut inbox: mpsc::UnboundedReceiver<Request>) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(error = %e, "the branch ledger has no runtime");
                return;
            }
        };
        runtime.block_on(async move {
            while let Some(request) = inbox.recv().await {
                self.handle(request).await;
            }
        });
    }

    async fn handle(&mut self, request: Request) {
        // What was told while the store was away goes first, in order; if
        // it still cannot be recorded, the store is away for this request
        // too, and a claim is refused without trying again.
        let reachable = self.flush_backlog().await;
        match request {
            Request::Probe(reply) => {
                let result =
                    timeout(REQUEST_TIMEOUT, async { self.client().await.map(drop) }).await;
                let _ = reply.send(self.settle(result).map_err(unreachable));
            }
            Request::BranchHead(reply) => {
                let result = timeout(REQUEST_TIMEOUT, self.branch_head()).await;
                let _ = reply.send(self.settle(result).map_err(unreachable));
            }
            Request::ReadAudit { desk, limit, reply } => {
                let result = timeout(REQUEST_TIMEOUT, self.read_audit(desk, limit)).await;
                let _ = reply.send(self.settle(result).map_err(unreachable));
            }
            Request::Forward(records, reply) => {
                let result = timeout(REQUEST_TIMEOUT, self.forward(&records)).await;
                let _ = reply.send(self.settle(result).map_err(unreachable));
            }
            Request::Claim(_, deadline, reply) if Instant::now() >= deadline => {
                let _ = reply.send(Err(BranchRefusal::Unreachable("not asked in time".into())));
            }
            Request::Claim(_, _, reply) if !reachable => {
                let why = "earlier events could not be recorded yet".into();
                let _ = reply.send(Err(BranchRefusal::Unreachable(why)));
            }
            Request::Claim(claim, _, reply) => {
                let result = timeout(REQUEST_TIMEOUT, self.claim(&claim)).await;
                let _ = reply.send(match self.settle(result) {
                    Ok(decision) => decision,
                    Err(Failed::Connection(e)) => Err(BranchRefusal::Unreachable(e)),
                });
            }
            Request::Failure {
                number,
                verification,
                at,
                reply,
            } => {
                let told = Deferred::Failure {
                    number,
                    verification,
                    at,
                };
                let result = match reachable {
                    true => self.record(&told).await,
                    false => Err(Failed::Connection("the store is away".into())),
                };
                if result.is_err() {
                    self.defer(told);
                }
                let _ = reply.send(result.map_err(unreachable));
            }
            Request::Release(told, reply) => {
                if !reachable || self.record(&told).await.is_err() {
                    self.defer(told);
                }
                let _ = reply.send(());
            }
        }
    }

    /// Records one told event; a failure answers the number's count.
    async fn record(&mut self, told: &Deferred) -> Result<usize, Failed> {
        let result = match told {
            Deferred::Failure {
                number,
                verification,
                at,
            } => timeout(REQUEST_TIMEOUT, self.failure(number, verification, *at)).await,
            Deferred::Release {
                number,
                verification,
                at,
            } => {
                timeout(REQUEST_TIMEOUT, async {
                    self.release(number, verification, *at).await.map(|()| 0)
                })
                .await
            }
        };
        self.settle(result)
    }

    fn defer(&mut self, told: Deferred) {
        if self.backlog.len() >= MAX_BACKLOG {
            tracing::error!("branch backlog full: the oldest told event is dropped");
            self.backlog.pop_front();
        }
        self.backlog.push_back(told);
    }

    /// Records the backlog, oldest first; whether the store took it all.
    async fn flush_backlog(&mut self) -> bool {
        while let Some(told) = self.backlog.front().cloned() {
            if self.record(&told).await.is_err() {
                return false;
            }
            self.backlog.pop_front();
        }
        true
    }

    /// A request that failed or ran out of time drops the connection, so
    /// the next one starts clean (an abandoned transaction included).
    fn settle<T>(
        &mut self,
        result: Result<Result<T, Failed>, tokio::time::error::Elapsed>,
    ) -> Result<T, Failed> {
        let result = result.unwrap_or_else(|_| {
            Err(Failed::Connection(
                "the branch database did not answer in time".into(),
            ))
        });
        if result.is_err() {
            self.client = None;
        }
        result
    }

    async fn client(&mut self) -> Result<&mut Client, Failed> {
        if self.client.as_ref().is_some_and(|c| !c.is_closed()) {
            return self
                .client
                .as_mut()
                .ok_or(Failed::Connection("gone".into()));
        }
        self.client = None;
        let mut pg = self.pg.clone();
        pg.connect_timeout(CONNECT_TIMEOUT);
        if let Some(password) = &self.password {
            pg.password(password.expose_secret());
        }
        let ca_bundle = self.tls.as_ref().and_then(|b| b.as_deref());
        let client = connect(&pg, self.tls.is_some(), ca_bundle)
            .await
            .map_err(Failed::Connection)?;
        schema::check_version(&client)
            .await
            .map_err(|e| Failed::Connection(e.to_string()))?;
        Ok(self.client.insert(client))
    }

    async fn claim(&mut self, claim: &SendClaim) -> Result<Result<(), BranchRefusal>, Failed> {
        let (clock, trips, me) = (self.clock, self.trips.clone(), self.desk.clone());
        let client = self.client().await?;
        let tx = client.transaction().await?;
        let now = lock_number(&tx, &claim.number, clock, claim.at).await?;
        let events = history(&tx, &claim.number, now.minus(claim.limits.horizon())).await?;
        trips.add(3);
        if let Err(refusal) = decide(&events, claim, &me, now) {
            tx.rollback().await?;
            trips.add(1);
            return Ok(Err(refusal));
        }
        let verification = claim.verification.as_ref().map(|v| v.as_str().to_owned());
        let number = claim.number.as_str();
        let at = now.millis();
        insert(&tx, number, "send", verification.as_deref(), at, None).await?;
        trips.add(1);
        if let (Some(v), false) = (&verification, claim.kind == ClaimKind::Test) {
            let expires = now.plus(claim.validity).millis();
            insert(&tx, number, "claim", Some(v), at, Some(expires)).await?;
            trips.add(1);
        }
        tx.commit().await?;
        trips.add(1);
        Ok(Ok(()))
    }

    async fn failure(
        &mut self,
        number: &NumberId,
        verification: &VerificationId,
        at: Timestamp,
    ) -> Result<usize, Failed> {
        let (clock, trips) = (self.clock, self.trips.clone());
        let client = self.client().await?;
        let tx = client.transaction().await?;
        let now = lock_number(&tx, number, clock, at).await?;
        let v = verification.as_str();
        insert(&tx, number.as_str(), "failure", Some(v), now.millis(), None).await?;
        let cutoff = now.minus(crate::policy::FAILURE_WINDOW).millis();
        let rows = tx
            .query_typed(
                "SELECT count(*) FROM public.number_events \
                 WHERE number_id = $1 AND kind = 'failure' AND at_ms > $2",
                &[(&number.as_str(), Type::TEXT), (&cutoff, Type::INT8)],
            )
            .await?;
        let count: i64 = rows.first().map_or(0, |r| r.get(0));
        tx.commit().await?;
        trips.add(5);
        Ok(usize::try_from(count).unwrap_or(usize::MAX))
    }

    async fn branch_head(&mut self) -> Result<Option<BranchHead>, Failed> {
        let client = self.client().await?;
        let rows = client
            .query_typed(
                "SELECT seq, line FROM public.audit_records WHERE desk = current_user \
                 ORDER BY seq DESC LIMIT 1",
                &[],
            )
            .await?;
        self.trips.add(1);
        Ok(rows.first().map(|r| BranchHead {
            seq: u64::try_from(r.get::<_, i64>(0)).unwrap_or(0),
            line: r.get(1),
        }))
    }

    async fn read_audit(
        &mut self,
        desk: Option<DeskName>,
        limit: i64,
    ) -> Result<Vec<(String, String)>, Failed> {
        let desk = desk.map(|d| d.as_str().to_owned());
        let client = self.client().await?;
        let params: [(&(dyn ToSql + Sync), Type); 2] = [(&desk, Type::TEXT), (&limit, Type::INT8)];
        let rows = client
            .query_typed(
                "SELECT desk::text, line FROM public.audit_records \
                 WHERE $1::text IS NULL OR desk = $1::text \
                 ORDER BY received_at DESC, seq DESC LIMIT $2",
                &params,
            )
            .await?;
        self.trips.add(1);
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn forward(&mut self, records: &[(u64, String)]) -> Result<(), Failed> {
        let seqs: Vec<i64> = records
            .iter()
            .map(|(seq, _)| i64::try_from(*seq).unwrap_or(i64::MAX))
            .collect();
        let lines: Vec<&str> = records.iter().map(|(_, line)| line.as_str()).collect();
        let client = self.client().await?;
        let params: [(&(dyn ToSql + Sync), Type); 2] =
            [(&seqs, Type::INT8_ARRAY), (&lines, Type::TEXT_ARRAY)];
        client
            .query_typed(
                "INSERT INTO public.audit_records (seq, line) \
                 SELECT * FROM unnest($1::bigint[], $2::text[]) \
                 ON CONFLICT (desk, seq) DO NOTHING",
                &params,
            )
            .await?;
        self.trips.add(1);
        Ok(())
    }

    async fn release(
        &mut self,
        number: &NumberId,
        verification: &VerificationId,
        at: Timestamp,
    ) -> Result<(), Failed> {
        let trips = self.trips.clone();
        // Under the server's clock the time is taken in the statement
        // itself, so an end costs one round trip.
        let at = match self.clock {
            LedgerClock::Server => None,
            LedgerClock::Desk => Some(at.millis()),
        };
        let client = self.client().await?;
        let v = verification.as_str();
        let params: [(&(dyn ToSql + Sync), Type); 3] = [
            (&number.as_str(), Type::TEXT),
            (&v, Type::TEXT),
            (&at, Type::INT8),
        ];
        client
            .query_typed(
                &format!(
                    "INSERT INTO public.number_events (number_id, kind, verification, at_ms) \
                     VALUES ($1, 'release', $2, coalesce($3, {SERVER_NOW}))"
                ),
                &params,
            )
            .await?;
        trips.add(1);
        Ok(())
    }
}

fn unreachable(f: Failed) -> Unreachable {
    match f {
        Failed::Connection(e) => Unreachable(e),
    }
}

const SERVER_NOW: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/// Takes the number's lock for the rest of the transaction, and the time
/// the decision is made at (read after the lock is held).
async fn lock_number(
    tx: &tokio_postgres::Transaction<'_>,
    number: &NumberId,
    clock: LedgerClock,
    desk_now: Timestamp,
) -> Result<Timestamp, Failed> {
    let key = lock_key(number);
    let rows = tx
        .query_typed(
            &format!("SELECT {SERVER_NOW} FROM (SELECT pg_advisory_xact_lock($1)) AS held"),
            &[(&key, Type::INT8)],
        )
        .await?;
    let server: i64 = rows.first().map_or(0, |r| r.get(0));
    Ok(match clock {
        LedgerClock::Server => Timestamp::from_millis(server),
        LedgerClock::Desk => desk_now,
    })
}

/// The advisory lock's key: the number digest's first 64 bits. Two numbers
/// sharing it only wait for each other.
fn lock_key(number: &NumberId) -> i64 {
    let hex = number.as_str().get(..16).unwrap_or("0");
    u64::from_str_radix(hex, 16).map_or(0, |k| k as i64)
}

async fn history(
    tx: &tokio_postgres::Transaction<'_>,
    number: &NumberId,
    since: Timestamp,
) -> Result<NumberEvents, Failed> {
    let rows = tx
        .query_typed(
            "SELECT kind, desk::text, verification, at_ms, expires_ms FROM public.number_events \
             WHERE number_id = $1 AND at_ms > $2",
            &[
                (&number.as_str(), Type::TEXT),
                (&since.millis(), Type::INT8),
            ],
        )
        .await?;
    let mut events = NumberEvents::default();
    for row in rows {
        let kind: &str = row.get(0);
        let at = Timestamp::from_millis(row.get(3));
        let verification = row
            .get::<_, Option<&str>>(2)
            .and_then(VerificationId::parse);
        match kind {
            "send" => events.sends.push(at),
            "failure" => events.failures.push(at),
            "release" => {
                if let (Some(desk), Some(verification)) =
                    (DeskName::parse(row.get(1)), verification)
                {
                    events.released.push(Released { desk, verification });
                }
            }
            "claim" => {
                // A claim no desk could have written (hand-made by a desk
                // role) names nothing to wait for.
                let desk = DeskName::parse(row.get(1));
                let expires = row.get::<_, Option<i64>>(4).map(Timestamp::from_millis);
                if let (Some(desk), Some(verification), Some(expires_at)) =
                    (desk, verification, expires)
                {
                    events.claims.push(Claim {
                        desk,
                        verification,
                        expires_at,
                    });
                }
            }
            _ => {}
        }
    }
    Ok(events)
}

async fn insert(
    tx: &tokio_postgres::Transaction<'_>,
    number: &str,
    kind: &str,
    verification: Option<&str>,
    at_ms: i64,
    expires_ms: Option<i64>,
) -> Result<(), Failed> {
    let params: [(&(dyn ToSql + Sync), Type); 5] = [
        (&number, Type::TEXT),
        (&kind, Type::TEXT),
        (&verification, Type::TEXT),
        (&at_ms, Type::INT8),
        (&expires_ms, Type::INT8),
    ];
    tx.query_typed(
        "INSERT INTO public.number_events (number_id, kind, verification, at_ms, expires_ms) \
         VALUES ($1, $2, $3, $4, $5)",
        &params,
    )
    .await?;
    Ok(())
}
