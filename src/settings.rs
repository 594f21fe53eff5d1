//! Person-level settings that live in the database (and so can be changed from the Settings page).

use chrono_tz::Tz;

use crate::config::{Config, parse_zone};
use crate::db::{Conn, settings};
use crate::error::AppError;

/// The person's zone: the Settings page's choice, else the configured or machine zone.
pub fn person_zone(conn: &mut Conn, config: &Config) -> Result<Tz, AppError> {
    Ok(settings::get(conn, settings::TIMEZONE)?
        .and_then(|name| name.parse().ok())
        .unwrap_or_else(|| config.default_zone()))
}

/// Changes the person's zone, and re-derives what depends on it (task due dates).
pub fn set_person_zone(conn: &mut Conn, name: &str) -> Result<Tz, AppError> {
    let tz = parse_zone("timezone", name)?;
    crate::db::write(conn, |conn| {
        settings::set(conn, settings::TIMEZONE, tz.name())?;
        crate::tasks::rederive_all(conn, tz)?;
        Ok(tz)
    })
}
