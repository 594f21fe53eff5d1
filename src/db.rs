//! The store: an r2d2 pool of SQLite connections, set up the same way every time, and the
//! embedded migrations. Blocking database work runs on tokio's blocking pool via [`Db::run`],
//! never on the async workers.

pub mod schema;
pub mod settings;

use std::path::Path;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::AppError;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub type Conn = SqliteConnection;
pub type PooledConn = diesel::r2d2::PooledConnection<ConnectionManager<Conn>>;

/// Per-connection pragmas. `busy_timeout` comes first so that the WAL switch itself waits for a
/// lock held by another process (a CLI command next to the server) instead of failing.
#[derive(Debug)]
struct Pragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(
            "PRAGMA busy_timeout = 5000;
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;",
        )
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// A cloneable handle to the database.
#[derive(Clone)]
pub struct Db {
    pool: Pool<ConnectionManager<SqliteConnection>>,
}

impl Db {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> anyhow::Result<Db> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let manager = ConnectionManager::<SqliteConnection>::new(path.to_string_lossy());
        let pool = Pool::builder()
            .max_size(8)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .connection_customizer(Box::new(Pragmas))
            .build(manager)?;
        let db = Db { pool };
        let mut conn = db.conn()?;
        conn.run_pending_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("migrating {}: {e}", path.display()))?;
        Ok(db)
    }

    /// A pooled connection, for blocking callers (the CLI, and code already off the async workers).
    pub fn conn(&self) -> anyhow::Result<PooledConn> {
        Ok(self.pool.get()?)
    }

    /// Runs blocking database work on tokio's blocking pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> Result<T, AppError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(anyhow::Error::from)?;
            f(&mut conn)
        })
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("database task failed: {e}")))?
    }
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
