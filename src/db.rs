//! The store: an r2d2 pool of SQLite connections, set up the same way every time, and the
//! embedded migrations. Blocking database work runs on tokio's blocking pool via [`Db::run`],
//! never on the async workers.

pub mod backup;
pub mod schema;
pub mod settings;

use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use prometheus_client::metrics::histogram::Histogram;

use crate::error::AppError;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub type Conn = SqliteConnection;
pub type PooledConn = diesel::r2d2::PooledConnection<ConnectionManager<Conn>>;

/// How often the server copies the write-ahead log back into the database file (see
/// [`Db::checkpoint_every`]).
pub const CHECKPOINT_PERIOD: Duration = Duration::from_secs(2);

/// Wait up to 5 s for a lock held by another connection or process instead of failing at once.
const BUSY_TIMEOUT: &str = "PRAGMA busy_timeout = 5000;";

/// Per-connection pragmas. `busy_timeout` comes first so that the WAL switch itself waits for a
/// lock held by another process (a CLI command next to the server) instead of failing.
/// `auto_vacuum` comes before anything is written, so that a new database has it from the
/// start (it cannot be turned on once a table exists without a `VACUUM`; see
/// [`Db::open_for_server`]); on an existing database it changes nothing by itself.
#[derive(Debug)]
struct Pragmas {
    /// The WAL size, in pages, at which a commit checkpoints it (and fsyncs) before returning.
    /// SQLite's default of 1000 suits the CLI; the server checkpoints in the background instead
    /// (see [`Db::checkpoint_every`]) and keeps this only as a bound for long write bursts, which
    /// grow the WAL faster than a background checkpoint, racing the writes, can empty it.
    autocheckpoint_pages: u32,
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!(
            "{BUSY_TIMEOUT}
             PRAGMA auto_vacuum = INCREMENTAL;
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;
             PRAGMA wal_autocheckpoint = {};",
            self.autocheckpoint_pages
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// A cloneable handle to the database.
#[derive(Clone)]
pub struct Db {
    pool: Pool<ConnectionManager<SqliteConnection>>,
    path: PathBuf,
    /// How long each checkout waited for a connection (shown by `GET /metrics`).
    waits: Histogram,
}

impl Db {
    /// Opens (creating if needed) the database file and brings its schema up to date. For
    /// short-lived processes (the CLI): SQLite checkpoints the WAL itself, after big commits
    /// and when the last connection closes, so it stays bounded without help.
    pub fn open(path: &Path) -> anyhow::Result<Db> {
        Db::open_with(path, Pragmas { autocheckpoint_pages: 1000 })
    }

    /// [`Db::open`] for the server, whose commits should not wait for a checkpoint's fsync (the
    /// scheduler's lateness): the server must run [`Db::checkpoint_every`]. A commit only
    /// checkpoints itself once the WAL reaches 10,000 pages (40 MB), which takes a long burst
    /// of writes.
    ///
    /// A database made before pruning existed (`auto_vacuum = NONE`) is converted here, once,
    /// with a `VACUUM`: pruned history then goes back to the file system in small steps
    /// (`crate::retention`) instead of staying in the file as free pages. `VACUUM` rewrites the
    /// whole file and locks it while it does, so it happens at the server's start, before it
    /// listens or fires anything, and not in a migration (the CLI runs those too, possibly next
    /// to a running server it would then stall) nor at run time. It takes seconds for a few
    /// hundred megabytes and needs that much free disk space for the while; if it cannot run
    /// (the space, another process's lock), the server starts anyway and tries at the next start.
    pub fn open_for_server(path: &Path) -> anyhow::Result<Db> {
        let db = Db::open_with(path, Pragmas { autocheckpoint_pages: 10_000 })?;
        let mut conn = db.conn()?;
        if pragma(&mut conn, "auto_vacuum")? == 0 {
            let mb = pragma(&mut conn, "page_count")? * pragma(&mut conn, "page_size")? / 1_000_000;
            tracing::warn!(
                db = %path.display(),
                size_mb = mb,
                "converting the database to incremental vacuum, once: rewriting it with VACUUM"
            );
            let t = std::time::Instant::now();
            match conn.batch_execute("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;") {
                Ok(()) => tracing::info!(seconds = t.elapsed().as_secs_f64(), "database converted"),
                Err(e) => tracing::warn!(
                    error = %e,
                    "could not convert the database now (it keeps working; the next start tries again)"
                ),
            }
        }
        Ok(db)
    }

    fn open_with(path: &Path, pragmas: Pragmas) -> anyhow::Result<Db> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let manager = ConnectionManager::<SqliteConnection>::new(path.to_string_lossy());
        let pool = Pool::builder()
            .max_size(8)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .connection_customizer(Box::new(pragmas))
            .build(manager)?;
        let db = Db { pool, path: path.to_path_buf(), waits: crate::metrics::pool_wait_histogram() };
        let mut conn = db.conn()?;
        conn.run_pending_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("migrating {}: {e}", path.display()))?;
        Ok(db)
    }

    /// Keeps the WAL short without making the scheduler's commits wait for an fsync, for as long
    /// as it is polled. Once a whole `period` has passed without a commit, it copies the WAL
    /// into the database file (PASSIVE: it blocks no writer or reader) and then starts the WAL
    /// over with a write of its own, an unchanged `user_version`. Starting the WAL over fsyncs
    /// its new header while holding the write lock: a quiet moment is the time for that, not
    /// a commit in the middle of a run of firings. Writes without such a pause are bounded by
    /// the 10,000 pages of [`Db::open_for_server`].
    pub async fn checkpoint_every(self, period: Duration) {
        let mut checkpointer = Checkpointer { path: self.path, conn: None, seen: None, behind: false };
        loop {
            tokio::time::sleep(period).await;
            let tick = tokio::task::spawn_blocking(move || {
                if let Err(e) = checkpointer.tick() {
                    tracing::warn!(error = format!("{e:#}"), "checkpointing the database failed");
                    checkpointer.conn = None;
                }
                checkpointer
            });
            match tick.await {
                Ok(c) => checkpointer = c,
                // Only when the runtime shuts down; commits then checkpoint at 10,000 pages.
                Err(_) => return,
            }
        }
    }

    /// A pooled connection, for blocking callers (the CLI, and code already off the async workers).
    pub fn conn(&self) -> anyhow::Result<PooledConn> {
        Ok(checkout(&self.pool, &self.waits)?)
    }

    /// The waits for a connection, for [`crate::metrics::Metrics`].
    pub fn pool_waits(&self) -> Histogram {
        self.waits.clone()
    }

    /// Runs blocking database work on tokio's blocking pool, in the caller's tracing span (so
    /// what it logs carries the request's id).
    pub async fn run<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> Result<T, AppError> + Send + 'static,
    {
        let (pool, waits) = (self.pool.clone(), self.waits.clone());
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let mut conn = checkout(&pool, &waits).map_err(anyhow::Error::from)?;
            f(&mut conn)
        })
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("database task failed: {e}")))?
    }
}

/// A connection from the pool, timing the wait (a wait that ends in the pool's timeout counts
/// too: it is the longest wait there is).
fn checkout(
    pool: &Pool<ConnectionManager<SqliteConnection>>,
    waits: &Histogram,
) -> Result<PooledConn, diesel::r2d2::PoolError> {
    let started = std::time::Instant::now();
    let conn = pool.get();
    waits.observe(started.elapsed().as_secs_f64());
    conn
}

/// The background checkpoint's state, on a connection of its own: `PRAGMA data_version` only
/// changes when another connection commits, so it tells whether anything was written.
struct Checkpointer {
    path: PathBuf,
    conn: Option<SqliteConnection>,
    /// `data_version` at the last tick.
    seen: Option<i64>,
    /// Written to since the last complete checkpoint.
    behind: bool,
}

#[derive(QueryableByName)]
struct DataVersion {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    data_version: i64,
}

#[derive(QueryableByName)]
struct WalCheckpoint {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    busy: i32,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    log: i32,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    checkpointed: i32,
}

#[derive(QueryableByName)]
struct UserVersion {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    user_version: i32,
}

impl Checkpointer {
    fn tick(&mut self) -> Result<(), AppError> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => {
                let mut conn = SqliteConnection::establish(&self.path.to_string_lossy())
                    .map_err(|e| AppError::Internal(anyhow::anyhow!("opening the database: {e}")))?;
                conn.batch_execute(BUSY_TIMEOUT)?;
                self.conn.insert(conn)
            }
        };
        let version = diesel::sql_query("PRAGMA data_version").get_result::<DataVersion>(conn)?.data_version;
        if self.seen != Some(version) {
            // Written to since the last tick: wait for a quiet one.
            self.seen = Some(version);
            self.behind = true;
            return Ok(());
        }
        if !self.behind {
            return Ok(());
        }
        let done = diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result::<WalCheckpoint>(conn)?;
        if done.busy != 0 || done.checkpointed < done.log {
            // A reader still needs part of the WAL: next time.
            return Ok(());
        }
        if done.log > 0 {
            write(conn, |conn| {
                let v =
                    diesel::sql_query("PRAGMA user_version").get_result::<UserVersion>(conn)?.user_version;
                conn.batch_execute(&format!("PRAGMA user_version = {v};"))?;
                Ok(())
            })?;
        }
        self.behind = false;
        Ok(())
    }
}

#[derive(QueryableByName)]
struct PragmaValue {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    value: i64,
}

/// A pragma that answers one number (`auto_vacuum`, `freelist_count`, `page_count`, ...).
pub fn pragma(conn: &mut Conn, name: &'static str) -> QueryResult<i64> {
    Ok(diesel::sql_query(format!("SELECT {name} AS value FROM pragma_{name}()"))
        .get_result::<PragmaValue>(conn)?
        .value)
}

/// Runs `f` in an immediate (write-locking) transaction, so concurrent writers queue on the
/// busy timeout instead of failing half-way with SQLITE_BUSY on lock upgrade.
pub fn write<T>(conn: &mut Conn, f: impl FnOnce(&mut Conn) -> Result<T, AppError>) -> Result<T, AppError> {
    conn.immediate_transaction(f)
}

/// A consistent copy of the live database (safe while the server writes to it).
pub fn backup(conn: &mut Conn, dest: &Path) -> Result<(), AppError> {
    use diesel::RunQueryDsl;
    if dest.exists() {
        return Err(AppError::invalid(
            "path",
            format!("{} already exists; choose a new file", dest.display()),
        ));
    }
    diesel::sql_query("VACUUM INTO ?")
        .bind::<diesel::sql_types::Text, _>(dest.to_string_lossy().into_owned())
        .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wal_frames(conn: &mut Conn) -> i32 {
        diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result::<WalCheckpoint>(conn).unwrap().log
    }

    #[test]
    fn the_checkpointer_empties_the_wal_and_starts_it_over_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = Db::open_for_server(&path).unwrap();
        let mut conn = db.conn().unwrap();
        // The pool replaces the connection taken with a new idle one in the background; its
        // set-up reads, if they overlap a tick, keep the WAL from starting over.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while db.pool.state().idle_connections < 1 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        for i in 0..20 {
            crate::db::settings::set(&mut conn, &format!("k{i}"), "v").unwrap();
        }
        let mut checkpointer = Checkpointer { path, conn: None, seen: None, behind: false };
        // Written to: it waits for a tick without writes.
        checkpointer.tick().unwrap();
        assert!(checkpointer.behind);
        checkpointer.tick().unwrap();
        assert!(!checkpointer.behind);
        // All copied, and the WAL started over with the checkpointer's one-page write: the
        // next commit appends to it instead of starting it over (and fsyncing its header).
        assert_eq!(wal_frames(&mut conn), 1);
        crate::db::settings::set(&mut conn, "k", "w").unwrap();
        checkpointer.tick().unwrap();
        assert!(checkpointer.behind);
        checkpointer.tick().unwrap();
        assert_eq!(wal_frames(&mut conn), 1);
    }
}
