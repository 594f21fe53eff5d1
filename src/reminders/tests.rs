use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::*;
use crate::services::{Actor, Ctx};
use crate::tasks::service;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn ctx(now: &str, tz: &str) -> Ctx {
    Ctx { now: at(now), tz: tz.parse().unwrap(), actor: Actor::Person }
}

fn db() -> (tempfile::TempDir, crate::db::PooledConn) {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::db::Db::open(&dir.path().join("t.db")).unwrap();
    let conn = db.conn().unwrap();
    (dir, conn)
}

#[test]
fn lead_times_read_and_print() {
    for (text, shown, described) in [
        ("0m", "0m", "at the time"),
        ("0", "0m", "at the time"),
        ("10m", "10m", "10 minutes before"),
        ("90m", "1h30m", "1 hour 30 minutes before"),
        ("1h", "1h", "1 hour before"),
        ("24h", "1d", "1 day before"),
        ("1d", "1d", "1 day before"),
        ("3d", "3d", "3 days before"),
        ("2w", "2w", "2 weeks before"),
        ("1d2h", "1d2h", "1 day 2 hours before"),
        (" 1W ", "1w", "1 week before"),
    ] {
        let lead = Lead::parse(text).unwrap();
        assert_eq!(lead.to_string(), shown, "{text}");
        assert_eq!(lead.describe(), described, "{text}");
        assert_eq!(Lead::parse(shown).unwrap(), lead, "{shown} reads back");
    }
    for bad in ["", "m", "10", "10x", "1.5h", "-1h", "53w", "9999999m", "1d 2h"] {
        let e = Lead::parse(bad).unwrap_err().to_string();
        assert!(e.starts_with("reminders: "), "{bad}: {e}");
    }
    assert_eq!(leads_text(&parse_leads(&["10m", "1d", "10m", "0m"]).unwrap()), "1d,10m,0m");
    assert_eq!(leads_text(&[]), "none");
}

#[test]
fn subjects_round_trip() {
    for s in [
        Subject::Task(12),
        Subject::Event { id: 5, at: None },
        Subject::Event { id: 5, at: Some(1_767_225_600_000) },
        Subject::Waiting,
    ] {
        assert_eq!(Subject::parse(&s.key()), Some(s));
    }
    for bad in ["", "task:", "task:x", "event:1@", "event:@5", "note:1"] {
        assert_eq!(Subject::parse(bad), None, "{bad}");
    }
}

/// The instant `lead` before an anchor, across DST changes: whole days keep the wall time.
#[test]
fn whole_days_keep_the_wall_time_across_dst() {
    let berlin: Tz = "Europe/Berlin".parse().unwrap();
    let ny: Tz = "America/New_York".parse().unwrap();
    for (anchor, lead, tz, want) in [
        // Berlin moves to summer time on 2026-03-29: 1 day before 17:00 on the 30th is 17:00
        // on the 29th (23 hours earlier), not 16:00.
        ("2026-03-30T15:00:00Z", "1d", berlin, "2026-03-29T15:00:00Z"),
        ("2026-03-30T15:00:00Z", "24h", berlin, "2026-03-29T15:00:00Z"),
        ("2026-03-30T15:00:00Z", "10m", berlin, "2026-03-30T14:50:00Z"),
        ("2026-03-30T15:00:00Z", "1d1h", berlin, "2026-03-29T14:00:00Z"),
        // New York falls back on 2026-11-01: a week before 09:00 on the 5th is 09:00 EDT.
        ("2026-11-05T14:00:00Z", "1w", ny, "2026-10-29T13:00:00Z"),
        // Before a due time in the repeated hour: absolute, so 01:30 EST minus 0 is itself.
        ("2026-11-01T06:30:00Z", "0m", ny, "2026-11-01T06:30:00Z"),
        ("2026-11-01T06:30:00Z", "30m", ny, "2026-11-01T06:00:00Z"),
    ] {
        let got = Lead::parse(lead).unwrap().before(at(anchor), tz);
        assert_eq!(got, at(want), "{lead} before {anchor} in {tz}");
    }
}

#[test]
fn quiet_hours_hold_until_their_end_in_the_persons_zone() {
    let s = Settings::default()
        .with(&settings::SettingsInput { quiet: Some("22:00-07:00".into()), ..Default::default() })
        .unwrap();
    let lisbon: Tz = "Europe/Lisbon".parse().unwrap();
    for (now, want) in [
        ("2026-12-02T21:59:59Z", None),
        ("2026-12-02T22:00:00Z", Some("2026-12-03T07:00:00Z")),
        ("2026-12-03T03:00:00Z", Some("2026-12-03T07:00:00Z")),
        ("2026-12-03T06:59:00Z", Some("2026-12-03T07:00:00Z")),
        ("2026-12-03T07:00:00Z", None),
        // Summer time: 22:00 local is 21:00 UTC; the night ends at 07:00 local = 06:00 UTC.
        ("2026-07-01T21:30:00Z", Some("2026-07-02T06:00:00Z")),
        // The night the clocks go forward (2027-03-28, 01:00 UTC): 07:00 WEST is 06:00 UTC.
        ("2027-03-27T23:00:00Z", Some("2027-03-28T06:00:00Z")),
    ] {
        assert_eq!(s.quiet_until(at(now), lisbon), want.map(at), "{now}");
    }
    let day = Settings::default()
        .with(&settings::SettingsInput { quiet: Some("12:00-13:30".into()), ..Default::default() })
        .unwrap();
    assert_eq!(day.quiet_until(at("2026-12-02T12:10:00Z"), lisbon), Some(at("2026-12-02T13:30:00Z")));
    assert_eq!(day.quiet_until(at("2026-12-02T13:30:00Z"), lisbon), None);
    for bad in ["22:00", "25:00-07:00", "22:00-22:00", "late"] {
        let input = settings::SettingsInput { quiet: Some(bad.into()), ..Default::default() };
        let e = Settings::default().with(&input).unwrap_err().to_string();
        assert!(e.starts_with("quiet: "), "{bad}: {e}");
    }
    assert_eq!(
        Settings::default()
            .with(&settings::SettingsInput { waiting_cron: Some("61 9 * * 1".into()), ..Default::default() })
            .unwrap_err()
            .field(),
        Some("waiting_cron")
    );
}

/// The reminder schedule of a task, as (spec, next firing).
fn armed(conn: &mut Conn, task: i32) -> Option<(String, Option<DateTime<Utc>>)> {
    schedules::table
        .filter(schedules::source.eq(Subject::Task(task).key()))
        .filter(schedules::kind.eq(KIND))
        .select((schedules::spec, schedules::next_fire_at))
        .first::<(String, Option<i64>)>(conn)
        .optional()
        .unwrap()
        .map(|(spec, next)| (spec, next.map(crate::clock::from_ms)))
}

#[test]
fn a_task_reminder_follows_its_due_date_and_ends_with_the_task() {
    let (_dir, mut conn) = db();
    let c = ctx("2026-12-02T08:00:00Z", "Europe/Madrid");
    // Timed: at the due time by default.
    let t = service::add_text(&mut conn, &c, "Call Ana today 17:00").unwrap();
    assert_eq!(armed(&mut conn, t.id), Some(("default".into(), Some(at("2026-12-02T16:00:00Z")))));
    // Its own lead times: the soonest one still ahead.
    let patch =
        service::TaskPatch { reminders: Some(Some(vec!["1d".into(), "1h".into()])), ..Default::default() };
    let t = service::update(&mut conn, &c, t.id, &patch).unwrap();
    assert!(t.body.contains("remind:1d,1h"), "{}", t.body);
    assert_eq!(armed(&mut conn, t.id), Some(("1d,1h".into(), Some(at("2026-12-02T15:00:00Z")))));
    // Moving the due date moves the reminder.
    let patch = service::TaskPatch { due: Some(Some("2026-12-05 09:30".into())), ..Default::default() };
    service::update(&mut conn, &c, t.id, &patch).unwrap();
    assert_eq!(armed(&mut conn, t.id).unwrap().1, Some(at("2026-12-04T08:30:00Z")));
    // `[]`: none at all.
    let patch = service::TaskPatch { reminders: Some(Some(vec![])), ..Default::default() };
    let t = service::update(&mut conn, &c, t.id, &patch).unwrap();
    assert!(t.body.contains("remind:none"));
    assert_eq!(armed(&mut conn, t.id), Some(("none".into(), None)));
    // `null`: the defaults again.
    let patch = service::TaskPatch { reminders: Some(None), ..Default::default() };
    let t = service::update(&mut conn, &c, t.id, &patch).unwrap();
    assert!(!t.body.contains("remind:"));
    assert_eq!(armed(&mut conn, t.id).unwrap().1, Some(at("2026-12-05T08:30:00Z")));
    // Completing it ends it; reopening arms it again; deleting ends it.
    service::set_done(&mut conn, &c, t.id, true).unwrap();
    assert_eq!(armed(&mut conn, t.id).unwrap().1, None);
    service::set_done(&mut conn, &c, t.id, false).unwrap();
    assert_eq!(armed(&mut conn, t.id).unwrap().1, Some(at("2026-12-05T08:30:00Z")));
    service::delete(&mut conn, &c, t.id).unwrap();
    assert_eq!(armed(&mut conn, t.id).unwrap().1, None);
    service::restore(&mut conn, &c, t.id).unwrap();
    assert_eq!(armed(&mut conn, t.id).unwrap().1, Some(at("2026-12-05T08:30:00Z")));
    // A date-only task: 09:00 on the day (Madrid), and `1d` is 09:00 the day before.
    let d = service::add_text(&mut conn, &c, "Taxes dec 24 remind 1d,0m").unwrap();
    assert_eq!(armed(&mut conn, d.id).unwrap().1, Some(at("2026-12-23T08:00:00Z")));
    // A task without a due date has none; one due in the past has nothing ahead.
    let n = service::add_text(&mut conn, &c, "Someday").unwrap();
    assert_eq!(armed(&mut conn, n.id), None);
    let p = service::add_text(&mut conn, &c, "Late yesterday").unwrap();
    assert_eq!(armed(&mut conn, p.id), None);
    // Reminders are not the person's scheduled prompts.
    assert!(crate::schedules::service::list(&mut conn, None, true).unwrap().is_empty());
}

#[test]
fn the_reminder_says_when_and_nothing_once_done() {
    let (_dir, mut conn) = db();
    let c = ctx("2026-12-02T08:00:00Z", "Europe/Madrid");
    let t = service::add_text(&mut conn, &c, "(A) Call Ana today 17:00 remind 10m").unwrap();
    let s: Schedule = schedules::table
        .filter(schedules::source.eq(Subject::Task(t.id).key()))
        .select(Schedule::as_select())
        .first(&mut conn)
        .unwrap();
    let fire = at("2026-12-02T15:50:00Z");
    let n = compose(&mut conn, &s, fire, fire).unwrap().unwrap();
    assert_eq!(n.title, "Call Ana");
    assert_eq!(n.body, "Due today at 17:00 (in 10 min)");
    assert_eq!(n.subject.as_deref(), Some(format!("task:{}", t.id).as_str()));
    assert!(n.urgent, "priority A is urgent");
    assert_eq!(next_after(&mut conn, &s, fire).unwrap(), None);
    service::set_done(&mut conn, &c, t.id, true).unwrap();
    assert!(compose(&mut conn, &s, fire, fire).unwrap().is_none());
}

#[test]
fn snoozes_and_the_waiting_follow_up() {
    let (_dir, mut conn) = db();
    let c = ctx("2026-12-02T08:00:00Z", "Europe/Madrid");
    let s = Settings::default();
    let tz = c.tz;
    assert_eq!(snooze_until("10m", c.now, tz, &s).unwrap(), at("2026-12-02T08:10:00Z"));
    assert_eq!(snooze_until("1h", c.now, tz, &s).unwrap(), at("2026-12-02T09:00:00Z"));
    assert_eq!(snooze_until("tomorrow", c.now, tz, &s).unwrap(), at("2026-12-03T08:00:00Z"));
    assert_eq!(snooze_until("later", c.now, tz, &s).unwrap_err().field(), Some("snooze"));
    let t = service::add_text(&mut conn, &c, "Call Ana today 17:00").unwrap();
    let id = snooze(&mut conn, Subject::Task(t.id), at("2026-12-02T08:10:00Z"), c.now, tz).unwrap();
    let snoozed = crate::schedules::get(&mut conn, id).unwrap();
    assert_eq!(snoozed.kind, "once");
    assert_eq!(snoozed.next_fire(), Some(at("2026-12-02T08:10:00Z")));
    assert!(snooze(&mut conn, Subject::Task(t.id), c.now, c.now, tz).is_err());
    service::set_done(&mut conn, &c, t.id, true).unwrap();
    assert!(crate::schedules::get(&mut conn, id).is_err(), "a snooze ends with its task");

    // Waiting: untouched for 7 days or more, listed oldest first.
    let old = ctx("2026-11-20T08:00:00Z", "Europe/Madrid");
    service::add_text(&mut conn, &old, "Reply from the landlord @waiting").unwrap();
    service::add_text(&mut conn, &c, "Quote from the plumber @waiting").unwrap();
    let text = waiting::digest(&mut conn, &s, at("2026-12-07T08:00:00Z"), tz).unwrap().unwrap();
    assert_eq!(
        text,
        "1 task has been waiting on someone for 7 days or more:\n- Reply from the landlord (untouched 17 days)"
    );
    assert!(waiting::digest(&mut conn, &s, at("2026-11-21T08:00:00Z"), tz).unwrap().is_none());
    waiting::ensure(&mut conn, &s, c.now, tz).unwrap();
    let w: Schedule = schedules::table
        .filter(schedules::source.eq("waiting"))
        .select(Schedule::as_select())
        .first(&mut conn)
        .unwrap();
    // Mondays 09:00 Madrid.
    assert_eq!(w.next_fire(), Some(at("2026-12-07T08:00:00Z")));
    let off = s.with(&settings::SettingsInput { waiting_days: Some(0), ..Default::default() }).unwrap();
    waiting::ensure(&mut conn, &off, c.now, tz).unwrap();
    assert_eq!(crate::schedules::get(&mut conn, w.id).unwrap().next_fire(), None);
}
