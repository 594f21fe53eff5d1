//! The person's reminder settings (Settings › Reminders), kept as one JSON value in the
//! settings table.

use chrono::{DateTime, NaiveTime, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::{Lead, parse_leads};
use crate::db::{Conn, settings};
use crate::error::AppError;

const KEY: &str = "reminders";

/// Defaults for tasks without their own `remind:`, the waiting-for follow-up and quiet hours.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Lead times of tasks due at a time of day (default: at the due time).
    pub timed: Vec<Lead>,
    /// Lead times of tasks due on a date (default: on the day, at `dated_at`).
    pub dated: Vec<Lead>,
    /// The time of day date-only tasks are reminded at (09:00).
    pub dated_at: NaiveTime,
    /// Tasks in `@waiting` untouched this many days are gathered into the weekly follow-up;
    /// 0 turns it off.
    pub waiting_days: i64,
    /// When the follow-up comes: a cron expression in the person's zone (Mondays 09:00).
    pub waiting_cron: String,
    /// Quiet hours (start, end) in the person's zone: reminders to channels wait for the end.
    pub quiet: Option<(NaiveTime, NaiveTime)>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            timed: vec![Lead::ZERO],
            dated: vec![Lead::ZERO],
            dated_at: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
            waiting_days: 7,
            waiting_cron: "0 9 * * MON".into(),
            quiet: None,
        }
    }
}

/// The stored and the typed form: lists of lead texts, times as `HH:MM`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timed: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dated: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dated_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_cron: Option<String>,
    /// `22:00-07:00`, or empty for none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quiet: Option<String>,
}

impl Settings {
    pub fn input(&self) -> SettingsInput {
        let texts = |l: &[Lead]| l.iter().map(Lead::to_string).collect::<Vec<_>>();
        SettingsInput {
            timed: Some(texts(&self.timed)),
            dated: Some(texts(&self.dated)),
            dated_at: Some(self.dated_at.format("%H:%M").to_string()),
            waiting_days: Some(self.waiting_days),
            waiting_cron: Some(self.waiting_cron.clone()),
            quiet: Some(
                self.quiet
                    .map(|(a, b)| format!("{}-{}", a.format("%H:%M"), b.format("%H:%M")))
                    .unwrap_or_default(),
            ),
        }
    }

    /// `input` applied over `self`, every field checked.
    pub fn with(&self, input: &SettingsInput) -> Result<Settings, AppError> {
        let mut s = self.clone();
        if let Some(t) = &input.timed {
            s.timed = parse_leads(t)?;
        }
        if let Some(d) = &input.dated {
            s.dated = parse_leads(d)?;
        }
        if let Some(at) = &input.dated_at {
            s.dated_at = parse_time("dated_at", at)?;
        }
        if let Some(days) = input.waiting_days {
            if !(0..=365).contains(&days) {
                return Err(AppError::invalid(
                    "waiting_days",
                    format!("{days} is not a number of days from 0 (off) to 365"),
                ));
            }
            s.waiting_days = days;
        }
        if let Some(cron) = &input.waiting_cron {
            let cron = cron.trim();
            crate::schedules::spec::CronExpr::parse(cron).map_err(|e| match e {
                AppError::Invalid { message, .. } => AppError::invalid("waiting_cron", message),
                e => e,
            })?;
            s.waiting_cron = cron.to_string();
        }
        if let Some(q) = &input.quiet {
            s.quiet = parse_quiet(q)?;
        }
        Ok(s)
    }

    /// Whether `now` falls in quiet hours, and if so when they end.
    pub fn quiet_until(&self, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let (from, to) = self.quiet?;
        let local = now.with_timezone(&tz);
        let t = local.time().with_nanosecond(0)?;
        let inside = if from <= to { t >= from && t < to } else { t >= from || t < to };
        if !inside {
            return None;
        }
        let mut day = local.date_naive();
        if t >= to {
            day = day.succ_opt()?;
        }
        Some(crate::dates::resolve_local(tz, day.and_time(to)).with_timezone(&Utc))
    }
}

fn parse_time(field: &str, text: &str) -> Result<NaiveTime, AppError> {
    NaiveTime::parse_from_str(text.trim(), "%H:%M")
        .map_err(|_| AppError::invalid(field, format!("{text:?} is not a time of day like 09:00")))
}

fn parse_quiet(text: &str) -> Result<Option<(NaiveTime, NaiveTime)>, AppError> {
    let t = text.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let (a, b) = t.split_once('-').ok_or_else(|| {
        AppError::invalid("quiet", format!("{text:?} is not a span of hours like 22:00-07:00 (empty: none)"))
    })?;
    let (a, b) = (parse_time("quiet", a)?, parse_time("quiet", b)?);
    if a == b {
        return Err(AppError::invalid("quiet", format!("{text:?} starts and ends at the same time")));
    }
    Ok(Some((a, b)))
}

/// The stored settings (defaults where none were saved or a saved value no longer reads).
pub fn load(conn: &mut Conn) -> Result<Settings, AppError> {
    let stored = settings::get(conn, KEY)?;
    let input: SettingsInput = stored.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
    Ok(Settings::default().with(&input).unwrap_or_default())
}

/// Checks and saves a change; task reminders and the follow-up are brought in step.
pub fn save(
    conn: &mut Conn,
    input: &SettingsInput,
    now: DateTime<Utc>,
    tz: Tz,
) -> Result<Settings, AppError> {
    crate::db::write(conn, |conn| {
        let s = load(conn)?.with(input)?;
        let json = serde_json::to_string(&s.input()).map_err(|e| AppError::Internal(e.into()))?;
        settings::set(conn, KEY, &json)?;
        super::sync_all_tasks(conn, now, tz)?;
        super::events::sync_all(conn, now, tz)?;
        super::waiting::ensure(conn, &s, now, tz)?;
        Ok(s)
    })
}
