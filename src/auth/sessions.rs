//! Browser sessions: a random 128-bit token in an HttpOnly cookie, stored only as its SHA-256.
//! A session ends after an idle period or an absolute lifetime, whichever comes first; a
//! remembered one ("remember this device") only after the absolute lifetime, and its cookie
//! outlives the browser.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::{random_token, sha256_hex};
use crate::db::Conn;
use crate::db::schema::sessions;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id: i32,
    pub csrf_token: String,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub user_agent: String,
    pub ip: String,
    /// When the password was last typed for this session (login or re-authentication).
    pub authenticated_at: NaiveDateTime,
    /// "Remember this device": no idle timeout, a persistent cookie.
    pub remembered: bool,
}

impl Session {
    /// The device in words, for the session list ("Chrome on Linux").
    pub fn device(&self) -> String {
        device_label(&self.user_agent)
    }
}

/// A user-agent string in words: the browser (or tool) and the system it runs on, such as
/// "Chrome on Linux", "Safari on iPhone", "curl"; "Unknown device" when nothing is known.
/// Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari", and every
/// browser says "Mozilla".
pub fn device_label(user_agent: &str) -> String {
    let ua = user_agent.trim();
    if ua.is_empty() {
        return "Unknown device".to_string();
    }
    let has = |needle: &str| ua.contains(needle);
    let browser = if has("Edg/") || has("Edge/") || has("EdgA/") || has("EdgiOS/") {
        Some("Edge")
    } else if has("OPR/") || has("Opera") || has("OPT/") {
        Some("Opera")
    } else if has("Firefox/") || has("FxiOS/") {
        Some("Firefox")
    } else if has("Chromium/") {
        Some("Chromium")
    } else if has("Chrome/") || has("CriOS/") {
        Some("Chrome")
    } else if has("Safari/") && (has("Version/") || has("Mobile/")) {
        Some("Safari")
    } else {
        None
    };
    let system = if has("iPad") {
        Some("iPad")
    } else if has("iPhone") || has("iPod") {
        Some("iPhone")
    } else if has("Android") {
        Some("Android")
    } else if has("Windows") {
        Some("Windows")
    } else if has("Macintosh") || has("Mac OS X") {
        Some("macOS")
    } else if has("CrOS") {
        Some("ChromeOS")
    } else if has("Linux") || has("X11") {
        Some("Linux")
    } else {
        None
    };
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_string(),
        (None, Some(s)) => format!("A browser on {s}"),
        (None, None) => {
            // A tool (`curl/8.5.0`, `python-requests/2.31`): its name, without the version.
            let name = ua.split(['/', ' ']).next().unwrap_or("");
            let plain = !name.is_empty()
                && name.len() <= 30
                && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if plain && name != "Mozilla" { name.to_string() } else { "Unknown device".to_string() }
        }
    }
}

/// How long sessions live.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub idle: Duration,
    pub absolute: Duration,
}

/// Who is logging in, for the session list.
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub ip: String,
    pub user_agent: String,
}

/// Starts a session; returns the cookie token (never stored) and the session.
pub fn create(
    conn: &mut Conn,
    client: &Client,
    now: DateTime<Utc>,
    life: Lifetimes,
    remembered: bool,
) -> QueryResult<(String, Session)> {
    let token = random_token(16);
    let now = now.naive_utc();
    let user_agent: String = client.user_agent.chars().take(200).collect();
    let session = diesel::insert_into(sessions::table)
        .values((
            sessions::token_hash.eq(sha256_hex(&token)),
            sessions::csrf_token.eq(random_token(16)),
            sessions::created_at.eq(now),
            sessions::last_seen_at.eq(now),
            sessions::expires_at.eq(now + life.absolute),
            sessions::user_agent.eq(user_agent),
            sessions::ip.eq(&client.ip),
            sessions::authenticated_at.eq(now),
            sessions::remembered.eq(remembered),
        ))
        .returning(Session::as_returning())
        .get_result(conn)?;
    Ok((token, session))
}

/// The live session for a cookie token, if any. Marks it seen (at most once a minute, so an
/// active page does not write on every request).
pub fn find(
    conn: &mut Conn,
    token: &str,
    now: DateTime<Utc>,
    life: Lifetimes,
) -> QueryResult<Option<Session>> {
    let now = now.naive_utc();
    let found: Option<Session> = sessions::table
        .filter(sessions::token_hash.eq(sha256_hex(token)))
        .select(Session::as_select())
        .first(conn)
        .optional()?;
    let Some(mut session) = found else { return Ok(None) };
    let idle = !session.remembered && session.last_seen_at + life.idle <= now;
    if session.expires_at <= now || idle {
        diesel::delete(sessions::table.find(session.id)).execute(conn)?;
        return Ok(None);
    }
    if now - session.last_seen_at >= Duration::minutes(1) {
        diesel::update(sessions::table.find(session.id)).set(sessions::last_seen_at.eq(now)).execute(conn)?;
        session.last_seen_at = now;
    }
    Ok(Some(session))
}

/// Live sessions, most recently seen first; expired ones are removed on the way.
pub fn list(conn: &mut Conn, now: DateTime<Utc>, life: Lifetimes) -> QueryResult<Vec<Session>> {
    let now = now.naive_utc();
    diesel::delete(
        sessions::table.filter(
            sessions::expires_at
                .le(now)
                .or(sessions::remembered.eq(false).and(sessions::last_seen_at.le(now - life.idle))),
        ),
    )
    .execute(conn)?;
    sessions::table.order(sessions::last_seen_at.desc()).select(Session::as_select()).load(conn)
}

/// The password was just typed again for this session (a re-authentication).
pub fn mark_authenticated(conn: &mut Conn, id: i32, now: DateTime<Utc>) -> QueryResult<()> {
    diesel::update(sessions::table.find(id))
        .set(sessions::authenticated_at.eq(now.naive_utc()))
        .execute(conn)
        .map(|_| ())
}

/// Ends one session. Returns whether it existed.
pub fn revoke(conn: &mut Conn, id: i32) -> QueryResult<bool> {
    Ok(diesel::delete(sessions::table.find(id)).execute(conn)? > 0)
}

/// Ends every session but `keep` (all of them when `keep` is None).
pub fn revoke_all_except(conn: &mut Conn, keep: Option<i32>) -> QueryResult<usize> {
    match keep {
        Some(id) => diesel::delete(sessions::table.filter(sessions::id.ne(id))).execute(conn),
        None => diesel::delete(sessions::table).execute(conn),
    }
}

#[cfg(test)]
mod device_tests {
    use super::device_label;

    #[test]
    fn user_agents_read_as_a_browser_on_a_system() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                "Chrome on Linux",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chromium/120.0.6099.224 Chrome/120.0.6099.224 Safari/537.36",
                "Chromium on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0",
                "Opera on Windows",
            ),
            (
                "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
                "Safari on macOS",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0",
                "Firefox on macOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
                "Safari on iPhone",
            ),
            (
                "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
                "Chrome on iPad",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            ("Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0", "Firefox on Android"),
            ("curl/8.5.0", "curl"),
            ("python-requests/2.31.0", "python-requests"),
            ("", "Unknown device"),
            ("Mozilla/5.0 (compatible; something odd)", "Unknown device"),
            ("<script>", "Unknown device"),
        ];
        for (ua, want) in cases {
            assert_eq!(device_label(ua), want, "{ua}");
        }
    }
}
