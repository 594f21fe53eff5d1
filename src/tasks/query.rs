//! Listing tasks: filters, the page's groups (overdue, today, upcoming, no date, done) read in
//! slices, and the API's cursor pages. Every list is bounded: nothing loads all tasks at once.

use std::collections::BTreeSet;

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sqlite::Sqlite;
use serde::Deserialize;

use super::{Task, membership};
use crate::db::Conn;
use crate::db::schema::tasks;
use crate::error::AppError;
use crate::services::Ctx;

/// What the person filters by; kept in the page's URL and accepted by the API.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Filter {
    /// Words in the task's text.
    pub q: Option<String>,
    pub project: Option<String>,
    pub context: Option<String>,
    /// `A`..`Z`, or `none`.
    pub priority: Option<String>,
    pub status: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Open,
    Done,
    All,
}

impl StatusFilter {
    pub fn parse(value: Option<&str>, default: StatusFilter) -> Result<StatusFilter, AppError> {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some("open") => Ok(StatusFilter::Open),
            Some("done") => Ok(StatusFilter::Done),
            Some("all") => Ok(StatusFilter::All),
            Some(other) => Err(AppError::invalid("status", format!("{other:?} is not open, done or all"))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Overdue,
    Today,
    Upcoming,
    NoDate,
    Done,
}

impl Group {
    pub const ALL: [Group; 5] = [Group::Overdue, Group::Today, Group::Upcoming, Group::NoDate, Group::Done];

    pub fn slug(self) -> &'static str {
        match self {
            Group::Overdue => "overdue",
            Group::Today => "today",
            Group::Upcoming => "upcoming",
            Group::NoDate => "nodate",
            Group::Done => "done",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Group::Overdue => "Overdue",
            Group::Today => "Today",
            Group::Upcoming => "Upcoming",
            Group::NoDate => "No date",
            Group::Done => "Done",
        }
    }

    pub fn from_slug(slug: &str) -> Result<Group, AppError> {
        Group::ALL
            .into_iter()
            .find(|g| g.slug() == slug)
            .ok_or_else(|| AppError::NotFound(format!("no task group {slug:?}")))
    }

    fn shown_for(self, status: StatusFilter) -> bool {
        match status {
            StatusFilter::All => true,
            StatusFilter::Open => self != Group::Done,
            StatusFilter::Done => self == Group::Done,
        }
    }
}

/// One group's first slice.
#[derive(Debug)]
pub struct GroupSlice {
    pub group: Group,
    pub count: i64,
    pub tasks: Vec<Task>,
    /// Where the next slice starts, if there is more.
    pub next_offset: Option<i64>,
}

type Query = tasks::BoxedQuery<'static, Sqlite>;

impl Filter {
    pub fn status(&self) -> Result<StatusFilter, AppError> {
        StatusFilter::parse(self.status.as_deref(), StatusFilter::All)
    }

    fn query(&self) -> Result<Query, AppError> {
        let mut query = tasks::table.filter(tasks::deleted_at.is_null()).into_boxed();
        if let Some(q) = non_empty(&self.q) {
            check_words(q)?;
            for word in q.split_whitespace() {
                query = query.filter(tasks::body.like(format!("%{}%", like_escape(word))).escape('\\'));
            }
        }
        if let Some(p) = non_empty(&self.project) {
            query = query.filter(membership::has_project(p.trim_start_matches('+')));
        }
        if let Some(c) = non_empty(&self.context) {
            query = query.filter(membership::has_context(c.trim_start_matches('@')));
        }
        match non_empty(&self.priority) {
            None => {}
            Some("none") => query = query.filter(tasks::priority.is_null()),
            Some(p) if p.len() == 1 && p.chars().all(|c| c.is_ascii_alphabetic()) => {
                query = query.filter(tasks::priority.eq(p.to_ascii_uppercase()))
            }
            Some(p) => {
                return Err(AppError::invalid("priority", format!("{p:?} is not a letter A to Z or none")));
            }
        }
        Ok(query)
    }

    /// Open tasks under the filter: when a project or context narrows it, read from that
    /// name's members (see [`membership::open_unindexed`]).
    fn open_query(&self) -> Result<Query, AppError> {
        let query = self.query()?;
        Ok(if non_empty(&self.project).is_some() || non_empty(&self.context).is_some() {
            query.filter(membership::open_unindexed())
        } else {
            query.filter(tasks::done.eq(false))
        })
    }

    /// Whether any filter narrows the list.
    pub fn is_active(&self) -> bool {
        [&self.q, &self.project, &self.context, &self.priority].iter().any(|f| non_empty(f).is_some())
    }
}

/// The most words a search takes: each is one more condition, and SQLite refuses a query
/// nested deeper than 1,000 (a 1,001-word search was a 500).
pub const MAX_SEARCH_WORDS: usize = 32;

fn check_words(q: &str) -> Result<(), AppError> {
    let words = q.split_whitespace().count();
    if words > MAX_SEARCH_WORDS {
        return Err(AppError::invalid(
            "q",
            format!(
                "a search takes at most {MAX_SEARCH_WORDS} words, and this one has {words}; leave some out"
            ),
        ));
    }
    Ok(())
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn like_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// The tasks of one group.
fn in_group(query: Query, group: Group, ctx: &Ctx) -> Query {
    let now = ctx.now.naive_utc();
    let today = ctx.today();
    let open = |query: Query| query.filter(tasks::done.eq(false));
    match group {
        // A date-time due's `due_date` is its local day, so it is overdue if that day is past,
        // or it is today and the time has passed. Written as a range of the index and a check
        // of its columns: a top-level OR makes SQLite read every open task.
        Group::Overdue => open(query)
            .filter(tasks::due_date.le(today))
            .filter(tasks::due_date.lt(today).or(tasks::due_at.lt(now))),
        Group::Today => open(query)
            .filter(tasks::due_date.eq(today))
            .filter(tasks::due_at.is_null().or(tasks::due_at.ge(now))),
        Group::Upcoming => open(query).filter(tasks::due_date.gt(today)),
        Group::NoDate => open(query).filter(tasks::due_date.is_null()),
        Group::Done => query.filter(tasks::done.eq(true)),
    }
}

/// A group's display order: by day and time (all-day first), then priority (A first, none
/// last); done by completion, newest first. Each is the order of an index (see migrations), so
/// `due_at` stays in the no-date order although it is always empty there.
fn in_order(query: Query, group: Group) -> Query {
    match group {
        Group::Overdue | Group::Today | Group::Upcoming | Group::NoDate => {
            query.order((tasks::due_date.asc(), tasks::due_at.asc(), priority_rank(), tasks::id.asc()))
        }
        Group::Done => query.order((tasks::completed_at.desc(), tasks::id.desc())),
    }
}

/// Priorities first (A before B), tasks without one last.
fn priority_rank() -> diesel::expression::SqlLiteral<diesel::sql_types::Text> {
    sql::<diesel::sql_types::Text>("coalesce(priority, '~')")
}

/// The first slice of every group the status filter shows; `collapsed` groups are only
/// counted (their rows are read when the person opens them).
pub fn overview(
    conn: &mut Conn,
    ctx: &Ctx,
    filter: &Filter,
    per_group: i64,
    collapsed: &[Group],
) -> Result<Vec<GroupSlice>, AppError> {
    let status = filter.status()?;
    Group::ALL
        .into_iter()
        .filter(|g| g.shown_for(status))
        .map(|group| {
            if collapsed.contains(&group) {
                let count = in_group(filter.query()?, group, ctx).count().get_result(conn)?;
                return Ok(GroupSlice { group, count, tasks: Vec::new(), next_offset: Some(0) });
            }
            let mut tasks = group_slice(conn, ctx, filter, group, 0, per_group + 1)?;
            // Counting is a second pass over the group: only needed when it has more than a slice.
            let count = if tasks.len() as i64 > per_group {
                tasks.truncate(per_group as usize);
                in_group(filter.query()?, group, ctx).count().get_result(conn)?
            } else {
                tasks.len() as i64
            };
            let next_offset = (count > per_group).then_some(per_group);
            Ok(GroupSlice { group, count, tasks, next_offset })
        })
        .collect()
}

/// `limit` tasks of one group from `offset`.
pub fn group_slice(
    conn: &mut Conn,
    ctx: &Ctx,
    filter: &Filter,
    group: Group,
    offset: i64,
    limit: i64,
) -> Result<Vec<Task>, AppError> {
    Ok(in_order(in_group(filter.query()?, group, ctx), group)
        .offset(offset.max(0))
        .limit(limit.clamp(1, 500))
        .select(Task::as_select())
        .load(conn)?)
}

/// The group a task is shown in under `filter`, if any.
pub fn group_of(conn: &mut Conn, ctx: &Ctx, filter: &Filter, id: i32) -> Result<Option<Group>, AppError> {
    let status = filter.status()?;
    for group in Group::ALL.into_iter().filter(|g| g.shown_for(status)) {
        let found: i64 =
            in_group(filter.query()?, group, ctx).filter(tasks::id.eq(id)).count().get_result(conn)?;
        if found > 0 {
            return Ok(Some(group));
        }
    }
    Ok(None)
}

/// How many tasks a group holds under `filter`.
pub fn count(conn: &mut Conn, ctx: &Ctx, filter: &Filter, group: Group) -> Result<i64, AppError> {
    Ok(in_group(filter.query()?, group, ctx).count().get_result(conn)?)
}

/// The API's list: by id, after `cursor`, at most `limit`; returns the next cursor if more.
pub fn page(
    conn: &mut Conn,
    filter: &Filter,
    limit: i64,
    cursor: Option<i32>,
) -> Result<(Vec<Task>, Option<i32>), AppError> {
    let mut query = filter.query()?;
    match StatusFilter::parse(filter.status.as_deref(), StatusFilter::Open)? {
        StatusFilter::Open => query = query.filter(tasks::done.eq(false)),
        StatusFilter::Done => query = query.filter(tasks::done.eq(true)),
        StatusFilter::All => {}
    }
    if let Some(cursor) = cursor {
        query = query.filter(tasks::id.gt(cursor));
    }
    let limit = limit.clamp(1, 500);
    let mut rows: Vec<Task> =
        query.order(tasks::id.asc()).limit(limit + 1).select(Task::as_select()).load(conn)?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = if more { rows.last().map(|t| t.id) } else { None };
    Ok((rows, next))
}

/// Every project and context in use, for the filter menus.
pub fn facets(conn: &mut Conn) -> Result<(Vec<String>, Vec<String>), AppError> {
    let live = tasks::table.filter(tasks::deleted_at.is_null());
    let projects: Vec<String> = live.select(tasks::projects).distinct().load(conn)?;
    Ok((words(projects), contexts_in_use(conn)?))
}

/// Every context in use (the filter menu's, without the projects).
pub fn contexts_in_use(conn: &mut Conn) -> Result<Vec<String>, AppError> {
    let live = tasks::table.filter(tasks::deleted_at.is_null());
    Ok(words(live.select(tasks::contexts).distinct().load(conn)?))
}

/// The distinct names in padded name lists, sorted.
fn words(rows: Vec<String>) -> Vec<String> {
    rows.iter()
        .flat_map(|r| r.split_whitespace())
        .map(String::from)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

// --- briefings' lists: each the first `limit` rows and how many there are in all ---

/// The first `limit` rows of `query` in `order` and the count of all (counted only when cut).
fn slice_and_count(
    conn: &mut Conn,
    query: impl Fn() -> Result<Query, AppError>,
    order: impl Fn(Query) -> Query,
    limit: i64,
) -> Result<(Vec<Task>, i64), AppError> {
    let limit = limit.clamp(1, 500);
    let mut rows: Vec<Task> = order(query()?).limit(limit + 1).select(Task::as_select()).load(conn)?;
    let count = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        query()?.count().get_result(conn)?
    } else {
        rows.len() as i64
    };
    Ok((rows, count))
}

/// One group under `filter`, in the page's order: the first `limit` and the count.
pub fn group_counted(
    conn: &mut Conn,
    ctx: &Ctx,
    filter: &Filter,
    group: Group,
    limit: i64,
) -> Result<(Vec<Task>, i64), AppError> {
    slice_and_count(conn, || Ok(in_group(filter.query()?, group, ctx)), |q| in_order(q, group), limit)
}

/// Open tasks under `filter` (its status aside), by due date (none last) then priority.
pub fn open_counted(conn: &mut Conn, filter: &Filter, limit: i64) -> Result<(Vec<Task>, i64), AppError> {
    slice_and_count(
        conn,
        || filter.open_query(),
        |q| q.order((tasks::due_date.is_null(), tasks::due_date.asc(), priority_rank(), tasks::id.asc())),
        limit,
    )
}

/// Open tasks under `filter` (its status aside), oldest first (the order they were added: for
/// what has waited longest). Read in the table's own order, so the slice stops early.
pub fn open_oldest_counted(
    conn: &mut Conn,
    filter: &Filter,
    limit: i64,
) -> Result<(Vec<Task>, i64), AppError> {
    slice_and_count(conn, || filter.open_query(), |q| q.order(tasks::id.asc()), limit)
}

/// Tasks completed in `[from, to)` (UTC), newest first.
pub fn done_between(
    conn: &mut Conn,
    from: chrono::NaiveDateTime,
    to: chrono::NaiveDateTime,
    limit: i64,
) -> Result<(Vec<Task>, i64), AppError> {
    slice_and_count(
        conn,
        || {
            Ok(Filter::default()
                .query()?
                .filter(tasks::done.eq(true))
                .filter(tasks::completed_at.ge(from))
                .filter(tasks::completed_at.lt(to)))
        },
        |q| in_order(q, Group::Done),
        limit,
    )
}

/// Open tasks added or changed in `[from, to)` (UTC), most recent first.
pub fn changed_between(
    conn: &mut Conn,
    from: chrono::NaiveDateTime,
    to: chrono::NaiveDateTime,
    limit: i64,
) -> Result<(Vec<Task>, i64), AppError> {
    slice_and_count(
        conn,
        || {
            Ok(Filter::default()
                .query()?
                .filter(tasks::done.eq(false))
                .filter(tasks::updated_at.ge(from))
                .filter(tasks::updated_at.lt(to)))
        },
        |q| q.order((tasks::updated_at.desc(), tasks::id.desc())),
        limit,
    )
}

/// Open tasks due on `day` (the person's day), in the page's order.
pub fn due_on(conn: &mut Conn, day: chrono::NaiveDate, limit: i64) -> Result<(Vec<Task>, i64), AppError> {
    slice_and_count(
        conn,
        || Ok(Filter::default().query()?.filter(tasks::done.eq(false)).filter(tasks::due_date.eq(day))),
        |q| in_order(q, Group::Today),
        limit,
    )
}
