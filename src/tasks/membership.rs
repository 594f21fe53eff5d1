//! Which tasks carry each context and project: `task_contexts` and `task_projects`, one row per
//! (name, task). A LIKE on the padded `contexts` column cannot use an index, so "open tasks with
//! @waiting" read every open task; these tables make it a range of an index.
//!
//! [`sync`] keeps a task's rows in step and is called wherever the tasks service writes a line
//! (insert, save, re-derive); soft-deleted tasks keep their rows (every query joins `tasks` and
//! tests `deleted_at`, so a restore needs nothing) and a purged task's rows go with it (foreign
//! key, `ON DELETE CASCADE`). Names compare without ASCII case, as the LIKE they replace did.

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Bool;
use diesel::sqlite::Sqlite;

use super::Task;
use crate::db::Conn;
use crate::db::schema::{task_contexts, task_projects, tasks};

/// A filter on `tasks`, boxed so it fits any boxed task query.
pub type TaskFilter = Box<dyn BoxableExpression<tasks::table, Sqlite, SqlType = Bool>>;

/// Replaces a task's context and project rows with those of its current line.
pub fn sync(conn: &mut Conn, task: &Task) -> QueryResult<()> {
    diesel::delete(task_contexts::table.filter(task_contexts::task_id.eq(task.id))).execute(conn)?;
    diesel::delete(task_projects::table.filter(task_projects::task_id.eq(task.id))).execute(conn)?;
    let contexts: Vec<_> = task
        .context_list()
        .into_iter()
        .map(|c| (task_contexts::context.eq(c), task_contexts::task_id.eq(task.id)))
        .collect();
    if !contexts.is_empty() {
        // OR IGNORE: `@Home` and `@home` are one name here (NOCASE), two in the line.
        diesel::insert_or_ignore_into(task_contexts::table).values(&contexts).execute(conn)?;
    }
    let projects: Vec<_> = task
        .project_list()
        .into_iter()
        .map(|p| (task_projects::project.eq(p), task_projects::task_id.eq(task.id)))
        .collect();
    if !projects.is_empty() {
        diesel::insert_or_ignore_into(task_projects::table).values(&projects).execute(conn)?;
    }
    Ok(())
}

/// Tasks carrying `@context` (given without `@`).
pub fn has_context(context: &str) -> TaskFilter {
    Box::new(
        tasks::id.eq_any(
            task_contexts::table
                .filter(task_contexts::context.eq(context.to_string()))
                .select(task_contexts::task_id),
        ),
    )
}

/// Tasks carrying `+project` (given without `+`).
pub fn has_project(project: &str) -> TaskFilter {
    Box::new(
        tasks::id.eq_any(
            task_projects::table
                .filter(task_projects::project.eq(project.to_string()))
                .select(task_projects::task_id),
        ),
    )
}

/// Open tasks, for a query narrowed by [`has_context`] or [`has_project`]: written so that
/// SQLite cannot answer it from an index (unary `+`). Without statistics the planner takes
/// `done = ?` on an index for selective and walks every open task, testing each against the
/// member list; this way it reads the member list and looks up only those tasks.
pub fn open_unindexed() -> TaskFilter {
    Box::new(sql::<Bool>("+tasks.done = 0"))
}

/// The context names of `task_id` as stored (for tests and checks).
pub fn contexts_of(conn: &mut Conn, task_id: i32) -> QueryResult<Vec<String>> {
    task_contexts::table
        .filter(task_contexts::task_id.eq(task_id))
        .select(task_contexts::context)
        .order(task_contexts::context.asc())
        .load(conn)
}

/// The project names of `task_id` as stored (for tests and checks).
pub fn projects_of(conn: &mut Conn, task_id: i32) -> QueryResult<Vec<String>> {
    task_projects::table
        .filter(task_projects::task_id.eq(task_id))
        .select(task_projects::project)
        .order(task_projects::project.asc())
        .load(conn)
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use diesel::connection::SimpleConnection;
    use diesel_migrations::MigrationHarness;

    use super::*;
    use crate::services::{Actor, Ctx};
    use crate::tasks::service::{self, TaskPatch};

    fn ctx(now: &str) -> Ctx {
        Ctx {
            now: DateTime::parse_from_rfc3339(now).unwrap().to_utc(),
            tz: "Europe/Berlin".parse().unwrap(),
            actor: Actor::Person,
        }
    }

    fn db() -> (tempfile::TempDir, crate::db::PooledConn) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open(&dir.path().join("t.db")).unwrap();
        let conn = db.conn().unwrap();
        (dir, conn)
    }

    /// Every task's rows are its line's names (each once, whatever the case), and no row
    /// names a task that is gone.
    fn assert_in_step(conn: &mut Conn) {
        let all: Vec<Task> = tasks::table.select(Task::as_select()).load(conn).unwrap();
        for t in &all {
            let unique = |names: Vec<&str>| {
                let mut out: Vec<String> = Vec::new();
                for n in names {
                    if !out.iter().any(|o| o.eq_ignore_ascii_case(n)) {
                        out.push(n.to_string());
                    }
                }
                out.sort_by_key(|n| n.to_ascii_lowercase());
                out
            };
            let mut contexts = contexts_of(conn, t.id).unwrap();
            contexts.sort_by_key(|n| n.to_ascii_lowercase());
            let mut projects = projects_of(conn, t.id).unwrap();
            projects.sort_by_key(|n| n.to_ascii_lowercase());
            assert_eq!(contexts, unique(t.context_list()), "contexts of task {} ({})", t.id, t.body);
            assert_eq!(projects, unique(t.project_list()), "projects of task {} ({})", t.id, t.body);
        }
        let orphans: i64 = task_contexts::table
            .filter(diesel::dsl::not(task_contexts::task_id.eq_any(tasks::table.select(tasks::id))))
            .count()
            .get_result(conn)
            .unwrap();
        assert_eq!(orphans, 0, "context rows of purged tasks");
        let orphans: i64 = task_projects::table
            .filter(diesel::dsl::not(task_projects::task_id.eq_any(tasks::table.select(tasks::id))))
            .count()
            .get_result(conn)
            .unwrap();
        assert_eq!(orphans, 0, "project rows of purged tasks");
    }

    /// Open, live tasks with `@context`, by id, as Today and the briefings ask.
    fn open_with_context(conn: &mut Conn, context: &str) -> Vec<i32> {
        tasks::table
            .filter(tasks::deleted_at.is_null())
            .filter(open_unindexed())
            .filter(has_context(context))
            .order(tasks::id.asc())
            .select(tasks::id)
            .load(conn)
            .unwrap()
    }

    #[test]
    fn every_write_keeps_the_names_in_step() {
        let (_dir, mut conn) = db();
        let c = ctx("2026-03-02T09:00:00Z");
        let conn = &mut *conn;

        // Add (line, quick-add, fields).
        let a = service::add_line(conn, &c, "Call Ana @phone @waiting +house").unwrap();
        let b = service::add_text(conn, &c, "Buy paint tomorrow +house @errands").unwrap();
        let patch = TaskPatch {
            title: Some("Write report".into()),
            contexts: Some(vec!["computer".into(), "Waiting".into()]),
            projects: Some(vec!["work".into()]),
            ..TaskPatch::default()
        };
        let f = service::add_fields(conn, &c, &patch).unwrap();
        assert_eq!(contexts_of(conn, a.id).unwrap(), ["phone", "waiting"]);
        assert_eq!(projects_of(conn, b.id).unwrap(), ["house"]);
        // The LIKE this replaces ignored ASCII case: @Waiting is waiting.
        assert_eq!(open_with_context(conn, "waiting"), [a.id, f.id]);
        assert_eq!(open_with_context(conn, "WAITING"), [a.id, f.id]);
        assert_in_step(conn);

        // Edit the line, then the fields: old names go, new ones come.
        service::set_line(conn, &c, a.id, "Call Ana @phone +garden +house").unwrap();
        assert_eq!(contexts_of(conn, a.id).unwrap(), ["phone"]);
        assert_eq!(projects_of(conn, a.id).unwrap(), ["garden", "house"]);
        let patch = TaskPatch { contexts: Some(vec!["waiting".into()]), ..TaskPatch::default() };
        service::update(conn, &c, b.id, &patch).unwrap();
        assert_eq!(contexts_of(conn, b.id).unwrap(), ["waiting"]);
        assert_eq!(open_with_context(conn, "waiting"), [b.id, f.id]);
        assert_eq!(open_with_context(conn, "errands"), Vec::<i32>::new());
        assert_in_step(conn);

        // Complete (a recurring task makes its next one), reopen.
        let r = service::add_line(conn, &c, "Water plants @home +garden rec:1w due:2026-03-02").unwrap();
        let (_, next) = service::set_done(conn, &c, r.id, true).unwrap();
        let next = next.expect("a recurring task makes its next one");
        assert_eq!(contexts_of(conn, next.id).unwrap(), ["home"]);
        assert_eq!(open_with_context(conn, "home"), [next.id]);
        service::set_done(conn, &c, r.id, false).unwrap();
        assert_eq!(open_with_context(conn, "home"), [r.id, next.id]);
        assert_in_step(conn);

        // Delete hides the task (its rows stay for a restore), restore shows it again.
        service::delete(conn, &c, b.id).unwrap();
        assert_eq!(open_with_context(conn, "waiting"), [f.id]);
        let restored = service::restore(conn, &c, b.id).unwrap();
        assert_eq!(open_with_context(conn, "waiting"), [b.id, f.id]);
        assert_eq!(contexts_of(conn, restored.id).unwrap(), ["waiting"]);
        assert_in_step(conn);

        // Past the undo window a deleted task is purged, and its rows with it.
        service::delete(conn, &c, f.id).unwrap();
        let later = ctx("2026-03-04T09:00:00Z");
        service::delete(conn, &later, a.id).unwrap();
        assert!(service::get(conn, f.id).is_err());
        assert_eq!(contexts_of(conn, f.id).unwrap(), Vec::<String>::new());
        assert_eq!(projects_of(conn, f.id).unwrap(), Vec::<String>::new());
        assert_in_step(conn);

        // Import, then move everything overdue, then a zone change's re-derive.
        let report = service::import_todotxt(
            conn,
            &c,
            b"(A) Ask Bo about the lease @waiting @Phone @phone +flat due:2026-03-01\nx 2026-03-01 Paid rent +flat @home\nNo names at all\n",
        )
        .unwrap();
        assert_eq!(report.imported, 3);
        service::move_overdue(conn, &c, service::MoveTo::Today).unwrap();
        crate::tasks::rederive_all(conn, "America/New_York".parse().unwrap()).unwrap();
        let imported: Vec<i32> =
            tasks::table.filter(tasks::title.like("Ask Bo%")).select(tasks::id).load(conn).unwrap();
        assert_eq!(contexts_of(conn, imported[0]).unwrap().len(), 2, "@Phone and @phone are one name");
        assert_eq!(open_with_context(conn, "waiting"), [b.id, imported[0]]);
        assert_in_step(conn);
    }

    /// The migration fills the tables from the tasks already stored.
    #[test]
    fn the_migration_backfills_existing_tasks() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = SqliteConnection::establish(dir.path().join("m.db").to_str().unwrap()).unwrap();
        conn.batch_execute("PRAGMA foreign_keys = ON;").unwrap();
        let pending = conn.pending_migrations(crate::db::MIGRATIONS).unwrap();
        let mut rest = Vec::new();
        for m in pending {
            if rest.is_empty() && !m.name().to_string().contains("_task_membership") {
                conn.run_migration(&*m).unwrap();
            } else {
                rest.push(m);
            }
        }
        assert!(!rest.is_empty(), "the membership migration is pending");
        conn.batch_execute(
            "INSERT INTO tasks (id, body, title, projects, contexts, created_at, updated_at) VALUES
                (1, 'a', 'a', ' house garden ', ' phone waiting ', '2026-01-01 00:00:00', '2026-01-01 00:00:00'),
                (2, 'b', 'b', ' ', ' ', '2026-01-01 00:00:00', '2026-01-01 00:00:00'),
                (3, 'c', 'c', '  ', ' Home home ', '2026-01-01 00:00:00', '2026-01-01 00:00:00'),
                (4, 'd', 'd', ' x ', ' y ', '2026-01-01 00:00:00', '2026-01-01 00:00:00');",
        )
        .unwrap();
        for m in rest {
            conn.run_migration(&*m).unwrap();
        }
        assert_eq!(contexts_of(&mut conn, 1).unwrap(), ["phone", "waiting"]);
        assert_eq!(projects_of(&mut conn, 1).unwrap(), ["garden", "house"]);
        assert_eq!(contexts_of(&mut conn, 2).unwrap(), Vec::<String>::new());
        assert_eq!(projects_of(&mut conn, 3).unwrap(), Vec::<String>::new());
        assert_eq!(contexts_of(&mut conn, 3).unwrap(), ["Home"]);
        assert_eq!(contexts_of(&mut conn, 4).unwrap(), ["y"]);
        assert_eq!(projects_of(&mut conn, 4).unwrap(), ["x"]);
    }
}
