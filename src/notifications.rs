//! In-app notifications: what `notify` runs say, failed runs, and schedules that paused
//! themselves. New ones are also broadcast as [`Event::Notification`] for live toasts.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::clock::{from_ms, to_ms};
use crate::db::Conn;
use crate::db::schema::notifications;
use crate::error::AppError;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = notifications)]
pub struct Notification {
    pub id: i32,
    pub title: String,
    pub body: String,
    pub level: String,
    pub run_id: Option<i32>,
    pub schedule_id: Option<i32>,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

impl Notification {
    pub fn created(&self) -> DateTime<Utc> {
        from_ms(self.created_at)
    }
}

/// What to tell the person.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub title: String,
    pub body: String,
    pub level: &'static str,
    pub run_id: Option<i32>,
    pub schedule_id: Option<i32>,
}

pub fn add(conn: &mut Conn, n: &NewNotification, now: DateTime<Utc>) -> Result<Notification, AppError> {
    Ok(diesel::insert_into(notifications::table)
        .values((
            notifications::title.eq(&n.title),
            notifications::body.eq(&n.body),
            notifications::level.eq(n.level),
            notifications::run_id.eq(n.run_id),
            notifications::schedule_id.eq(n.schedule_id),
            notifications::created_at.eq(to_ms(now)),
        ))
        .returning(Notification::as_returning())
        .get_result(conn)?)
}

/// The newest notifications first.
pub fn list(conn: &mut Conn, limit: i64) -> Result<Vec<Notification>, AppError> {
    Ok(notifications::table
        .order(notifications::id.desc())
        .limit(limit.clamp(1, 500))
        .select(Notification::as_select())
        .load(conn)?)
}

pub fn unread_count(conn: &mut Conn) -> Result<i64, AppError> {
    Ok(notifications::table.filter(notifications::read_at.is_null()).count().get_result(conn)?)
}

/// Marks every notification read.
pub fn mark_all_read(conn: &mut Conn, now: DateTime<Utc>) -> Result<usize, AppError> {
    Ok(diesel::update(notifications::table.filter(notifications::read_at.is_null()))
        .set(notifications::read_at.eq(to_ms(now)))
        .execute(conn)?)
}

/// Marks these notifications read (those already read keep their time): what a person has seen.
pub fn mark_read(conn: &mut Conn, ids: &[i32], now: DateTime<Utc>) -> Result<usize, AppError> {
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(diesel::update(
        notifications::table.filter(notifications::id.eq_any(ids)).filter(notifications::read_at.is_null()),
    )
    .set(notifications::read_at.eq(to_ms(now)))
    .execute(conn)?)
}
