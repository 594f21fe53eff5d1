//! API tokens: `Authorization: Bearer <token>`. Shown once at creation, stored as a SHA-256.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::{random_token, sha256_hex};
use crate::db::Conn;
use crate::db::schema::api_tokens;
use crate::error::AppError;

/// Tokens start with this, so a leaked one is easy to recognise (and to grep for).
pub const PREFIX: &str = "stw_";

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = api_tokens)]
pub struct ApiToken {
    pub id: i32,
    pub name: String,
    /// The first characters of the token, to tell tokens apart in lists.
    pub hint: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
}

/// Creates a token; returns its secret (shown once) and its record.
pub fn create(conn: &mut Conn, name: &str, now: DateTime<Utc>) -> Result<(String, ApiToken), AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(AppError::invalid("name", "a token needs a name of 1 to 64 characters"));
    }
    crate::db::write(conn, |conn| {
        let taken = api_tokens::table.filter(api_tokens::name.eq(name)).count().get_result::<i64>(conn)? > 0;
        if taken {
            return Err(AppError::invalid("name", format!("a token named {name:?} exists already")));
        }
        let secret = format!("{PREFIX}{}", random_token(24));
        let token = diesel::insert_into(api_tokens::table)
            .values((
                api_tokens::name.eq(name),
                api_tokens::token_hash.eq(sha256_hex(&secret)),
                api_tokens::hint.eq(format!("{}…", &secret[..PREFIX.len() + 4])),
                api_tokens::created_at.eq(now.naive_utc()),
            ))
            .returning(ApiToken::as_returning())
            .get_result(conn)?;
        Ok((secret, token))
    })
}

pub fn list(conn: &mut Conn) -> QueryResult<Vec<ApiToken>> {
    api_tokens::table.order(api_tokens::created_at.desc()).select(ApiToken::as_select()).load(conn)
}

/// Revokes a token by name.
pub fn revoke(conn: &mut Conn, name: &str) -> Result<(), AppError> {
    match diesel::delete(api_tokens::table.filter(api_tokens::name.eq(name))).execute(conn)? {
        0 => Err(AppError::NotFound(format!("no API token named {name:?}"))),
        _ => Ok(()),
    }
}

pub fn revoke_id(conn: &mut Conn, id: i32) -> Result<(), AppError> {
    match diesel::delete(api_tokens::table.find(id)).execute(conn)? {
        0 => Err(AppError::NotFound(format!("no API token with id {id}"))),
        _ => Ok(()),
    }
}

/// The token a bearer secret belongs to; records its use (at most once a minute).
pub fn authenticate(conn: &mut Conn, secret: &str, now: DateTime<Utc>) -> QueryResult<Option<ApiToken>> {
    if !secret.starts_with(PREFIX) {
        return Ok(None);
    }
    let found: Option<ApiToken> = api_tokens::table
        .filter(api_tokens::token_hash.eq(sha256_hex(secret)))
        .select(ApiToken::as_select())
        .first(conn)
        .optional()?;
    let Some(mut token) = found else { return Ok(None) };
    let now = now.naive_utc();
    if token.last_used_at.is_none_or(|t| now - t >= Duration::minutes(1)) {
        diesel::update(api_tokens::table.find(token.id))
            .set(api_tokens::last_used_at.eq(now))
            .execute(conn)?;
        token.last_used_at = Some(now);
    }
    Ok(Some(token))
}
