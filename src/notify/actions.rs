//! What a person can do from a notification: Done, Snooze (10 min, 1 h, tomorrow morning),
//! Turn off (a briefing) and Open, decided by the notification's subject ([`offered`]); the one service function that
//! does it for every door ([`perform`]: the Notifications page, the API, a signed link); and
//! the signed one-click links pushed messages carry ([`links`], [`use_link`]).
//!
//! A link is `{public url}/a/<token>`. The token is the payload (notification id, action,
//! subject key, expiry) in base64url, a dot, and an HMAC-SHA256 of it under a server key made
//! on first use and kept in the settings table. It expires 7 days after the notification was
//! written, and works once: its id (the SHA-256 of the payload) goes into `action_links_used`
//! when used. The token for one notification and action is the same in every channel, so
//! "Done" pressed on the phone and then in the mail counts as one use.
//!
//! `Open` is a plain link to the page (behind the login), never signed.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use serde::Serialize;

use crate::clock::{from_ms, to_ms};
use crate::config::Config;
use crate::db::Conn;
use crate::db::schema::action_links_used;
use crate::error::AppError;
use crate::reminders::Subject;
use crate::services::Ctx;

/// How long a link works after its notification was written.
pub const LINK_DAYS: i64 = 7;
/// The settings key of the server's link key (32 random bytes, hex).
const KEY_SETTING: &str = "action_link_key";
/// What the MAC covers besides the payload, so no other HMAC in Steward can stand in for it.
const DOMAIN: &str = "steward-action-link-v1";

/// One action as channels show it: a button or link. Web Push and every channel kind build
/// their buttons from this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    /// `done`, `snooze-10m`, `snooze-1h`, `snooze-tomorrow` or `open`.
    pub action: String,
    /// "Done", "Snooze 10 min", "Snooze 1 h", "Tomorrow", "Open".
    pub label: String,
    pub url: String,
    /// `POST` for what changes something (a signed link), `GET` for Open.
    pub method: &'static str,
}

/// How long a snooze lasts, as the buttons offer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Snooze {
    TenMinutes,
    Hour,
    Tomorrow,
}

impl Snooze {
    pub const ALL: [Snooze; 3] = [Snooze::TenMinutes, Snooze::Hour, Snooze::Tomorrow];

    /// What `reminders::snooze_until` takes: `10m`, `1h`, `tomorrow`.
    pub fn as_str(self) -> &'static str {
        match self {
            Snooze::TenMinutes => "10m",
            Snooze::Hour => "1h",
            Snooze::Tomorrow => "tomorrow",
        }
    }

    pub fn parse(text: &str) -> Result<Snooze, AppError> {
        Snooze::ALL.into_iter().find(|s| s.as_str() == text.trim()).ok_or_else(|| {
            AppError::invalid("snooze", format!("{text:?} is not a snooze: use 10m, 1h or tomorrow"))
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            Snooze::TenMinutes => "10 min",
            Snooze::Hour => "1 h",
            Snooze::Tomorrow => "Tomorrow",
        }
    }
}

/// What a notification offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Done,
    Snooze(Snooze),
    /// Turns off the briefing the notification delivered.
    TurnOff,
    Open,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Done => "done",
            Kind::Snooze(Snooze::TenMinutes) => "snooze-10m",
            Kind::Snooze(Snooze::Hour) => "snooze-1h",
            Kind::Snooze(Snooze::Tomorrow) => "snooze-tomorrow",
            Kind::TurnOff => "turn-off",
            Kind::Open => "open",
        }
    }

    /// `done`, `open`, `snooze-10m`…; `snooze` alone takes its length from `snooze`.
    pub fn parse(text: &str, snooze: Option<&str>) -> Result<Kind, AppError> {
        match text {
            "done" => Ok(Kind::Done),
            "open" => Ok(Kind::Open),
            "turn-off" => Ok(Kind::TurnOff),
            "snooze" => Ok(Kind::Snooze(Snooze::parse(snooze.unwrap_or("10m"))?)),
            other => match other.strip_prefix("snooze-") {
                Some(s) => Ok(Kind::Snooze(Snooze::parse(s)?)),
                None => Err(AppError::invalid(
                    "action",
                    format!(
                        "{other:?} is not an action: use done, snooze (10m, 1h, tomorrow), turn-off or open"
                    ),
                )),
            },
        }
    }

    pub fn label(self) -> String {
        match self {
            Kind::Done => "Done".into(),
            Kind::Snooze(Snooze::Tomorrow) => "Tomorrow".into(),
            Kind::Snooze(s) => format!("Snooze {}", s.label()),
            Kind::TurnOff => "Turn off this briefing".into(),
            Kind::Open => "Open".into(),
        }
    }
}

/// The actions a notification about `subject` offers: a task's reminder Done, Snooze and Open;
/// an event's Snooze and Open; the waiting-for digest Open; a briefing Turn off and Open.
pub fn offered(subject: Subject) -> Vec<Kind> {
    let snoozes = Snooze::ALL.into_iter().map(Kind::Snooze);
    match subject {
        Subject::Task(_) => std::iter::once(Kind::Done).chain(snoozes).chain([Kind::Open]).collect(),
        Subject::Event { .. } => snoozes.chain([Kind::Open]).collect(),
        Subject::Waiting => vec![Kind::Open],
        Subject::Briefing(_) => vec![Kind::TurnOff, Kind::Open],
    }
}

/// The actions of a notification (none without a subject), with their links under `base`
/// (the public URL): signed one-click links for what changes something, the page for Open.
pub fn links(
    conn: &mut Conn,
    id: i32,
    subject: Option<&str>,
    created_at: i64,
    base: &str,
) -> Result<Vec<Action>, AppError> {
    let Some(subject) = subject.and_then(Subject::parse) else { return Ok(Vec::new()) };
    let base = base.trim_end_matches('/');
    let key = crate::db::settings::secret_key(conn, KEY_SETTING)?;
    let expires = to_ms(from_ms(created_at) + Duration::days(LINK_DAYS));
    Ok(offered(subject)
        .into_iter()
        .map(|kind| match kind {
            Kind::Open => Action {
                action: kind.as_str().into(),
                label: kind.label(),
                url: format!("{base}{}", subject.path()),
                method: "GET",
            },
            _ => {
                let link = Link { notification: id, kind, subject, expires_at: expires };
                Action {
                    action: kind.as_str().into(),
                    label: kind.label(),
                    url: format!("{base}/a/{}", link.token(&key)),
                    method: "POST",
                }
            }
        })
        .collect())
}

/// What a signed link says to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub notification: i32,
    pub kind: Kind,
    pub subject: Subject,
    pub expires_at: i64,
}

impl Link {
    fn payload(&self) -> String {
        format!("{}|{}|{}|{}", self.notification, self.kind.as_str(), self.subject.key(), self.expires_at)
    }

    pub fn token(&self, key: &[u8]) -> String {
        crate::auth::signed::sign(key, DOMAIN, &self.payload())
    }

    /// The link a token holds, if the server signed it (expired or not).
    pub fn verify(token: &str, key: &[u8]) -> Option<Link> {
        let payload = crate::auth::signed::open(key, DOMAIN, token)?;
        let mut parts = payload.splitn(4, '|');
        let notification = parts.next()?.parse().ok()?;
        let kind = Kind::parse(parts.next()?, None).ok()?;
        let subject = Subject::parse(parts.next()?)?;
        let expires_at = parts.next()?.parse().ok()?;
        (kind != Kind::Open).then_some(Link { notification, kind, subject, expires_at })
    }

    /// The id a used link is remembered by.
    fn id(&self) -> String {
        crate::auth::sha256_hex(&self.payload())
    }
}

/// Where Steward listens, kept at start-up for links when no public URL is set.
const LISTENING_SETTING: &str = "listening_url";

/// Keeps the address Steward listens on (`http://127.0.0.1:8080`) for [`base_url`].
pub fn remember_listening(conn: &mut Conn, url: &str) -> Result<(), AppError> {
    crate::db::settings::set(conn, LISTENING_SETTING, url)?;
    Ok(())
}

/// The base of links: `STEWARD_PUBLIC_URL`, else the address Steward listens on (which a
/// phone can reach only on the same network, and only if it is not loopback).
pub fn base_url(conn: &mut Conn, public_url: Option<&str>) -> Result<String, AppError> {
    if let Some(public) = public_url {
        return Ok(public.trim_end_matches('/').to_string());
    }
    Ok(crate::db::settings::get(conn, LISTENING_SETTING)?.unwrap_or_else(|| "http://127.0.0.1:8080".into()))
}

/// What a link is, before anyone acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// It may be used: the link and what it concerns ("Call mom").
    Valid {
        link: Link,
        title: String,
    },
    /// Used already, at this instant.
    Used {
        at: DateTime<Utc>,
        title: String,
    },
    Expired {
        title: String,
    },
    /// Not signed by this server (changed, cut, or made up).
    Forged,
}

/// What a link is (the confirmation page shows it without changing anything).
pub fn check(conn: &mut Conn, token: &str, now: DateTime<Utc>) -> Result<Checked, AppError> {
    let key = crate::db::settings::secret_key(conn, KEY_SETTING)?;
    let Some(link) = Link::verify(token, &key) else { return Ok(Checked::Forged) };
    let title = title_of(conn, &link)?;
    let used: Option<i64> =
        action_links_used::table.find(link.id()).select(action_links_used::used_at).first(conn).optional()?;
    Ok(match used {
        Some(at) => Checked::Used { at: from_ms(at), title },
        None if to_ms(now) >= link.expires_at => Checked::Expired { title },
        None => Checked::Valid { link, title },
    })
}

/// What the link concerns, in words: its notification's title (a reminder's is its task's).
fn title_of(conn: &mut Conn, link: &Link) -> Result<String, AppError> {
    use crate::db::schema::notifications;
    let title: Option<String> =
        notifications::table.find(link.notification).select(notifications::title).first(conn).optional()?;
    Ok(title.unwrap_or_else(|| "this reminder".into()))
}

/// Uses a link: checks it, marks it used, and does what it says. A link that is not valid
/// changes nothing and answers what it is; one whose action fails is left unused.
pub fn use_link(
    conn: &mut Conn,
    ctx: &Ctx,
    config: &Config,
    token: &str,
) -> Result<Result<Outcome, Checked>, AppError> {
    let link = match check(conn, token, ctx.now)? {
        Checked::Valid { link, .. } => link,
        other => return Ok(Err(other)),
    };
    // Marking first makes two uses at once count once: the second finds the row.
    let marked = crate::db::write(conn, |conn| {
        // Rows older than any link's life are no longer needed.
        let stale = to_ms(ctx.now - Duration::days(LINK_DAYS + 1));
        diesel::delete(action_links_used::table.filter(action_links_used::used_at.lt(stale)))
            .execute(conn)?;
        Ok(diesel::insert_into(action_links_used::table)
            .values((
                action_links_used::id.eq(link.id()),
                action_links_used::notification_id.eq(link.notification),
                action_links_used::action.eq(link.kind.as_str()),
                action_links_used::used_at.eq(to_ms(ctx.now)),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?)
    })?;
    if marked == 0 {
        return Ok(Err(check(conn, token, ctx.now)?));
    }
    match perform(conn, ctx, config, link.subject, link.kind) {
        Ok(outcome) => Ok(Ok(outcome)),
        Err(e) => {
            let id = link.id();
            crate::db::write(conn, |conn| {
                diesel::delete(action_links_used::table.find(&id)).execute(conn)?;
                Ok(())
            })?;
            Err(e)
        }
    }
}

/// What an action did, in words ("Done: Call mom", "Snoozed until 14:10").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub action: String,
    pub message: String,
    /// The page of what it concerns.
    pub path: String,
    /// When a snooze comes back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
}

/// Does an action on what a notification is about: the one place for every door.
pub fn perform(
    conn: &mut Conn,
    ctx: &Ctx,
    config: &Config,
    subject: Subject,
    kind: Kind,
) -> Result<Outcome, AppError> {
    if !offered(subject).contains(&kind) {
        return Err(AppError::invalid(
            "action",
            format!("{} is not offered for {}", kind.as_str(), subject.key()),
        ));
    }
    let path = subject.path();
    match kind {
        Kind::Done => {
            let Subject::Task(id) = subject else {
                return Err(AppError::invalid("action", "only a task can be done"));
            };
            let (task, _) = crate::tasks::service::set_done(conn, ctx, id, true)?;
            Ok(Outcome {
                action: kind.as_str().into(),
                message: format!("Done: {}", task.title),
                path,
                until: None,
            })
        }
        Kind::Snooze(s) => {
            let settings = crate::reminders::settings::load(conn)?;
            let until = crate::reminders::snooze_until(s.as_str(), ctx.now, ctx.tz, &settings)?;
            crate::reminders::snooze(conn, subject, until, ctx.now, ctx.tz)?;
            Ok(Outcome {
                action: kind.as_str().into(),
                message: format!("Snoozed until {}", when(until, ctx.now, ctx.tz)),
                path,
                until: Some(until),
            })
        }
        Kind::TurnOff => {
            let Subject::Briefing(name) = subject else {
                return Err(AppError::invalid("action", "only a briefing can be turned off"));
            };
            let patch = crate::briefings::BriefingPatch { enabled: Some(false), ..Default::default() };
            let b = crate::briefings::update(conn, ctx, config, name, &patch)?;
            Ok(Outcome {
                action: kind.as_str().into(),
                message: format!("{} turned off (turn it on again on the Briefings page)", b.title),
                path,
                until: None,
            })
        }
        Kind::Open => Ok(Outcome { action: kind.as_str().into(), message: "Open".into(), path, until: None }),
    }
}

/// Does an action on what notification `id` is about (the Notifications page's buttons and
/// the API).
pub fn perform_on(
    conn: &mut Conn,
    ctx: &Ctx,
    config: &Config,
    id: i32,
    kind: Kind,
) -> Result<Outcome, AppError> {
    use crate::db::schema::notifications;
    let subject: Option<String> = notifications::table
        .find(id)
        .select(notifications::subject)
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::NotFound(format!("no notification with id {id}")))?;
    let subject = subject.as_deref().and_then(Subject::parse).ok_or_else(|| {
        AppError::invalid(
            "action",
            format!("notification {id} is not a reminder or a briefing; it offers no actions"),
        )
    })?;
    perform(conn, ctx, config, subject, kind)
}

/// "14:10", "tomorrow 09:00", "Mon 7 Dec 09:00", in the person's zone.
pub fn when(at: DateTime<Utc>, now: DateTime<Utc>, tz: Tz) -> String {
    let (local, today) = (at.with_timezone(&tz), now.with_timezone(&tz).date_naive());
    match (local.date_naive() - today).num_days() {
        0 => local.format("%H:%M").to_string(),
        1 => local.format("tomorrow %H:%M").to_string(),
        _ => local.format("%a %-d %b %H:%M").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn link(kind: Kind) -> Link {
        Link { notification: 7, kind, subject: Subject::Task(12), expires_at: 1_800_000_000_000 }
    }

    #[test]
    fn each_subject_offers_its_actions() {
        let names = |s| offered(s).into_iter().map(Kind::as_str).collect::<Vec<_>>();
        assert_eq!(names(Subject::Task(1)), ["done", "snooze-10m", "snooze-1h", "snooze-tomorrow", "open"]);
        assert_eq!(
            names(Subject::Event { id: 1, at: Some(5) }),
            ["snooze-10m", "snooze-1h", "snooze-tomorrow", "open"]
        );
        assert_eq!(names(Subject::Waiting), ["open"]);
        assert_eq!(names(Subject::Briefing("weekly")), ["turn-off", "open"]);
        assert_eq!(Subject::parse("briefing:weekly"), Some(Subject::Briefing("weekly")));
        assert_eq!(Subject::parse("briefing:lunch"), None);
    }

    #[test]
    fn a_token_verifies_under_its_key_only_and_any_change_breaks_it() {
        let l = link(Kind::Snooze(Snooze::Hour));
        let token = l.token(KEY);
        assert_eq!(Link::verify(&token, KEY), Some(l));
        assert_eq!(Link::verify(&token, b"another key"), None);
        // Another payload under the first one's tag.
        let other = link(Kind::Done).token(KEY);
        let forged = format!("{}.{}", other.split('.').next().unwrap(), token.split('.').nth(1).unwrap());
        assert_eq!(Link::verify(&forged, KEY), None);
        // A flipped character anywhere.
        for i in 0..token.len() {
            if token.as_bytes()[i] == b'.' {
                continue;
            }
            let mut b = token.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let t = String::from_utf8(b).unwrap();
            if t != token {
                assert_eq!(Link::verify(&t, KEY), None, "{t}");
            }
        }
        assert_eq!(Link::verify("", KEY), None);
        assert_eq!(Link::verify("abc", KEY), None);
    }

    #[test]
    fn kinds_parse_from_the_api_and_the_links() {
        assert_eq!(Kind::parse("snooze", Some("1h")).unwrap(), Kind::Snooze(Snooze::Hour));
        assert_eq!(Kind::parse("snooze", None).unwrap(), Kind::Snooze(Snooze::TenMinutes));
        assert_eq!(Kind::parse("snooze-tomorrow", None).unwrap(), Kind::Snooze(Snooze::Tomorrow));
        assert!(Kind::parse("snooze", Some("2h")).unwrap_err().to_string().contains("\"2h\""));
        assert!(Kind::parse("delete", None).is_err());
        for k in [Kind::Done, Kind::Open, Kind::Snooze(Snooze::TenMinutes)] {
            assert_eq!(Kind::parse(k.as_str(), None).unwrap(), k);
        }
    }
}
