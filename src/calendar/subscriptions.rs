//! Subscribed calendars: a read-only calendar kept in step with an ICS address (a secret
//! Google/iCloud/Nextcloud link, or any `webcal://` or `https://` feed).
//!
//! Refreshing is scheduler work, not a timer of its own: each subscription has a schedule of
//! the built-in `system` agent (`every 30m` by default, prompt `refresh calendar <id>`), so a
//! refresh is a run like any other: claimed crash-safely, retried with backoff, shown in the
//! run history, and paused (with a notification) after failing too often. The scheduler hands
//! such runs to [`system_job`].
//!
//! A refresh is a conditional GET (`If-None-Match` / `If-Modified-Since` from the last good
//! copy). A 304 only records the time. A new copy replaces the calendar's events in one
//! transaction: changed events update, removed ones disappear. Anything else (a network error,
//! a 5xx, a body that is not a calendar) records `last_error` and leaves the last good copy as
//! it was.
//!
//! The address is a secret: it is stored whole (it has to be fetched) but shown only as
//! [`redacted`] (scheme and host), and no error message or log line carries it.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::agents::deliver::{Delivery, Failure};
use crate::clock::{from_ms, to_ms};
use crate::db::Conn;
use crate::db::schema::{calendars, schedules};
use crate::error::AppError;
use crate::services::{Actor, Ctx, Services};

/// The built-in agent that does Steward's own scheduled work.
pub const SYSTEM_AGENT: &str = "system";
/// Minutes between refreshes unless the person chooses otherwise.
pub const DEFAULT_REFRESH_MINUTES: i32 = 30;
/// The biggest feed read (a year of a busy shared calendar is a few MB).
pub const MAX_BYTES: usize = 20 << 20;
/// One fetch, from connecting to the last byte. Below the lease the scheduler gives the run.
const FETCH_TIMEOUT: StdDuration = StdDuration::from_secs(45);
const JOB_PREFIX: &str = "refresh calendar ";

/// What a person asks for.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubscribeInput {
    pub name: String,
    pub url: String,
    pub refresh_minutes: Option<i32>,
    pub colour: Option<String>,
}

/// A subscription as pages and the API show it: never the whole address.
#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionView {
    pub calendar_id: i32,
    pub name: String,
    pub colour: String,
    /// Scheme and host only: the rest of the address is a secret.
    pub source: String,
    pub refresh_minutes: i32,
    pub last_refresh_at: Option<String>,
    pub last_error: Option<String>,
    /// The schedule that refreshes it (paused after failing too often).
    pub schedule_id: Option<i32>,
    pub schedule_active: bool,
}

/// `webcal://` is https; http and https pass; anything else is refused, naming the value's
/// scheme (never the whole address, which is a secret).
pub fn normalise_url(text: &str) -> Result<String, AppError> {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    let url = if lower.starts_with("webcal://") {
        format!("https://{}", &text["webcal://".len()..])
    } else if lower.starts_with("webcals://") {
        format!("https://{}", &text["webcals://".len()..])
    } else {
        text.to_string()
    };
    let parsed = reqwest::Url::parse(&url).map_err(|_| {
        AppError::invalid("url", "is not a web address (it should start with https:// or webcal://)")
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(AppError::invalid(
            "url",
            format!(
                "an address starting {}: is not a calendar feed; use https:// or webcal://",
                parsed.scheme()
            ),
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(AppError::invalid("url", "has no host name"));
    }
    Ok(parsed.to_string())
}

/// The address as it may be shown: `https://calendar.google.com/…`.
pub fn redacted(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{}{port}/…", u.scheme(), u.host_str().unwrap_or("?"))
        }
        Err(_) => "(an address)".into(),
    }
}

fn job_prompt(calendar_id: i32) -> String {
    format!("{JOB_PREFIX}{calendar_id}")
}

/// The refresh schedule of a calendar, if it has one.
fn schedule_of(conn: &mut Conn, calendar_id: i32) -> Result<Option<(i32, bool)>, AppError> {
    Ok(schedules::table
        .filter(schedules::agent.eq(SYSTEM_AGENT))
        .filter(schedules::prompt.eq(job_prompt(calendar_id)))
        .filter(schedules::deleted_at.is_null())
        .select((schedules::id, schedules::active))
        .first(conn)
        .optional()?)
}

/// Subscribes: a read-only calendar and its refresh schedule, which fires at once (the first
/// copy arrives within moments; wake the scheduler after this).
pub fn subscribe(conn: &mut Conn, ctx: &Ctx, input: &SubscribeInput) -> Result<super::Calendar, AppError> {
    let url = normalise_url(&input.url)?;
    let minutes = input.refresh_minutes.unwrap_or(DEFAULT_REFRESH_MINUTES);
    if !(5..=7 * 24 * 60).contains(&minutes) {
        return Err(AppError::invalid(
            "refresh_minutes",
            format!("{minutes} minutes is not between 5 and 10080 (a week)"),
        ));
    }
    let now = to_ms(ctx.now);
    // The calendar as any other (its name and colour checked the same way), then made a
    // subscription with its refresh schedule. (Two transactions: the service's is its own. A
    // crash between them leaves an empty calendar of that name, nothing worse.)
    let colour = Some(input.colour.clone().unwrap_or_else(|| "#8b5cf6".into()));
    let made = super::service::create_calendar(
        conn,
        ctx,
        &super::service::CalendarInput {
            name: Some(input.name.clone()),
            colour,
            visible: Some(true),
            reminders: None,
        },
    )?;
    let done = crate::db::write(conn, |conn| {
        let calendar: super::Calendar = diesel::update(calendars::table.find(made.id))
            .set((
                calendars::source_url.eq(&url),
                calendars::refresh_minutes.eq(minutes),
                // A feed reminds only of what its own alarms say, until the person sets a default.
                calendars::reminders.eq("[]"),
            ))
            .returning(super::Calendar::as_returning())
            .get_result(conn)?;
        let name = &calendar.name;
        diesel::insert_into(schedules::table)
            .values((
                schedules::name.eq(format!("Refresh calendar “{name}”")),
                schedules::prompt.eq(job_prompt(calendar.id)),
                schedules::agent.eq(SYSTEM_AGENT),
                schedules::kind.eq("interval"),
                schedules::spec.eq(format!("{minutes}m")),
                schedules::tz.eq("UTC"),
                schedules::priority.eq(3),
                schedules::active.eq(true),
                schedules::misfire.eq("skip"),
                schedules::retry_attempts.eq(2),
                schedules::retry_base_secs.eq(60),
                schedules::anchor_at.eq(now),
                // At once: the first copy should not wait for the first interval.
                schedules::next_fire_at.eq(now),
                schedules::created_by.eq("system"),
                schedules::created_at.eq(now),
                schedules::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(calendar)
    });
    if done.is_err() {
        let _ = diesel::delete(calendars::table.find(made.id)).execute(conn);
    }
    done
}

/// Subscribed calendars, with their refresh state.
pub fn list(conn: &mut Conn) -> Result<Vec<SubscriptionView>, AppError> {
    let cals: Vec<super::Calendar> = calendars::table
        .filter(calendars::source_url.is_not_null())
        .order(calendars::name.asc())
        .select(super::Calendar::as_select())
        .load(conn)?;
    let mut out = Vec::with_capacity(cals.len());
    for c in cals {
        let schedule = schedule_of(conn, c.id)?;
        out.push(SubscriptionView {
            calendar_id: c.id,
            name: c.name.clone(),
            colour: c.colour.clone(),
            source: c.source_url.as_deref().map(redacted).unwrap_or_default(),
            refresh_minutes: c.refresh_minutes.unwrap_or(DEFAULT_REFRESH_MINUTES),
            last_refresh_at: c.last_refresh_at.map(|t| crate::schedules::rfc3339(from_ms(t))),
            last_error: c.last_error.clone(),
            schedule_id: schedule.map(|s| s.0),
            schedule_active: schedule.is_some_and(|s| s.1),
        });
    }
    Ok(out)
}

fn subscribed(conn: &mut Conn, calendar_id: i32) -> Result<super::Calendar, AppError> {
    calendars::table
        .find(calendar_id)
        .filter(calendars::source_url.is_not_null())
        .select(super::Calendar::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::NotFound(format!("no subscribed calendar with id {calendar_id}")))
}

/// Unsubscribes: the calendar, its events and its refresh schedule go (the run history stays).
pub fn unsubscribe(conn: &mut Conn, ctx: &Ctx, calendar_id: i32) -> Result<String, AppError> {
    crate::db::write(conn, |conn| {
        let cal = subscribed(conn, calendar_id)?;
        diesel::update(
            schedules::table
                .filter(schedules::agent.eq(SYSTEM_AGENT))
                .filter(schedules::prompt.eq(job_prompt(calendar_id)))
                .filter(schedules::deleted_at.is_null()),
        )
        .set((
            schedules::deleted_at.eq(to_ms(ctx.now)),
            schedules::active.eq(false),
            schedules::next_fire_at.eq(None::<i64>),
        ))
        .execute(conn)?;
        crate::reminders::events::end_calendar(conn, cal.id, ctx.now)?;
        diesel::delete(
            crate::db::schema::events::table.filter(crate::db::schema::events::calendar_id.eq(cal.id)),
        )
        .execute(conn)?;
        diesel::delete(calendars::table.find(cal.id)).execute(conn)?;
        Ok(cal.name)
    })
}

/// Queues a refresh now (the Settings page's button), as a run of its schedule.
pub fn refresh_now(conn: &mut Conn, ctx: &Ctx, calendar_id: i32) -> Result<(), AppError> {
    subscribed(conn, calendar_id)?;
    let Some((schedule, _)) = schedule_of(conn, calendar_id)? else {
        return Err(AppError::NotFound(format!("calendar {calendar_id} has no refresh schedule")));
    };
    crate::schedules::service::run_now(conn, ctx, schedule)?;
    Ok(())
}

/// Runs one job of the `system` agent (the scheduler calls this): `refresh calendar <id>`.
pub async fn system_job(services: &Services, d: &Delivery) -> Result<String, Failure> {
    let Some(id) = d.prompt.strip_prefix(JOB_PREFIX).and_then(|n| n.trim().parse::<i32>().ok()) else {
        return Err(Failure::permanent(format!("{:?} is not a job Steward knows", d.prompt)));
    };
    refresh(services, id).await
}

/// What a fetch brought.
#[derive(Debug)]
pub enum Fetched {
    NotModified,
    Body { bytes: Vec<u8>, etag: Option<String>, last_modified: Option<String> },
}

/// A conditional GET of the feed, bounded in time and size. Errors never carry the address.
pub async fn fetch(
    http: &reqwest::Client,
    url: &str,
    etag: Option<&str>,
    last_modified: Option<&str>,
) -> Result<Fetched, Failure> {
    let work = async {
        let mut req = http.get(url).header(reqwest::header::ACCEPT, "text/calendar, */*;q=0.5");
        if let Some(tag) = etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, tag);
        }
        if let Some(lm) = last_modified {
            req = req.header(reqwest::header::IF_MODIFIED_SINCE, lm);
        }
        let mut resp = req.send().await.map_err(|e| Failure::retry(net_error(e)))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        if !status.is_success() {
            let message = format!("the feed answered HTTP {}", status.as_u16());
            let retry = status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
            return Err(if retry { Failure::retry(message) } else { Failure::permanent(message) });
        }
        let header = |name: reqwest::header::HeaderName| {
            resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
        };
        let (etag, last_modified) = (header(reqwest::header::ETAG), header(reqwest::header::LAST_MODIFIED));
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| Failure::retry(net_error(e)))? {
            if bytes.len() + chunk.len() > MAX_BYTES {
                return Err(Failure::permanent(format!("the feed is larger than {} MB", MAX_BYTES >> 20)));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body { bytes, etag, last_modified })
    };
    match tokio::time::timeout(FETCH_TIMEOUT, work).await {
        Ok(result) => result,
        Err(_) => {
            Err(Failure::retry(format!("the feed did not answer within {} s", FETCH_TIMEOUT.as_secs())))
        }
    }
}

/// A network error in words, without the address.
fn net_error(e: reqwest::Error) -> String {
    let e = e.without_url();
    if e.is_timeout() {
        "the feed timed out".into()
    } else if e.is_connect() {
        "cannot connect to the feed's server".into()
    } else if e.is_redirect() {
        "the feed redirects too often".into()
    } else {
        let mut text = format!("reading the feed failed: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(&format!(": {s}"));
            source = s.source();
        }
        text
    }
}

/// Refreshes one subscribed calendar now. On failure the last good copy stays and the error is
/// kept on the calendar (and returned, for the run history).
pub async fn refresh(services: &Services, calendar_id: i32) -> Result<String, Failure> {
    let cal = services
        .db
        .run(move |conn| subscribed(conn, calendar_id))
        .await
        .map_err(|e| Failure::permanent(e.client_message()))?;
    let url = cal.source_url.clone().unwrap_or_default();
    let fetched = fetch(&services.http, &url, cal.etag.as_deref(), cal.last_modified.as_deref()).await;
    let outcome = match fetched {
        Ok(Fetched::NotModified) => Ok((None, "not modified since the last refresh".to_string())),
        Ok(Fetched::Body { bytes, etag, last_modified }) => {
            let applied = services
                .run_as(Actor::Scheduler, move |conn, ctx| {
                    Ok(apply(conn, ctx, calendar_id, &bytes)?.map(|summary| (etag, last_modified, summary)))
                })
                .await;
            match applied {
                Ok(Ok((etag, lm, summary))) => Ok((Some((etag, lm)), summary)),
                Ok(Err(reason)) => Err(Failure::permanent(reason)),
                Err(e) => Err(Failure::retry(e.client_message())),
            }
        }
        Err(f) => Err(f),
    };
    let now = to_ms(services.clock.now());
    let record = match &outcome {
        Ok((validators, _)) => {
            let validators = validators.clone();
            services
                .db
                .run(move |conn| {
                    let q = diesel::update(calendars::table.find(calendar_id));
                    match validators {
                        Some((etag, lm)) => q
                            .set((
                                calendars::etag.eq(etag),
                                calendars::last_modified.eq(lm),
                                calendars::last_refresh_at.eq(now),
                                calendars::last_error.eq(None::<String>),
                            ))
                            .execute(conn)?,
                        None => q
                            .set((
                                calendars::last_refresh_at.eq(now),
                                calendars::last_error.eq(None::<String>),
                            ))
                            .execute(conn)?,
                    };
                    Ok(())
                })
                .await
        }
        Err(f) => {
            let message = f.message.clone();
            services
                .db
                .run(move |conn| {
                    diesel::update(calendars::table.find(calendar_id))
                        .set((calendars::last_refresh_at.eq(now), calendars::last_error.eq(message)))
                        .execute(conn)?;
                    Ok(())
                })
                .await
        }
    };
    if let Err(e) = record {
        tracing::error!(calendar = calendar_id, error = %e.client_message(), "recording a calendar refresh");
    }
    super::service::announce(&services.events, Some(calendar_id));
    outcome.map(|(_, summary)| format!("{}: {summary}", cal.name))
}

/// An ICS file's bytes as text: folds are undone on the bytes first (RFC 5545 folds at 75
/// octets, and writers that count bytes split a UTF-8 character across the fold: undoing the
/// fold after decoding would leave two replacement characters), then the bytes are read as
/// UTF-8; a file with no UTF-8 in it at all is read as Latin-1 (old Windows exports), one with
/// a stray invalid byte gets a replacement character there.
pub fn decode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let fold = match bytes[i] {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') && matches!(bytes.get(i + 2), Some(b' ' | b'\t')) => 3,
            b'\n' if matches!(bytes.get(i + 1), Some(b' ' | b'\t')) => 2,
            _ => 0,
        };
        if fold > 0 {
            i += fold;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    match String::from_utf8(out) {
        Ok(text) => text,
        Err(e) => {
            let bytes = e.into_bytes();
            let lossy = String::from_utf8_lossy(&bytes);
            if lossy.chars().any(|c| !c.is_ascii() && c != char::REPLACEMENT_CHARACTER) {
                lossy.into_owned()
            } else {
                bytes.iter().map(|&b| char::from(b)).collect()
            }
        }
    }
}

/// Replaces a subscribed calendar's events with the feed's, in one transaction: events whose
/// UID is in the feed are written as the feed has them, the rest disappear. `Ok(Err(reason))`
/// when the body is not a calendar (the last good copy stays).
fn apply(
    conn: &mut Conn,
    ctx: &Ctx,
    calendar_id: i32,
    bytes: &[u8],
) -> Result<Result<String, String>, AppError> {
    let text = decode(bytes);
    let options = super::ics::ImportOptions { origin: super::service::Origin::Subscription, prune: true };
    match super::ics::import_with(conn, ctx, calendar_id, &text, options) {
        Ok(report) => {
            let mut summary = format!(
                "{} new, {} changed, {} removed, {} unchanged",
                report.imported, report.updated, report.removed, report.unchanged
            );
            if !report.skipped.is_empty() {
                summary.push_str(&format!(", {} skipped", report.skipped.len()));
            }
            Ok(Ok(summary))
        }
        // Not a calendar at all: the last good copy stays.
        Err(AppError::Invalid { message, .. }) => Ok(Err(format!("the feed is not a calendar: {message}"))),
        Err(e) => Err(e),
    }
}

/// The instant of a refresh as shown on pages.
pub fn when(at: Option<i64>) -> Option<DateTime<Utc>> {
    at.map(from_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_addresses_are_normalised_and_shown_without_their_secret() {
        let cases = [
            (
                "webcal://p01-caldav.icloud.com/published/2/SECRET",
                Ok("https://p01-caldav.icloud.com/published/2/SECRET"),
            ),
            ("WEBCAL://example.org/a.ics", Ok("https://example.org/a.ics")),
            ("webcals://example.org/a.ics", Ok("https://example.org/a.ics")),
            (
                "  https://calendar.google.com/calendar/ical/x%40group/private-abc/basic.ics ",
                Ok("https://calendar.google.com/calendar/ical/x%40group/private-abc/basic.ics"),
            ),
            ("http://127.0.0.1:8000/cal.ics", Ok("http://127.0.0.1:8000/cal.ics")),
            (
                "ftp://example.org/a.ics",
                Err("an address starting ftp: is not a calendar feed; use https:// or webcal://"),
            ),
            (
                "calendar.google.com/basic.ics",
                Err("is not a web address (it should start with https:// or webcal://)"),
            ),
            (
                "file:///etc/passwd",
                Err("an address starting file: is not a calendar feed; use https:// or webcal://"),
            ),
            ("", Err("is not a web address (it should start with https:// or webcal://)")),
        ];
        for (given, want) in cases {
            match (normalise_url(given), want) {
                (Ok(url), Ok(want)) => assert_eq!(url, want, "{given}"),
                (Err(AppError::Invalid { field, message }), Err(want)) => {
                    assert_eq!((field.as_str(), message.as_str()), ("url", want), "{given}");
                    assert!(!message.contains("SECRET"));
                }
                (got, want) => panic!("{given}: {got:?}, expected {want:?}"),
            }
        }
        assert_eq!(
            redacted("https://calendar.google.com/calendar/ical/private-abc/basic.ics"),
            "https://calendar.google.com/…"
        );
        assert_eq!(redacted("http://127.0.0.1:8000/secret/cal.ics"), "http://127.0.0.1:8000/…");
        assert_eq!(redacted("not a url"), "(an address)");
    }

    #[test]
    fn folds_are_undone_before_the_bytes_are_read_as_utf8() {
        let cases: [(&[u8], &str); 6] = [
            (b"SUMMARY:F\xc3\r\n \xaate\r\n", "SUMMARY:F\u{ea}te\r\n"),
            (b"SUMMARY:F\xc3\n\t\xaate\n", "SUMMARY:F\u{ea}te\n"),
            (b"A:1\r\nB:2\r\n", "A:1\r\nB:2\r\n"),
            (b"A:Caf\xe9 cr\xe8me", "A:Caf\u{e9} cr\u{e8}me"),
            (b"A:Caf\xc3\xa9 and a bad \xff byte", "A:Caf\u{e9} and a bad \u{fffd} byte"),
            (b"A:end\r\n ", "A:end"),
        ];
        for (bytes, want) in cases {
            assert_eq!(decode(bytes), want, "{bytes:?}");
        }
    }
}
