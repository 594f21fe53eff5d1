//! Browser sessions: a random 128-bit token in an HttpOnly cookie, stored only as its SHA-256.
//! A session ends after an idle period or an absolute lifetime, whichever comes first.

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
    if session.expires_at <= now || session.last_seen_at + life.idle <= now {
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
        sessions::table.filter(sessions::expires_at.le(now).or(sessions::last_seen_at.le(now - life.idle))),
    )
    .execute(conn)?;
    sessions::table.order(sessions::last_seen_at.desc()).select(Session::as_select()).load(conn)
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
