//! Person-level settings that live in the database (and so can be changed from the Settings page).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::config::parse_zone;
use crate::db::{Conn, settings};
use crate::error::AppError;

/// Changes the person's zone, and re-derives what depends on it (task due dates, reminders).
pub fn set_person_zone(conn: &mut Conn, name: &str, now: DateTime<Utc>) -> Result<Tz, AppError> {
    let tz = parse_zone("timezone", name)?;
    crate::db::write(conn, |conn| {
        settings::set(conn, settings::TIMEZONE, tz.name())?;
        crate::tasks::rederive_all(conn, tz)?;
        crate::reminders::sync_all_tasks(conn, now, tz)?;
        crate::reminders::events::sync_all(conn, now, tz)?;
        let reminders = crate::reminders::settings::load(conn)?;
        crate::reminders::waiting::ensure(conn, &reminders, now, tz)?;
        Ok(tz)
    })
}
