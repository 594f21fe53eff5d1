//! In-app notifications: what `notify` runs say, failed runs, and schedules that paused
//! themselves. New ones are also broadcast as [`Event::Notification`] for live toasts.
//!
//! Whoever writes one (the `notify` tool, a `notify` run, the scheduler), [`add`] keeps it
//! bounded: a title of at most [`TITLE_MAX_CHARS`] characters and a body of at most
//! [`BODY_MAX_BYTES`], each saying where it was cut. A page of them is [`PAGE_SIZE`].
//!
//! [`Event::Notification`]: crate::events::Event::Notification

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::clock::{from_ms, to_ms};
use crate::db::Conn;
use crate::db::schema::notifications;
use crate::error::AppError;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = notifications)]
pub struct Notification {
    pub id: i32,
    pub title: String,
    pub body: String,
    pub level: String,
    pub run_id: Option<i32>,
    pub schedule_id: Option<i32>,
    pub created_at: i64,
    pub read_at: Option<i64>,
    /// What it is about (`task:12`, `event:5@<start ms>`; see `crate::reminders::Subject`),
    /// which decides the actions it offers.
    pub subject: Option<String>,
    /// Urgent notifications are delivered during quiet hours too.
    pub urgent: bool,
}

impl Notification {
    pub fn created(&self) -> DateTime<Utc> {
        from_ms(self.created_at)
    }
}

/// What to tell the person.
#[derive(Debug, Clone, Default)]
pub struct NewNotification {
    pub title: String,
    pub body: String,
    pub level: &'static str,
    pub run_id: Option<i32>,
    pub schedule_id: Option<i32>,
    pub subject: Option<String>,
    pub urgent: bool,
    /// Channels get it no earlier than this (quiet hours); the app shows it at once.
    pub hold_until: Option<DateTime<Utc>>,
}

/// The longest title kept, in characters.
pub const TITLE_MAX_CHARS: usize = 200;
/// The largest body kept, in bytes (10 KB), including the line that says it was cut.
pub const BODY_MAX_BYTES: usize = 10 * 1024;
/// How many notifications a page of the list shows.
pub const PAGE_SIZE: i64 = 50;

/// The title cut to [`TITLE_MAX_CHARS`], ending in "…" when cut.
pub fn cap_title(title: &str) -> String {
    if title.chars().count() <= TITLE_MAX_CHARS {
        return title.to_string();
    }
    let mut cut: String = title.chars().take(TITLE_MAX_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// The body cut to [`BODY_MAX_BYTES`] (at a character boundary), ending with a line that says
/// how long the whole message was.
pub fn cap_body(body: &str) -> String {
    if body.len() <= BODY_MAX_BYTES {
        return body.to_string();
    }
    let note = format!(
        "\n\n[Cut: the whole message was {}; a notification keeps the first 10 KB.]",
        size_in_words(body.len())
    );
    let mut end = BODY_MAX_BYTES - note.len();
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{note}", body[..end].trim_end())
}

/// What a program that sent a notification is told when [`add`] cut it (the sizes it sent:
/// the title in characters, the body in bytes), else nothing.
pub fn cut_note(title_chars: usize, body_bytes: usize) -> Option<String> {
    let title = title_chars > TITLE_MAX_CHARS;
    let body = body_bytes > BODY_MAX_BYTES;
    match (title, body) {
        (false, false) => None,
        (true, false) => Some(format!("The title was cut to {TITLE_MAX_CHARS} characters.")),
        (false, true) => {
            Some(format!("The body was {}; only its first 10 KB were kept.", size_in_words(body_bytes)))
        }
        (true, true) => Some(format!(
            "The title was cut to {TITLE_MAX_CHARS} characters, and the body was {}; only its first 10 KB were kept.",
            size_in_words(body_bytes)
        )),
    }
}

fn size_in_words(bytes: usize) -> String {
    match bytes {
        b if b >= 1024 * 1024 => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
        b => format!("{} KB", b.div_ceil(1024)),
    }
}

/// Stores a notification, capped (see the module's doc).
pub fn add(conn: &mut Conn, n: &NewNotification, now: DateTime<Utc>) -> Result<Notification, AppError> {
    Ok(diesel::insert_into(notifications::table)
        .values((
            notifications::title.eq(cap_title(&n.title)),
            notifications::body.eq(cap_body(&n.body)),
            notifications::level.eq(n.level),
            notifications::run_id.eq(n.run_id),
            notifications::schedule_id.eq(n.schedule_id),
            notifications::subject.eq(&n.subject),
            notifications::urgent.eq(n.urgent),
            notifications::created_at.eq(to_ms(now)),
        ))
        .returning(Notification::as_returning())
        .get_result(conn)?)
}

/// The newest notifications first.
pub fn list(conn: &mut Conn, limit: i64) -> Result<Vec<Notification>, AppError> {
    Ok(notifications::table
        .order(notifications::id.desc())
        .limit(limit.clamp(1, 500))
        .select(Notification::as_select())
        .load(conn)?)
}

/// One page of the list (1 is the newest), and whether older ones follow.
pub fn page(conn: &mut Conn, page: i64) -> Result<(Vec<Notification>, bool), AppError> {
    let offset = (page.max(1) - 1).saturating_mul(PAGE_SIZE);
    let mut rows: Vec<Notification> = notifications::table
        .order(notifications::id.desc())
        .offset(offset)
        .limit(PAGE_SIZE + 1)
        .select(Notification::as_select())
        .load(conn)?;
    let more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    Ok((rows, more))
}

pub fn count(conn: &mut Conn) -> Result<i64, AppError> {
    Ok(notifications::table.count().get_result(conn)?)
}

pub fn unread_count(conn: &mut Conn) -> Result<i64, AppError> {
    Ok(notifications::table.filter(notifications::read_at.is_null()).count().get_result(conn)?)
}

/// Marks every notification read.
pub fn mark_all_read(conn: &mut Conn, now: DateTime<Utc>) -> Result<usize, AppError> {
    Ok(diesel::update(notifications::table.filter(notifications::read_at.is_null()))
        .set(notifications::read_at.eq(to_ms(now)))
        .execute(conn)?)
}

/// Marks these notifications read (those already read keep their time): what a person has seen.
pub fn mark_read(conn: &mut Conn, ids: &[i32], now: DateTime<Utc>) -> Result<usize, AppError> {
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(diesel::update(
        notifications::table.filter(notifications::id.eq_any(ids)).filter(notifications::read_at.is_null()),
    )
    .set(notifications::read_at.eq(to_ms(now)))
    .execute(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_and_bodies_are_capped_and_say_so() {
        assert_eq!(cap_title("Backup done"), "Backup done");
        let long = "é".repeat(900);
        let title = cap_title(&long);
        assert_eq!(title.chars().count(), TITLE_MAX_CHARS);
        assert!(title.ends_with('…'));
        assert_eq!(cap_title(&"x".repeat(200)), "x".repeat(200));

        assert_eq!(cap_body("short"), "short");
        assert_eq!(cap_body(&"x".repeat(BODY_MAX_BYTES)).len(), BODY_MAX_BYTES);
        // Two-byte characters: the cut falls between them, never inside one.
        let cut = cap_body(&"ü".repeat(450_000));
        assert!(cut.len() <= BODY_MAX_BYTES && cut.len() > BODY_MAX_BYTES - 100, "{}", cut.len());
        assert!(
            cut.ends_with("\n\n[Cut: the whole message was 879 KB; a notification keeps the first 10 KB.]")
        );
        let cut = cap_body(&"x".repeat(900 * 1024));
        assert!(
            cut.ends_with("\n\n[Cut: the whole message was 900 KB; a notification keeps the first 10 KB.]")
        );
        let cut = cap_body(&"x".repeat(3 << 20));
        assert!(cut.contains("the whole message was 3.0 MB;"));
    }
}
