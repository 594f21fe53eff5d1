//! Every time the password was typed, right or wrong: at login and at a re-authentication
//! ([`super::reauth`]). Listed on the Settings page and at `GET /api/v1/auth/logins`. Bounded:
//! each new entry removes those older than [`KEEP_DAYS`] and all but the newest [`KEEP_ROWS`],
//! so a stranger's flood of guesses cannot grow the database.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::devices::Device;
use super::sessions::{Client, device_label};
use crate::db::Conn;
use crate::db::schema::login_history;

pub const KEEP_ROWS: i64 = 1000;
pub const KEEP_DAYS: i64 = 90;

/// What came of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Logged in.
    Success,
    WrongPassword,
    /// The password was right and the second factor is on: its code is asked next.
    PasswordRight,
    /// A wrong (or used) code at the second step.
    WrongCode,
    /// Refused unchecked: the device (or every unknown device) was locked.
    Locked,
    /// The password typed again for a sensitive action.
    Reauth,
    ReauthFailed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::WrongPassword => "wrong_password",
            Outcome::PasswordRight => "password_right",
            Outcome::WrongCode => "wrong_code",
            Outcome::Locked => "locked",
            Outcome::Reauth => "reauth",
            Outcome::ReauthFailed => "reauth_failed",
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = login_history)]
pub struct Entry {
    pub id: i32,
    pub at: NaiveDateTime,
    pub ip: String,
    pub user_agent: String,
    pub device_id: Option<String>,
    pub outcome: String,
}

impl Entry {
    /// "Firefox on Android".
    pub fn device(&self) -> String {
        device_label(&self.user_agent)
    }

    pub fn known_device(&self) -> bool {
        self.device_id.is_some()
    }

    pub fn succeeded(&self) -> bool {
        matches!(self.outcome.as_str(), "success" | "reauth")
    }

    /// The outcome in words.
    pub fn outcome_text(&self) -> &'static str {
        match self.outcome.as_str() {
            "success" => "Signed in",
            "wrong_password" => "Wrong password",
            "password_right" => "Right password; the code was asked",
            "wrong_code" => "Wrong code",
            "locked" => "Refused: too many wrong passwords",
            "reauth" => "Confirmed the password",
            "reauth_failed" => "Wrong password when confirming",
            _ => "Unknown",
        }
    }

    /// What the API answers.
    pub fn view(&self) -> EntryView {
        EntryView {
            at: self.at.and_utc(),
            address: self.ip.clone(),
            device: self.device(),
            user_agent: self.user_agent.clone(),
            known_device: self.known_device(),
            outcome: self.outcome.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct EntryView {
    pub at: DateTime<Utc>,
    pub address: String,
    pub device: String,
    pub user_agent: String,
    pub known_device: bool,
    /// `success`, `wrong_password`, `locked`, `reauth`, `reauth_failed`.
    pub outcome: String,
}

/// Notes an attempt, and drops what is past the bounds.
pub fn record(
    conn: &mut Conn,
    client: &Client,
    device: &Device,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    let now = now.naive_utc();
    let user_agent: String = client.user_agent.chars().take(200).collect();
    diesel::insert_into(login_history::table)
        .values((
            login_history::at.eq(now),
            login_history::ip.eq(&client.ip),
            login_history::user_agent.eq(user_agent),
            login_history::device_id.eq(device.id()),
            login_history::outcome.eq(outcome.as_str()),
        ))
        .execute(conn)?;
    let oldest_kept: Option<i32> = login_history::table
        .select(login_history::id)
        .order(login_history::id.desc())
        .offset(KEEP_ROWS - 1)
        .first(conn)
        .optional()?;
    diesel::delete(
        login_history::table.filter(
            login_history::at
                .lt(now - Duration::days(KEEP_DAYS))
                .or(login_history::id.lt(oldest_kept.unwrap_or(i32::MIN))),
        ),
    )
    .execute(conn)?;
    Ok(())
}

/// The newest `limit` entries, newest first.
pub fn list(conn: &mut Conn, limit: i64) -> QueryResult<Vec<Entry>> {
    login_history::table.order(login_history::id.desc()).limit(limit).select(Entry::as_select()).load(conn)
}
