//! API tokens: `Authorization: Bearer <token>`. Shown once at creation, stored as a SHA-256.
//! Each has scopes ([`super::scopes`]) and may expire.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Serialize, Serializer};

use super::scopes::Scopes;
use super::{random_token, sha256_hex};
use crate::clock::{from_ms, to_ms};
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
    /// As stored (`write,mcp`); see [`ApiToken::scopes`].
    #[serde(serialize_with = "scope_list")]
    pub scopes: String,
    #[serde(serialize_with = "instant")]
    pub expires_at: Option<i64>,
}

fn scope_list<S: Serializer>(stored: &str, s: S) -> Result<S::Ok, S::Error> {
    Scopes::from_stored(stored).serialize(s)
}

fn instant<S: Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    ms.map(from_ms).serialize(s)
}

impl ApiToken {
    pub fn scopes(&self) -> Scopes {
        Scopes::from_stored(&self.scopes)
    }

    pub fn expires(&self) -> Option<DateTime<Utc>> {
        self.expires_at.map(from_ms)
    }

    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires().is_some_and(|at| at <= now)
    }

    /// Who acts when this token is used: an `admin` token acts for the person.
    pub fn actor(&self) -> crate::services::Actor {
        let token = Some(self.id);
        if self.scopes().is_admin() {
            crate::services::Actor::AdminToken { token }
        } else {
            crate::services::Actor::Api { token }
        }
    }
}

/// When a token made now with `--expires TEXT` ends: `90d`, `12w`, `1y`, a day (`2027-03-01`,
/// the start of that day in UTC), or `never` / empty for no end.
pub fn parse_expiry(text: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, AppError> {
    let text = text.trim().to_lowercase();
    if text.is_empty() || text == "never" {
        return Ok(None);
    }
    let bad = || {
        AppError::invalid(
            "expires",
            format!(
                "“{text}” is not a lifetime; write it like 30d, 12w or 1y, a day like 2027-03-01, or never"
            ),
        )
    };
    if let Ok(day) = NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
        let at = day.and_hms_opt(0, 0, 0).ok_or_else(bad)?.and_utc();
        if at <= now {
            return Err(AppError::invalid("expires", format!("{day} has passed already")));
        }
        return Ok(Some(at));
    }
    let unit_at = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(unit_at);
    let n: i64 = number.parse().map_err(|_| bad())?;
    let days = match unit.trim() {
        "d" | "day" | "days" => n,
        "w" | "week" | "weeks" => n.saturating_mul(7),
        "y" | "year" | "years" => n.saturating_mul(365),
        _ => return Err(bad()),
    };
    if !(1..=3650).contains(&days) {
        return Err(AppError::invalid("expires", format!("“{text}” must be between 1 day and 10 years")));
    }
    Ok(Some(now + Duration::days(days)))
}

/// What a new token is: its name, what it may do, and until when.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub scopes: Scopes,
    pub expires_at: Option<DateTime<Utc>>,
}

impl NewToken {
    /// A token that acts as the person (what tests and the person's own scripts use).
    pub fn admin(name: &str) -> NewToken {
        NewToken { name: name.to_string(), scopes: Scopes::admin(), expires_at: None }
    }
}

/// Creates a token; returns its secret (shown once) and its record.
pub fn create(conn: &mut Conn, new: &NewToken, now: DateTime<Utc>) -> Result<(String, ApiToken), AppError> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(AppError::invalid("name", "a token needs a name of 1 to 64 characters"));
    }
    if new.scopes.list().is_empty() {
        return Err(AppError::invalid(
            "scope",
            "a token needs at least one scope: read, write, mcp, feed, metrics or admin",
        ));
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
                api_tokens::scopes.eq(new.scopes.to_stored()),
                api_tokens::expires_at.eq(new.expires_at.map(to_ms)),
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

/// Revokes every token (an option of the password change); returns how many there were.
pub fn revoke_all(conn: &mut Conn) -> QueryResult<usize> {
    diesel::delete(api_tokens::table).execute(conn)
}

pub fn revoke_id(conn: &mut Conn, id: i32) -> Result<(), AppError> {
    match diesel::delete(api_tokens::table.find(id)).execute(conn)? {
        0 => Err(AppError::NotFound(format!("no API token with id {id}"))),
        _ => Ok(()),
    }
}

/// The token a bearer secret belongs to; records its use (at most once a minute). An expired
/// token is returned too (unused), so that its holder can be told why it is refused.
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
    if token.expired(now) {
        return Ok(Some(token));
    }
    let now = now.naive_utc();
    if token.last_used_at.is_none_or(|t| now - t >= Duration::minutes(1)) {
        diesel::update(api_tokens::table.find(token.id))
            .set(api_tokens::last_used_at.eq(now))
            .execute(conn)?;
        token.last_used_at = Some(now);
    }
    Ok(Some(token))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn lifetimes_read_as_people_write_them() {
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap();
        let at = |text: &str| parse_expiry(text, now).unwrap().map(|t| t.to_rfc3339());
        assert_eq!(at("90d").as_deref(), Some("2027-03-02T10:00:00+00:00"));
        assert_eq!(at("2w").as_deref(), Some("2026-12-16T10:00:00+00:00"));
        assert_eq!(at("1y").as_deref(), Some("2027-12-02T10:00:00+00:00"));
        assert_eq!(at(" 30 days").as_deref(), Some("2027-01-01T10:00:00+00:00"));
        assert_eq!(at("2027-03-01").as_deref(), Some("2027-03-01T00:00:00+00:00"));
        assert_eq!(at("never"), None);
        assert_eq!(at(""), None);
        for bad in ["90", "d", "5 fortnights", "0d", "20y", "2020-01-01", "-3d"] {
            let e = parse_expiry(bad, now).unwrap_err();
            assert_eq!(e.field(), Some("expires"), "{bad}");
        }
    }
}
