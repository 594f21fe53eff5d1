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

/// The person's zone: the Settings page's choice, else the configured or machine zone.
pub fn person_zone(conn: &mut Conn, config: &Config) -> Result<Tz, AppError> {
    Ok(get(conn, TIMEZONE)?.and_then(|name| name.parse().ok()).unwrap_or_else(|| config.default_zone()))
}
