//! Subscription feeds: read-only ICS addresses that phone and desktop calendars subscribe to.
//!
//! A feed's address is `<public URL>/feeds/<token>.ics`. The token is a secret (`stf_` and 24
//! random bytes); only its SHA-256 is stored, as for API tokens, so the address is shown once,
//! when the feed is made. A wrong or revoked token answers 404 and nothing else (the handler
//! does not say which). The request log never writes the token (see `web::middleware`).
//!
//! A feed publishes the person's own calendars (not the subscribed ones, which the phone can
//! subscribe to itself), and by choice the tasks with a due date and the coming firings of
//! scheduled prompts, written by [`super::ics`] with stable UIDs, SEQUENCE and a VTIMEZONE for
//! every zone used.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::auth::{random_token, sha256_hex};
use crate::clock::{from_ms, to_ms};
use crate::config::Config;
use crate::db::Conn;
use crate::db::schema::calendar_feeds;
use crate::error::AppError;

/// Feed tokens start with this, so a leaked one is easy to recognise.
pub const PREFIX: &str = "stf_";
/// How often a subscriber should fetch the feed (REFRESH-INTERVAL, X-PUBLISHED-TTL).
pub const REFRESH: &str = "PT30M";
/// The longest look-ahead for scheduled-prompt firings.
pub const MAX_SCHEDULE_DAYS: i32 = 366;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = calendar_feeds)]
pub struct Feed {
    pub id: i32,
    pub name: String,
    #[serde(skip)]
    pub token_hash: String,
    /// The first characters of the token, to tell feeds apart.
    pub hint: String,
    pub include_tasks: bool,
    pub include_schedules: bool,
    pub schedule_days: i32,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A feed as lists (CLI `--json`, Settings) show it: never the token or its hash.
#[derive(Debug, Clone, Serialize)]
pub struct FeedView {
    pub id: i32,
    pub name: String,
    pub hint: String,
    pub include_tasks: bool,
    pub include_schedules: bool,
    pub schedule_days: i32,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

impl Feed {
    pub fn view(&self) -> FeedView {
        FeedView {
            id: self.id,
            name: self.name.clone(),
            hint: self.hint.clone(),
            include_tasks: self.include_tasks,
            include_schedules: self.include_schedules,
            schedule_days: self.schedule_days,
            created_at: crate::schedules::rfc3339(from_ms(self.created_at)),
            last_used_at: self.last_used_at.map(|t| crate::schedules::rfc3339(from_ms(t))),
        }
    }
}

/// What a new feed publishes besides the person's events.
#[derive(Debug, Clone, Default)]
pub struct FeedOptions {
    pub include_tasks: bool,
    pub include_schedules: bool,
    /// Days of scheduled-prompt firings (default 14, at most [`MAX_SCHEDULE_DAYS`]).
    pub schedule_days: Option<i32>,
}

/// The address of a feed with this token: from `STEWARD_PUBLIC_URL` when set, else the bind
/// address (what a phone on the same network can reach when Steward listens there).
pub fn url(config: &Config, token: &str) -> String {
    let base = match &config.public_url {
        Some(public) => public.trim_end_matches('/').to_string(),
        None => format!("http://{}", config.bind.trim_end_matches('/')),
    };
    format!("{base}/feeds/{token}.ics")
}

/// Makes a feed; returns its token (shown once, inside the address) and its record.
pub fn create(
    conn: &mut Conn,
    name: &str,
    options: &FeedOptions,
    now: DateTime<Utc>,
) -> Result<(String, Feed), AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(AppError::invalid("name", "a feed needs a name of 1 to 64 characters"));
    }
    let days = options.schedule_days.unwrap_or(14);
    if !(1..=MAX_SCHEDULE_DAYS).contains(&days) {
        return Err(AppError::invalid(
            "schedule_days",
            format!("{days} days is not between 1 and {MAX_SCHEDULE_DAYS}"),
        ));
    }
    crate::db::write(conn, |conn| {
        let taken =
            calendar_feeds::table.filter(calendar_feeds::name.eq(name)).count().get_result::<i64>(conn)? > 0;
        if taken {
            return Err(AppError::invalid("name", format!("a feed named {name:?} exists already")));
        }
        let token = format!("{PREFIX}{}", random_token(24));
        let feed = diesel::insert_into(calendar_feeds::table)
            .values((
                calendar_feeds::name.eq(name),
                calendar_feeds::token_hash.eq(sha256_hex(&token)),
                calendar_feeds::hint.eq(format!("{}…", &token[..PREFIX.len() + 4])),
                calendar_feeds::include_tasks.eq(options.include_tasks),
                calendar_feeds::include_schedules.eq(options.include_schedules),
                calendar_feeds::schedule_days.eq(days),
                calendar_feeds::created_at.eq(to_ms(now)),
            ))
            .returning(Feed::as_returning())
            .get_result(conn)?;
        Ok((token, feed))
    })
}

pub fn list(conn: &mut Conn) -> Result<Vec<Feed>, AppError> {
    Ok(calendar_feeds::table.order(calendar_feeds::id.desc()).select(Feed::as_select()).load(conn)?)
}

/// Revokes a feed by name (the CLI) or by id (the pages): its address answers 404 from now on.
pub fn revoke(conn: &mut Conn, name_or_id: &str) -> Result<Feed, AppError> {
    let found: Option<Feed> = match name_or_id.trim().parse::<i32>() {
        Ok(id) => calendar_feeds::table.find(id).select(Feed::as_select()).first(conn).optional()?,
        Err(_) => None,
    };
    let found = match found {
        Some(f) => Some(f),
        None => calendar_feeds::table
            .filter(calendar_feeds::name.eq(name_or_id.trim()))
            .select(Feed::as_select())
            .first(conn)
            .optional()?,
    };
    let Some(feed) = found else {
        return Err(AppError::NotFound(format!("no feed named {name_or_id:?}")));
    };
    diesel::delete(calendar_feeds::table.find(feed.id)).execute(conn)?;
    Ok(feed)
}

/// The feed a token opens, if any; records its use (at most once a minute).
pub fn authenticate(conn: &mut Conn, token: &str, now: DateTime<Utc>) -> Result<Option<Feed>, AppError> {
    if !token.starts_with(PREFIX) || token.len() > 100 {
        return Ok(None);
    }
    let found: Option<Feed> = calendar_feeds::table
        .filter(calendar_feeds::token_hash.eq(sha256_hex(token)))
        .select(Feed::as_select())
        .first(conn)
        .optional()?;
    let Some(mut feed) = found else { return Ok(None) };
    let now = to_ms(now);
    if feed.last_used_at.is_none_or(|t| now - t >= 60_000) {
        diesel::update(calendar_feeds::table.find(feed.id))
            .set(calendar_feeds::last_used_at.eq(now))
            .execute(conn)?;
        feed.last_used_at = Some(now);
    }
    Ok(Some(feed))
}

/// The firings of active scheduled prompts in `[from, to)`, from each schedule's own next-fire
/// math (its next firing, then its spec), within its end and count. At most `cap` in all.
/// Steward's own system schedules (subscription refreshes) are left out.
pub fn schedule_firings(
    conn: &mut Conn,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    cap: usize,
) -> Result<Vec<(crate::schedules::Schedule, DateTime<Utc>)>, AppError> {
    use crate::db::schema::schedules;
    let list: Vec<crate::schedules::Schedule> = schedules::table
        .filter(schedules::active)
        .filter(schedules::deleted_at.is_null())
        .filter(schedules::next_fire_at.is_not_null())
        .filter(schedules::next_fire_at.lt(to_ms(to)))
        .filter(schedules::agent.ne(super::subscriptions::SYSTEM_AGENT))
        // Reminders belong to their tasks and events, which the calendar shows already.
        .filter(schedules::source.is_null())
        .order(schedules::next_fire_at.asc())
        .select(crate::schedules::Schedule::as_select())
        .load(conn)?;
    let mut out = Vec::new();
    for s in list {
        let Ok(spec) = s.parsed() else { continue };
        let (tz, anchor) = (s.zone(), from_ms(s.anchor_at));
        let mut left = s.max_count.map(|m| i64::from(m) - i64::from(s.fired_count)).unwrap_or(i64::MAX);
        let mut at = s.next_fire();
        while let Some(t) = at {
            if t >= to || left <= 0 || out.len() >= cap || s.until_at.is_some_and(|u| to_ms(t) > u) {
                break;
            }
            if t >= from {
                out.push((s.clone(), t));
            }
            left -= 1;
            at = spec.next_after(t, tz, anchor);
        }
    }
    out.sort_by_key(|(s, t)| (*t, s.id));
    out.truncate(cap);
    Ok(out)
}

/// How far ahead firings are published, as a duration.
pub fn schedule_horizon(feed: &Feed) -> Duration {
    Duration::days(i64::from(feed.schedule_days.clamp(1, MAX_SCHEDULE_DAYS)))
}

/// The most tasks and firings a feed carries (a calendar app copes with many more events, but
/// a feed is fetched every half hour).
const MOST_EXTRAS: usize = 2000;

/// The feed's ICS text: the person's own calendars' events (subscribed ones are left out: the
/// phone can subscribe to those itself), and by the feed's options the open tasks with a due
/// date and the coming firings of scheduled prompts, written by [`super::ics::write`] with
/// stable UIDs, SEQUENCE and a VTIMEZONE for every zone used.
pub fn render(conn: &mut Conn, ctx: &crate::services::Ctx, feed: &Feed) -> Result<String, AppError> {
    let own: Vec<i32> = super::service::list_calendars(conn)?
        .into_iter()
        .filter(|c| !c.is_subscribed())
        .map(|c| c.id)
        .collect();
    let stamp = stamp(ctx.now);
    let mut extra_vevents = Vec::new();
    if feed.include_tasks {
        for task in due_tasks(conn)? {
            extra_vevents.push(task_vevent(&task, &stamp));
        }
    }
    if feed.include_schedules {
        for (schedule, at) in schedule_firings(conn, ctx.now, ctx.now + schedule_horizon(feed), MOST_EXTRAS)?
        {
            extra_vevents.push(firing_vevent(&schedule, at, &stamp));
        }
    }
    let options = super::ics::WriteOptions {
        name: Some("Steward".into()),
        refresh: Some(Duration::minutes(30)),
        extra_vevents,
        zones: Vec::new(),
    };
    super::ics::export(conn, ctx, Some(&own), &options)
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// Open tasks with a due date, soonest first.
fn due_tasks(conn: &mut Conn) -> Result<Vec<crate::tasks::Task>, AppError> {
    use crate::db::schema::tasks;
    Ok(tasks::table
        .filter(tasks::done.eq(false))
        .filter(tasks::deleted_at.is_null())
        .filter(tasks::due_date.is_not_null())
        .order((tasks::due_date.asc(), tasks::id.asc()))
        .limit(MOST_EXTRAS as i64)
        .select(crate::tasks::Task::as_select())
        .load(conn)?)
}

/// A task as an event on its due day (all-day), or at its due time (15 minutes).
fn task_vevent(task: &crate::tasks::Task, stamp: &str) -> Vec<String> {
    let mut lines = vec![
        "BEGIN:VEVENT".to_string(),
        format!("UID:task-{}@steward", task.id),
        format!("DTSTAMP:{stamp}"),
        // Tasks have no SEQUENCE of their own: their last change, in seconds, only grows.
        format!("SEQUENCE:{}", task.updated_at.and_utc().timestamp().clamp(0, i64::from(i32::MAX))),
    ];
    match (task.due_at, task.due_date) {
        (Some(at), _) => {
            let at = at.and_utc();
            lines.push(format!("DTSTART:{}", stamp_of(at)));
            lines.push(format!("DTEND:{}", stamp_of(at + Duration::minutes(15))));
        }
        (None, Some(day)) => {
            lines.push(format!("DTSTART;VALUE=DATE:{}", day.format("%Y%m%d")));
            lines.push(format!("DTEND;VALUE=DATE:{}", (day + Duration::days(1)).format("%Y%m%d")));
        }
        (None, None) => {}
    }
    lines.push(format!("SUMMARY:{}", super::ics::escape(&format!("Due: {}", task.title))));
    lines.push("CATEGORIES:Task".to_string());
    lines.push("TRANSP:TRANSPARENT".to_string());
    lines.push("END:VEVENT".to_string());
    lines
}

/// A scheduled prompt's firing as a short event at that instant.
fn firing_vevent(schedule: &crate::schedules::Schedule, at: DateTime<Utc>, stamp: &str) -> Vec<String> {
    vec![
        "BEGIN:VEVENT".to_string(),
        format!("UID:schedule-{}-{}@steward", schedule.id, to_ms(at)),
        format!("DTSTAMP:{stamp}"),
        "SEQUENCE:0".to_string(),
        format!("DTSTART:{}", stamp_of(at)),
        format!("DTEND:{}", stamp_of(at + Duration::minutes(5))),
        format!("SUMMARY:{}", super::ics::escape(&format!("Prompt: {}", schedule.name))),
        format!("DESCRIPTION:{}", super::ics::escape(&format!("To {}: {}", schedule.agent, schedule.prompt))),
        "CATEGORIES:Scheduled prompt".to_string(),
        "TRANSP:TRANSPARENT".to_string(),
        "END:VEVENT".to_string(),
    ]
}

fn stamp_of(t: DateTime<Utc>) -> String {
    stamp(t)
}
