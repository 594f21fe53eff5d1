//! The `settings` table: small named values (the password hash, the person's time zone).

use chrono_tz::Tz;
use diesel::prelude::*;

use super::Conn;
use super::schema::settings;
use crate::config::Config;
use crate::error::AppError;

pub const PASSWORD_HASH: &str = "password_hash";
pub const TIMEZONE: &str = "timezone";

pub fn get(conn: &mut Conn, key: &str) -> QueryResult<Option<String>> {
    settings::table.find(key).select(settings::value).first(conn).optional()
}

pub fn set(conn: &mut Conn, key: &str, value: &str) -> QueryResult<()> {
    diesel::insert_into(settings::table)
        .values((settings::key.eq(key), settings::value.eq(value)))
        .on_conflict(settings::key)
        .do_update()
        .set(settings::value.eq(value))
        .execute(conn)
        .map(|_| ())
}

/// A server secret of 32 random bytes kept under `key` (hex), made on first use: the keys that
/// sign action links and device cookies. Two first uses at once: the first written wins and
/// both read it back. (No transaction of its own: the scheduler asks for one inside its own.)
pub fn secret_key(conn: &mut Conn, key: &str) -> Result<Vec<u8>, AppError> {
    if let Some(bytes) = get(conn, key)?.and_then(|h| from_hex(&h)) {
        return Ok(bytes);
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("no random source for the {key}: {e}")))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    diesel::insert_into(settings::table)
        .values((settings::key.eq(key), settings::value.eq(&hex)))
        .on_conflict_do_nothing()
        .execute(conn)?;
    get(conn, key)?
        .and_then(|h| from_hex(&h))
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("the {key} was not kept")))
}

fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

/// The person's zone: the Settings page's choice, else the configured or machine zone.
pub fn person_zone(conn: &mut Conn, config: &Config) -> Result<Tz, AppError> {
    Ok(get(conn, TIMEZONE)?.and_then(|name| name.parse().ok()).unwrap_or_else(|| config.default_zone()))
}
