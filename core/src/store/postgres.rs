//! The PostgreSQL implementation of [`Store`]: one database shared by several Verbund nodes.
//!
//! Layout: every tree is a range of one table, `verbund_kv (tree SMALLINT, key BYTEA, value
//! BYTEA, PRIMARY KEY (tree, key))`; `bytea` compares bytewise, so key order, prefixes and
//! ranges mean exactly what they mean on sled. The change feed is the `Changes` tree (keys are
//! big-endian sequence numbers) and the newest sequence number is the row `Meta/seq`, as on
//! sled, so a snapshot of either engine restores into the other.
//!
//! A commit is one transaction that first locks the row `Meta/seq` (`SELECT … FOR UPDATE`),
//! then evaluates the batch's checks, writes, and assigns sequence numbers from the locked row.
//! The lock orders commits: sequence numbers are gap-free and strictly increasing in commit
//! order, and checks see every earlier commit (READ COMMITTED statements read the newest
//! committed data). PostgreSQL's own group commit shares WAL flushes; the reply waits for
//! the commit, so a batch is durable before the caller hears of it. Serialization failures
//! and deadlocks (SQLSTATE 40001, 40P01: the only answer some PostgreSQL-compatible engines
//! give to contention) are retried a bounded number of times. Only portable SQL is used (no
//! advisory locks, no LISTEN/NOTIFY, no server-side functions).
//!
//! The [`Store`] trait is synchronous. The pool and its connections live on a small runtime
//! owned by the store; a caller waits for its query there. Called on a worker of a
//! multi-threaded Tokio runtime, the wait is announced with `block_in_place`, so the worker's
//! other tasks move elsewhere instead of stalling.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

/// A statement parameter.
type Param<'a> = &'a (dyn ToSql + Sync);

use super::{
    Change, Committed, Expect, FORMAT_VERSION, KvPair, Store, StoreError, StoreResult, Tree,
    WriteBatch,
};

const SEQ_KEY: &[u8] = b"seq";
const FORMAT_KEY: &[u8] = b"format";
/// How often a commit is tried again after a serialization failure or deadlock.
const MAX_ATTEMPTS: u32 = 12;
/// Rows per page of a snapshot.
const SNAPSHOT_PAGE: i64 = 2_000;
/// How long one call may wait for the database before it is answered as unavailable (a
/// database that stalls without closing the connection must not hang requests).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The schema migrations, in order. Each runs once per database, in a transaction that also
/// records it, so two nodes starting at once apply it once.
const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        "CREATE TABLE verbund_kv (
            tree SMALLINT NOT NULL,
            key BYTEA NOT NULL,
            value BYTEA NOT NULL,
            PRIMARY KEY (tree, key)
        )",
    ),
    // Storage tuning, PostgreSQL's own (see `TUNING`): the SQL of the migration itself is
    // empty, so every engine records it.
    (2, ""),
];

/// Tuning a migration applies where the engine knows it, and skips where it does not
/// (PostgreSQL-compatible engines lack some of PostgreSQL's storage settings): documents
/// (about 1–8 KB of JSON) stay inside the table's rows and are not compressed, so a read of 20
/// of them does not decompress 20 values out of a side table.
const TUNING: &[(i32, &str)] = &[(
    2,
    "ALTER TABLE verbund_kv SET (toast_tuple_target = 8160);
     ALTER TABLE verbund_kv ALTER COLUMN value SET STORAGE EXTERNAL",
)];

/// A Verbund store in a PostgreSQL database.
pub struct PgStore {
    location: String,
    /// The connection settings (the pool's, and a snapshot's own connection).
    config: tokio_postgres::Config,
    pool: Pool,
    runtime: Option<tokio::runtime::Runtime>,
    /// The queue of this node's committer task (see [`committer`]).
    commits: tokio::sync::mpsc::UnboundedSender<Pending>,
}

/// A batch waiting for the committer, and where its answer goes.
type Pending = (
    WriteBatch,
    tokio::sync::oneshot::Sender<StoreResult<Committed>>,
);
/// At most this many batches share one transaction.
const MAX_GROUP: usize = 64;

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("location", &self.location)
            .finish()
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // A runtime may not be dropped (which blocks) inside another runtime's context.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// The number of a tree in the `tree` column. Fixed forever: never renumber.
fn code(tree: Tree) -> i16 {
    match tree {
        Tree::Entries => 1,
        Tree::Revisions => 2,
        Tree::Slugs => 3,
        Tree::Refs => 4,
        Tree::Index => 5,
        Tree::Published => 6,
        Tree::Changes => 7,
        Tree::Tokens => 8,
        Tree::Audit => 9,
        Tree::Plugins => 10,
        Tree::History => 11,
        Tree::Meta => 12,
        Tree::Assets => 13,
        Tree::Webhooks => 14,
        Tree::Mail => 15,
    }
}

/// What went wrong with one attempt at a statement.
fn classify(e: tokio_postgres::Error) -> StoreError {
    match e.code() {
        Some(c)
            if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            StoreError::Conflict {
                detail: db_message(&e),
            }
        }
        Some(c)
            if *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
                || c.code().starts_with("08") =>
        {
            StoreError::Unavailable {
                detail: e.to_string(),
            }
        }
        Some(_) => StoreError::Engine(db_message(&e)),
        // No SQLSTATE: the connection itself failed (refused, closed, reset).
        None => StoreError::Unavailable {
            detail: db_message(&e),
        },
    }
}

fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        }
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => classify(e),
        other => StoreError::Unavailable {
            detail: other.to_string(),
        },
    }
}

impl PgStore {
    /// Connects to the database at `url`, applies the migrations this build knows, and
    /// checks (or records) the format version.
    pub fn open(url: &str) -> StoreResult<Self> {
        let location = super::location::redact_url(url);
        let open_err = |detail: String| StoreError::Open {
            location: location.clone(),
            detail,
        };
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| open_err(format!("not a PostgreSQL URL: {e}")))?;
        if config.get_password().is_none()
            && let Ok(password) = std::env::var("PGPASSWORD")
        {
            config.password(password);
        }
        if config.get_application_name().is_none() {
            config.application_name("verbund");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("verbund-pg")
            .enable_all()
            .build()
            .map_err(|e| open_err(e.to_string()))?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(Duration::from_secs(5)))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|e| open_err(e.to_string()))?;
        let (commits, queue) = tokio::sync::mpsc::unbounded_channel();
        runtime.spawn(committer(pool.clone(), queue));
        let store = PgStore {
            location: location.clone(),
            config,
            pool,
            runtime: Some(runtime),
            commits,
        };
        store.migrate().map_err(|e| match e {
            StoreError::UnsupportedFormat { .. } => e,
            other => open_err(other.to_string()),
        })?;
        store.check_format()?;
        Ok(store)
    }

    /// The database, without its password.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Runs `fut` on the store's runtime and waits for it.
    fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = StoreResult<T>> + Send + 'static,
    ) -> StoreResult<T> {
        let Some(rt) = self.runtime.as_ref() else {
            return Err(StoreError::Unavailable {
                detail: "the store is closed".into(),
            });
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        rt.spawn(async move {
            let answer = tokio::time::timeout(CALL_TIMEOUT, fut)
                .await
                .unwrap_or_else(|_| {
                    Err(StoreError::Unavailable {
                        detail: format!(
                            "the database did not answer within {} s",
                            CALL_TIMEOUT.as_secs()
                        ),
                    })
                });
            let _ = tx.send(answer);
        });
        let wait = move || {
            rx.recv().unwrap_or_else(|_| {
                Err(StoreError::Unavailable {
                    detail: "the database task ended without an answer".into(),
                })
            })
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        }
    }

    fn migrate(&self) -> StoreResult<()> {
        let pool = self.pool.clone();
        let location = self.location.clone();
        self.run(async move {
            let mut client = pool.get().await.map_err(pool_error)?;
            // Two nodes creating the table at once: one of them may see a unique violation
            // of the catalogue; the table exists either way.
            let exists: bool = client
                .query_one("SELECT to_regclass('verbund_migrations') IS NOT NULL", &[])
                .await
                .map_err(classify)?
                .get(0);
            if !exists
                && let Err(e) = client
                    .batch_execute(
                        "CREATE TABLE IF NOT EXISTS verbund_migrations (
                        version INTEGER PRIMARY KEY,
                        applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
                    )",
                    )
                    .await
                && e.code() != Some(&SqlState::UNIQUE_VIOLATION)
            {
                return Err(classify(e));
            }
            let newest: Option<i32> = client
                .query_one("SELECT max(version) FROM verbund_migrations", &[])
                .await
                .map_err(classify)?
                .get(0);
            let known = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
            if let Some(n) = newest
                && n > known
            {
                return Err(StoreError::UnsupportedFormat {
                    location,
                    found: format!("schema migration {n}"),
                    supported: FORMAT_VERSION,
                });
            }
            for (version, sql) in MIGRATIONS {
                if newest.is_some_and(|n| n >= *version) {
                    continue;
                }
                let tx = client.transaction().await.map_err(classify)?;
                // The insert waits for a concurrent node doing the same migration and then
                // conflicts: that node applied it.
                match tx
                    .execute(
                        "INSERT INTO verbund_migrations (version) VALUES ($1)",
                        &[version],
                    )
                    .await
                {
                    Ok(_) => {}
                    Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => continue,
                    Err(e) => return Err(classify(e)),
                }
                tx.batch_execute(sql).await.map_err(classify)?;
                tx.commit().await.map_err(classify)?;
                for (_, tuning) in TUNING.iter().filter(|(v, _)| v == version) {
                    if let Err(e) = client.batch_execute(tuning).await {
                        tracing::info!(
                            "storage tuning {version} does not apply to this database ({}); it works without",
                            db_message(&e)
                        );
                    }
                }
            }
            let meta = code(Tree::Meta);
            client
                .execute(
                    "INSERT INTO verbund_kv (tree, key, value) VALUES ($1, $2, $3)
                     ON CONFLICT (tree, key) DO NOTHING",
                    &[&meta as Param, &SEQ_KEY, &0u64.to_be_bytes().as_slice()],
                )
                .await
                .map_err(classify)?;
            Ok(())
        })
    }

    fn check_format(&self) -> StoreResult<()> {
        let want = FORMAT_VERSION.to_string().into_bytes();
        match self.get(Tree::Meta, FORMAT_KEY)? {
            Some(v) if v == want => Ok(()),
            Some(v) => Err(StoreError::UnsupportedFormat {
                location: self.location.clone(),
                found: String::from_utf8_lossy(&v).into_owned(),
                supported: FORMAT_VERSION,
            }),
            None => {
                let mut b = WriteBatch::new();
                b.put(Tree::Meta, FORMAT_KEY.to_vec(), want);
                self.commit(b).map(|_| ())
            }
        }
    }

    fn range_query(
        &self,
        tree: Tree,
        start: &[u8],
        end: Option<&[u8]>,
        reverse: bool,
        limit: usize,
        keys_only: bool,
    ) -> StoreResult<Vec<KvPair>> {
        if end.is_some_and(|e| start >= e) || limit == 0 {
            return Ok(Vec::new());
        }
        let what = if keys_only {
            "key, ''::bytea"
        } else {
            "key, value"
        };
        let order = if reverse { "DESC" } else { "ASC" };
        let bound = if end.is_some() {
            "AND key < $3"
        } else {
            "AND $3::bytea IS NULL"
        };
        let sql = format!(
            "SELECT {what} FROM verbund_kv WHERE tree = $1 AND key >= $2 {bound} ORDER BY key {order} LIMIT $4"
        );
        let pool = self.pool.clone();
        let (start, end) = (start.to_vec(), end.map(<[u8]>::to_vec));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(async move {
            let client = pool.get().await.map_err(pool_error)?;
            let stmt = client.prepare_cached(&sql).await.map_err(classify)?;
            let rows = client
                .query(&stmt, &[&code(tree) as Param, &start, &end, &limit])
                .await
                .map_err(classify)?;
            Ok(rows.into_iter().map(pair).collect())
        })
    }
}

fn pair(row: Row) -> KvPair {
    (row.get(0), row.get(1))
}

/// The writes of a batch with each key once (the last write of a key wins), split into
/// removals and puts; the change events become puts of the `Changes` tree.
struct Writes {
    removed: (Vec<i16>, Vec<Vec<u8>>),
    put: (Vec<i16>, Vec<Vec<u8>>, Vec<Vec<u8>>),
}

fn final_writes(batch: &WriteBatch, seq: u64) -> (Writes, Committed) {
    type Slot = (Tree, Vec<u8>);
    fn set<'a>(
        last: &mut HashMap<Slot, Option<&'a [u8]>>,
        order: &mut Vec<Slot>,
        slot: Slot,
        value: Option<&'a [u8]>,
    ) {
        if last.insert(slot.clone(), value).is_none() {
            order.push(slot);
        }
    }
    let next = seq + batch.changes.len() as u64;
    let next_bytes = next.to_be_bytes();
    let mut last: HashMap<Slot, Option<&[u8]>> = HashMap::new();
    let mut order: Vec<Slot> = Vec::new();
    for (tree, key, value) in &batch.writes {
        set(
            &mut last,
            &mut order,
            (*tree, key.clone()),
            value.as_deref(),
        );
    }
    for (i, payload) in batch.changes.iter().enumerate() {
        let key = (seq + 1 + i as u64).to_be_bytes().to_vec();
        set(&mut last, &mut order, (Tree::Changes, key), Some(payload));
    }
    if next != seq {
        set(
            &mut last,
            &mut order,
            (Tree::Meta, SEQ_KEY.to_vec()),
            Some(&next_bytes),
        );
    }
    let mut w = Writes {
        removed: (Vec::new(), Vec::new()),
        put: (Vec::new(), Vec::new(), Vec::new()),
    };
    for slot in order {
        match last.get(&slot).copied().flatten() {
            Some(v) => {
                w.put.0.push(code(slot.0));
                w.put.2.push(v.to_vec());
                w.put.1.push(slot.1);
            }
            None => {
                w.removed.0.push(code(slot.0));
                w.removed.1.push(slot.1);
            }
        }
    }
    let first_seq = (!batch.changes.is_empty()).then_some(seq + 1);
    (
        w,
        Committed {
            first_seq,
            last_seq: next,
        },
    )
}

/// The values of many keys (of any trees) in one query, in the order of `slots`.
async fn current_values(
    client: &impl GenericClient,
    slots: &[(Tree, &[u8])],
) -> StoreResult<Vec<Option<Vec<u8>>>> {
    let stmt = client
        .prepare_cached(
            "SELECT k.i, v.value FROM UNNEST($1::int2[], $2::bytea[]) WITH ORDINALITY AS k(tree, key, i)
             LEFT JOIN verbund_kv v ON v.tree = k.tree AND v.key = k.key",
        )
        .await
        .map_err(classify)?;
    let trees: Vec<i16> = slots.iter().map(|(t, _)| code(*t)).collect();
    let keys: Vec<&[u8]> = slots.iter().map(|(_, k)| *k).collect();
    let mut out = vec![None; slots.len()];
    for row in client
        .query(&stmt, &[&trees as Param, &keys])
        .await
        .map_err(classify)?
    {
        let i: i64 = row.get(0);
        if let Some(slot) = usize::try_from(i - 1).ok().and_then(|i| out.get_mut(i)) {
            *slot = row.get(1);
        }
    }
    Ok(out)
}

/// The batch with its counter increments and derived writes turned into plain writes, from
/// `value`: what the keys they start from hold under the commit lock (where they cannot change
/// until the commit).
fn resolve(batch: &WriteBatch, mut value: HashMap<(Tree, Vec<u8>), Option<Vec<u8>>>) -> WriteBatch {
    let mut out = batch.clone();
    out.adds.clear();
    out.derived.clear();
    for (tree, key, v) in &batch.writes {
        value.insert((*tree, key.clone()), v.clone());
    }
    for (tree, key, delta) in &batch.adds {
        let slot = (*tree, key.clone());
        let next = super::add_to_counter(value.get(&slot).cloned().flatten().as_deref(), *delta);
        value.insert(slot, next.clone());
        out.writes.push((*tree, key.clone(), next));
    }
    for d in &batch.derived {
        let current = value.get(&(d.tree, d.key.clone())).cloned().flatten();
        for (tree, key, v) in (d.make)(current.as_deref()) {
            value.insert((tree, key.clone()), Some(v.clone()));
            out.writes.push((tree, key, Some(v)));
        }
    }
    out
}

fn seq_value(v: Option<Vec<u8>>) -> u64 {
    super::counter(v.as_deref())
}

/// Commits every batch of this node, one group at a time: the batches that queued up while
/// the previous group committed share one transaction (one turn of the `Meta/seq` lock and one
/// WAL flush), so concurrent writers of a node do not wait for each other's flushes. A batch
/// whose checks fail is left out of its group; the others commit.
async fn committer(pool: Pool, mut queue: tokio::sync::mpsc::UnboundedReceiver<Pending>) {
    while let Some(first) = queue.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(p) => group.push(p),
                Err(_) => break,
            }
        }
        let batches: Vec<WriteBatch> = group.iter().map(|(b, _)| b.clone()).collect();
        let results = match tokio::time::timeout(CALL_TIMEOUT, commit_group(&pool, &batches)).await
        {
            Ok(r) => r,
            Err(_) => batches
                .iter()
                .map(|_| {
                    Err(StoreError::Unavailable {
                        detail: format!(
                            "the database did not answer within {} s",
                            CALL_TIMEOUT.as_secs()
                        ),
                    })
                })
                .collect(),
        };
        for ((_, answer), result) in group.into_iter().zip(results) {
            let _ = answer.send(result);
        }
    }
}

/// Commits `batches` together, retrying serialization failures; if the group fails for
/// another reason, each batch is tried alone, so that one bad batch fails only itself.
async fn commit_group(pool: &Pool, batches: &[WriteBatch]) -> Vec<StoreResult<Committed>> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = match pool.get().await.map_err(pool_error) {
            Ok(mut client) => commit_many(&mut client, batches).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(results) => return results,
            Err(StoreError::Conflict { .. }) if attempt < MAX_ATTEMPTS => {
                let jitter = u64::from(ulid::Ulid::new().random() as u8 % 8);
                tokio::time::sleep(Duration::from_millis((1 << attempt.min(6)) + jitter)).await;
            }
            Err(e @ (StoreError::Unavailable { .. } | StoreError::Conflict { .. })) => {
                return batches.iter().map(|_| Err(same_error(&e))).collect();
            }
            Err(e) if batches.len() == 1 => return vec![Err(e)],
            Err(_) => {
                let mut out = Vec::with_capacity(batches.len());
                for b in batches {
                    out.extend(Box::pin(commit_group(pool, std::slice::from_ref(b))).await);
                }
                return out;
            }
        }
    }
}

/// One more of an error that goes to every batch of a group.
fn same_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable { detail } => StoreError::Unavailable {
            detail: detail.clone(),
        },
        StoreError::Conflict { detail } => StoreError::Conflict {
            detail: detail.clone(),
        },
        other => StoreError::Engine(other.to_string()),
    }
}

/// One transaction for `batches`, in order: each batch's checks see the batches before it,
/// a batch whose checks fail writes nothing (its result says so), and the others get their
/// sequence numbers from the locked `Meta/seq` row. An `Err` means nothing was committed.
async fn commit_many(
    client: &mut Object,
    batches: &[WriteBatch],
) -> StoreResult<Vec<StoreResult<Committed>>> {
    let writes = batches.iter().any(|b| !b.is_empty());
    let tx = client.transaction().await.map_err(classify)?;
    let mut seq = 0;
    if writes {
        let lock = tx
            .prepare_cached("SELECT value FROM verbund_kv WHERE tree = $1 AND key = $2 FOR UPDATE")
            .await
            .map_err(classify)?;
        let row = tx
            .query_opt(&lock, &[&code(Tree::Meta) as Param, &SEQ_KEY])
            .await
            .map_err(classify)?;
        seq = seq_value(row.map(|r| r.get(0)));
    }
    let mut results = Vec::with_capacity(batches.len());
    for batch in batches {
        // What the checks, counters and derived writes start from, in one query.
        let mut slots: Vec<(Tree, &[u8])> = batch
            .checks
            .iter()
            .map(|c| (c.tree, c.key.as_slice()))
            .collect();
        let n_checks = slots.len();
        slots.extend(batch.adds.iter().map(|(t, k, _)| (*t, k.as_slice())));
        slots.extend(batch.derived.iter().map(|d| (d.tree, d.key.as_slice())));
        let current = if slots.is_empty() {
            Vec::new()
        } else {
            current_values(&tx, &slots).await?
        };
        let failed = batch
            .checks
            .iter()
            .zip(&current[..n_checks])
            .find(|(check, current)| {
                !matches!(
                    (&check.expect, current),
                    (Expect::Absent, None) | (Expect::Present, Some(_))
                ) && !matches!((&check.expect, current), (Expect::Equals(want), Some(have)) if want == have)
            });
        if let Some((check, _)) = failed {
            results.push(Err(StoreError::CheckFailed {
                tree: check.tree,
                key: String::from_utf8_lossy(&check.key).replace('\0', "/"),
            }));
            continue;
        }
        if batch.is_empty() {
            results.push(Ok(Committed {
                first_seq: None,
                last_seq: seq,
            }));
            continue;
        }
        let resolved;
        let batch = if batch.adds.is_empty() && batch.derived.is_empty() {
            batch
        } else {
            let value = slots[n_checks..]
                .iter()
                .zip(current[n_checks..].iter().cloned())
                .map(|((t, k), v)| ((*t, k.to_vec()), v))
                .collect();
            resolved = resolve(batch, value);
            &resolved
        };
        let (w, committed) = final_writes(batch, seq);
        seq = committed.last_seq;
        // The removals and the puts touch different keys: both go out at once.
        let removals = async {
            if w.removed.0.is_empty() {
                return Ok(0);
            }
            let stmt = tx
                .prepare_cached(
                    "DELETE FROM verbund_kv WHERE (tree, key) IN
                     (SELECT * FROM UNNEST($1::int2[], $2::bytea[]))",
                )
                .await?;
            tx.execute(&stmt, &[&w.removed.0 as Param, &w.removed.1])
                .await
        };
        let puts = async {
            if w.put.0.is_empty() {
                return Ok(0);
            }
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO verbund_kv (tree, key, value)
                     SELECT * FROM UNNEST($1::int2[], $2::bytea[], $3::bytea[])
                     ON CONFLICT (tree, key) DO UPDATE SET value = EXCLUDED.value",
                )
                .await?;
            tx.execute(&stmt, &[&w.put.0 as Param, &w.put.1, &w.put.2])
                .await
        };
        tokio::try_join!(removals, puts).map_err(classify)?;
        results.push(Ok(committed));
    }
    if results.iter().any(Result::is_ok) {
        tx.commit().await.map_err(classify)?;
    } else {
        tx.rollback().await.map_err(classify)?;
    }
    Ok(results)
}

impl Store for PgStore {
    fn get(&self, tree: Tree, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        let pool = self.pool.clone();
        let key = key.to_vec();
        self.run(async move {
            let client = pool.get().await.map_err(pool_error)?;
            let stmt = client
                .prepare_cached("SELECT value FROM verbund_kv WHERE tree = $1 AND key = $2")
                .await
                .map_err(classify)?;
            let row = client
                .query_opt(&stmt, &[&code(tree) as Param, &key])
                .await
                .map_err(classify)?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn get_many(&self, tree: Tree, keys: &[Vec<u8>]) -> StoreResult<Vec<Option<Vec<u8>>>> {
        if keys.len() < 2 {
            return keys.iter().map(|k| self.get(tree, k)).collect();
        }
        let pool = self.pool.clone();
        let keys = keys.to_vec();
        self.run(async move {
            let client = pool.get().await.map_err(pool_error)?;
            let slots: Vec<(Tree, &[u8])> = keys.iter().map(|k| (tree, k.as_slice())).collect();
            current_values(&client, &slots).await
        })
    }

    fn get_through(
        &self,
        from: Tree,
        key: &[u8],
        to: Tree,
        prefix: &[u8],
    ) -> StoreResult<Option<Vec<u8>>> {
        let pool = self.pool.clone();
        let (key, prefix) = (key.to_vec(), prefix.to_vec());
        self.run(async move {
            let client = pool.get().await.map_err(pool_error)?;
            let stmt = client
                .prepare_cached(
                    "SELECT t.value FROM verbund_kv f JOIN verbund_kv t
                     ON t.tree = $3 AND t.key = $4::bytea || f.value
                     WHERE f.tree = $1 AND f.key = $2",
                )
                .await
                .map_err(classify)?;
            let row = client
                .query_opt(&stmt, &[&code(from) as Param, &key, &code(to), &prefix])
                .await
                .map_err(classify)?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn shared(&self) -> bool {
        true
    }

    fn scan_prefix(
        &self,
        tree: Tree,
        prefix: &[u8],
        reverse: bool,
        limit: usize,
    ) -> StoreResult<Vec<KvPair>> {
        let end = (!prefix.is_empty()).then(|| super::prefix_end(prefix));
        self.range_query(tree, prefix, end.as_deref(), reverse, limit, false)
    }

    fn snapshot(&self, visit: &mut super::SnapshotVisitor<'_>) -> StoreResult<u64> {
        // One REPEATABLE READ transaction, so every page is read from the same instant, on a
        // connection of its own: handed into each page's query and back out, and closed when
        // dropped — also when a page or the visitor fails half-way — so no pooled connection
        // is ever left inside the snapshot's transaction.
        let config = self.config.clone();
        let mut client = self.run(async move {
            let (client, conn) = config.connect(NoTls).await.map_err(classify)?;
            tokio::spawn(conn);
            client
                .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await
                .map_err(classify)?;
            Ok(client)
        })?;
        let mut n = 0u64;
        for tree in Tree::ALL {
            let mut after: Option<Vec<u8>> = None;
            loop {
                let (c, rows) = self.run(async move {
                    let rows = client
                        .query(
                            "SELECT key, value FROM verbund_kv WHERE tree = $1
                             AND ($2::bytea IS NULL OR key > $2) ORDER BY key LIMIT $3",
                            &[&code(tree) as Param, &after, &SNAPSHOT_PAGE],
                        )
                        .await
                        .map_err(classify)?;
                    Ok((client, rows))
                })?;
                client = c;
                let full = rows.len() as i64 == SNAPSHOT_PAGE;
                after = None;
                for row in rows {
                    let (k, v): KvPair = pair(row);
                    visit(tree, &k, &v)?;
                    n += 1;
                    after = Some(k);
                }
                if !full {
                    break;
                }
            }
        }
        Ok(n)
    }

    fn scan_range(
        &self,
        tree: Tree,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        limit: usize,
    ) -> StoreResult<Vec<KvPair>> {
        self.range_query(tree, start, Some(end), reverse, limit, false)
    }

    fn scan_range_keys(
        &self,
        tree: Tree,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> StoreResult<Vec<Vec<u8>>> {
        Ok(self
            .range_query(tree, start, Some(end), false, limit, true)?
            .into_iter()
            .map(|(k, _)| k)
            .collect())
    }

    fn commit(&self, batch: WriteBatch) -> StoreResult<Committed> {
        if batch.is_empty() && batch.checks.is_empty() {
            return Ok(Committed {
                first_seq: None,
                last_seq: self.last_seq()?,
            });
        }
        let (answer, answered) = tokio::sync::oneshot::channel();
        if self.commits.send((batch, answer)).is_err() {
            return Err(StoreError::Unavailable {
                detail: "the store is closed".into(),
            });
        }
        self.run(async move {
            answered.await.unwrap_or_else(|_| {
                Err(StoreError::Unavailable {
                    detail: "the committer ended without an answer".into(),
                })
            })
        })
    }

    fn changes_since(&self, since: u64, limit: usize) -> StoreResult<Vec<Change>> {
        let start = since.saturating_add(1).to_be_bytes();
        self.range_query(Tree::Changes, &start, None, false, limit, false)?
            .into_iter()
            .map(|(k, v)| {
                let seq = <[u8; 8]>::try_from(k.as_slice())
                    .map(u64::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt {
                        tree: Tree::Changes,
                        detail: format!("key of {} bytes, expected 8", k.len()),
                    })?;
                Ok(Change { seq, payload: v })
            })
            .collect()
    }

    fn last_seq(&self) -> StoreResult<u64> {
        Ok(seq_value(self.get(Tree::Meta, SEQ_KEY)?))
    }

    fn size_on_disk(&self) -> StoreResult<u64> {
        let pool = self.pool.clone();
        self.run(async move {
            let client = pool.get().await.map_err(pool_error)?;
            let row = client
                .query_one("SELECT pg_total_relation_size('verbund_kv')", &[])
                .await
                .map_err(classify)?;
            Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
        })
    }
}

/// For tests and benchmarks: a new, empty schema in the PostgreSQL database at `url`, and a
/// URL that works in it (its `search_path`), so that each test gets a store of its own on one
/// server.
pub fn scratch_schema(url: &str) -> StoreResult<String> {
    let name = format!("verbund_{}", ulid::Ulid::new().to_string().to_lowercase());
    let (server, schema) = (url.to_string(), name.clone());
    let work = move || -> StoreResult<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Engine(e.to_string()))?;
        rt.block_on(async move {
            let (client, conn) = tokio_postgres::connect(&server, NoTls)
                .await
                .map_err(classify)?;
            tokio::spawn(conn);
            client
                .batch_execute(&format!("CREATE SCHEMA {schema}"))
                .await
                .map_err(classify)
        })
    };
    // A thread of its own: the caller may be inside a runtime, where another cannot block.
    std::thread::spawn(work)
        .join()
        .map_err(|_| StoreError::Engine("creating the schema panicked".into()))??;
    let sep = if url.contains('?') { '&' } else { '?' };
    Ok(format!("{url}{sep}options=-c%20search_path%3D{name}"))
}
