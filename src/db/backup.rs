//! Backups kept in a directory (`steward backup DIR --keep N`) and `steward restore FILE`.
//!
//! Backups written into a directory are named `steward-YYYYMMDDTHHMMSSZ.db` (UTC), so their
//! names sort in the order they were taken; rotation only ever touches files named so.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::error::AppError;

const PREFIX: &str = "steward-";
const SUFFIX: &str = ".db";

/// The name of a backup taken at `at` inside a backup directory.
pub fn file_name(at: DateTime<Utc>) -> String {
    format!("{PREFIX}{}{SUFFIX}", at.format("%Y%m%dT%H%M%SZ"))
}

/// Whether `name` is one of Steward's backup names (`steward-YYYYMMDDTHHMMSSZ.db`).
pub fn is_backup_name(name: &str) -> bool {
    let Some(stamp) = name.strip_prefix(PREFIX).and_then(|n| n.strip_suffix(SUFFIX)) else {
        return false;
    };
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ").is_ok() && stamp.len() == 16
}

/// Deletes all but the newest `keep` backups in `dir` (by their names' timestamps) and returns
/// the removed paths, oldest first. Other files are left alone.
pub fn rotate(dir: &Path, keep: usize) -> Result<Vec<PathBuf>, AppError> {
    if keep == 0 {
        return Err(AppError::invalid("keep", "--keep 0 would delete every backup; keep at least 1"));
    }
    let entries = std::fs::read_dir(dir)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("reading {}: {e}", dir.display())))?;
    let mut names: Vec<String> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| AppError::Internal(e.into()))?;
        if !entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            continue;
        }
        if let Some(name) = entry.file_name().to_str().filter(|n| is_backup_name(n)) {
            names.push(name.to_owned());
        }
    }
    names.sort();
    let excess = names.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for name in names.into_iter().take(excess) {
        let path = dir.join(name);
        std::fs::remove_file(&path)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("removing {}: {e}", path.display())))?;
        removed.push(path);
    }
    Ok(removed)
}

/// What [`restore`] did.
#[derive(Debug, serde::Serialize)]
pub struct Restored {
    /// Where the database that was replaced went, if there was one.
    pub previous: Option<PathBuf>,
}

#[derive(QueryableByName)]
struct Integrity {
    #[diesel(sql_type = Text)]
    integrity_check: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Replaces the database at `db` with a copy of `file`, unless a Steward server holds the
/// scheduler lock on `db`. The copy is checked (a SQLite database that passes
/// `PRAGMA integrity_check` and has Steward's migrations table), fsynced, and renamed into
/// place; the old database (and its WAL) are first moved aside as `<db>.before-restore-<time>`.
pub fn restore(db: &Path, file: &Path, now: DateTime<Utc>) -> Result<Restored, AppError> {
    if !file.is_file() {
        return Err(AppError::invalid("FILE", format!("{} is not a file", file.display())));
    }
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("creating {}: {e}", dir.display())))?;
    }
    // Held until the end, so no server starts its scheduler on the database meanwhile.
    let Some(_lock) = crate::scheduler::try_lock(db)? else {
        return Err(AppError::invalid(
            "db",
            format!(
                "a Steward server is running on {}; stop it first (systemctl stop steward), then restore",
                db.display()
            ),
        ));
    };
    let tmp = suffixed(db, ".restore-tmp");
    let _ = std::fs::remove_file(&tmp);
    let installed = (|| {
        std::fs::copy(file, &tmp)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("copying {}: {e}", file.display())))?;
        check(&tmp, file)?;
        std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| AppError::Internal(e.into()))?;
        let previous = if db.exists() {
            let aside = suffixed(db, &format!(".before-restore-{}", now.format("%Y%m%dT%H%M%SZ")));
            if aside.exists() {
                return Err(AppError::invalid(
                    "db",
                    format!("{} already exists; wait a second and try again", aside.display()),
                ));
            }
            rename(db, &aside)?;
            // The old WAL belongs to the old database: it goes with it (SQLite finds it by name).
            let wal = suffixed(db, "-wal");
            if wal.exists() {
                rename(&wal, &suffixed(&aside, "-wal"))?;
            }
            let _ = std::fs::remove_file(suffixed(db, "-shm"));
            Some(aside)
        } else {
            None
        };
        rename(&tmp, db)?;
        if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| AppError::Internal(e.into()))?;
        }
        Ok(Restored { previous })
    })();
    if installed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    installed
}

/// Checks that the copy at `path` (of `original`) is a sound Steward database.
fn check(path: &Path, original: &Path) -> Result<(), AppError> {
    let not_steward = |why: String| {
        AppError::invalid("FILE", format!("{} is not a Steward database: {why}", original.display()))
    };
    let mut conn =
        SqliteConnection::establish(&path.to_string_lossy()).map_err(|e| not_steward(e.to_string()))?;
    let rows = diesel::sql_query("PRAGMA integrity_check")
        .load::<Integrity>(&mut conn)
        .map_err(|e| not_steward(e.to_string()))?;
    if rows.len() != 1 || rows[0].integrity_check != "ok" {
        let first = rows.into_iter().next().map(|r| r.integrity_check).unwrap_or_default();
        return Err(not_steward(format!("the integrity check failed ({first})")));
    }
    let tables = diesel::sql_query(
        "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '__diesel_schema_migrations'",
    )
    .get_result::<Count>(&mut conn)
    .map_err(|e| not_steward(e.to_string()))?;
    if tables.n != 1 {
        return Err(not_steward("it has no migrations table".into()));
    }
    Ok(())
}

fn rename(from: &Path, to: &Path) -> Result<(), AppError> {
    std::fs::rename(from, to).map_err(|e| {
        AppError::Internal(anyhow::anyhow!("renaming {} to {}: {e}", from.display(), to.display()))
    })
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Everything, as one file to download (Settings, "Export everything"): a consistent copy of
/// the live database, named as a backup taken `now`. The copy is made beside the database (the
/// one directory the service surely may write) and opened; its name is removed at once, so
/// nothing is left behind, and the open file is read as it is sent, never whole in memory.
pub fn export(
    conn: &mut crate::db::Conn,
    db: &Path,
    now: DateTime<Utc>,
) -> Result<(String, std::fs::File), AppError> {
    let dir = db.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let temp = dir.join(format!(".steward-export-{}.db", crate::auth::random_token(9)));
    let opened = crate::db::backup(conn, &temp).and_then(|()| {
        std::fs::File::open(&temp)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("opening the export copy: {e}")))
    });
    // Removed whatever happened: a half-written copy is of no use, and an open one stays
    // readable until it is closed.
    let _ = std::fs::remove_file(&temp);
    Ok((file_name(now), opened?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_names_sort_by_time_and_nothing_else_matches() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-02T13:04:05Z").unwrap().to_utc();
        assert_eq!(file_name(at), "steward-20261202T130405Z.db");
        assert!(is_backup_name(&file_name(at)));
        for other in [
            "steward.db",
            "steward-20261202T130405Z.db-wal",
            "steward-20261302T130405Z.db",
            "steward-latest.db",
            "xsteward-20261202T130405Z.db",
            "steward-20261202T130405Z.sqlite",
        ] {
            assert!(!is_backup_name(other), "{other}");
        }
    }

    #[test]
    fn rotation_keeps_the_newest_and_leaves_other_files_alone() {
        let dir = tempfile::tempdir().unwrap();
        let names = [
            "steward-20261130T030000Z.db",
            "steward-20261201T030000Z.db",
            "steward-20261202T030000Z.db",
            "steward-20261129T030000Z.db",
        ];
        for n in names.iter().chain(&["notes.txt", "steward.db"]) {
            std::fs::write(dir.path().join(n), b"x").unwrap();
        }
        let removed = rotate(dir.path(), 2).unwrap();
        let removed: Vec<_> =
            removed.iter().map(|p| p.file_name().unwrap().to_str().unwrap().to_owned()).collect();
        assert_eq!(removed, ["steward-20261129T030000Z.db", "steward-20261130T030000Z.db"]);
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            ["notes.txt", "steward-20261201T030000Z.db", "steward-20261202T030000Z.db", "steward.db"]
        );
        assert!(rotate(dir.path(), 5).unwrap().is_empty());
        assert!(rotate(dir.path(), 0).is_err());
    }
}
