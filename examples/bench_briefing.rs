//! Benchmark of the briefings' fact blocks (prints figures; never fails on a slow machine): with
//! 10,000 tasks (overdue, today, upcoming, no date, done; projects, contexts, `@waiting`),
//! 5,000 events of which 500 are recurring series, 1,000 schedules and 100 failed runs in the
//! last day, the time to assemble each briefing's fact block in-process (`briefings::preview`:
//! the same function a run calls at fire time). Target: the morning block under 5 ms.
//!
//! Run: `cargo run --release --example bench_briefing [-- --requests N]`
// A benchmark measures the machine's real clock.
#![allow(clippy::disallowed_methods)]

mod measure;

use std::fmt::Write as _;
use std::time::Instant;

use chrono::{Datelike, Duration as Span, NaiveDate, Utc};
use diesel::prelude::*;
use steward::clock::to_ms;
use steward::db::Db;
use steward::db::schema::{runs, schedules};
use steward::schedules::Guards;
use steward::services::{Actor, Ctx};

fn main() -> anyhow::Result<()> {
    let requests = measure::flag("--requests", 300usize);
    let now = Utc::now();
    let ctx = Ctx { now, tz: chrono_tz::Europe::Berlin, actor: Actor::Person };
    println!("Steward briefing benchmark, {requests} assemblies per briefing");
    println!("machine: {} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let dir = tempfile::tempdir()?;
    let db = Db::open(&dir.path().join("bench.db"))?;
    let mut conn = db.conn()?;
    let t = Instant::now();
    seed(&mut conn, &ctx)?;
    println!(
        "seeded 10,000 tasks, 5,000 events (500 series), 1,000 schedules in {:.0} ms",
        measure::ms(t.elapsed())
    );
    println!();
    for name in steward::briefings::NAMES {
        let mut times = Vec::with_capacity(requests);
        let mut bytes = 0;
        for i in 0..requests + 20 {
            let t = Instant::now();
            let facts =
                steward::briefings::preview(&mut conn, &ctx, name).map_err(|e| anyhow::anyhow!("{e}"))?;
            if i >= 20 {
                times.push(t.elapsed());
                bytes = facts.len();
            }
        }
        times.sort();
        println!(
            "{name:<8} fact block: p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms  ({bytes} bytes){}",
            measure::ms(measure::nearest_rank(&times, 50.0).unwrap_or_default()),
            measure::ms(measure::nearest_rank(&times, 99.0).unwrap_or_default()),
            measure::ms(*times.last().unwrap_or(&std::time::Duration::ZERO)),
            if name == "morning" { "  (target < 5 ms)" } else { "" }
        );
    }
    println!();
    println!("the morning's sections, one by one (p50):");
    for key in ["events_today", "overdue", "due_today", "priority", "waiting", "failures"] {
        let mut times = Vec::with_capacity(requests);
        for _ in 0..requests {
            let t = Instant::now();
            steward::briefings::facts::section(&mut conn, &ctx, key).map_err(|e| anyhow::anyhow!("{e}"))?;
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "  {key:<14} {:>6.2} ms",
            measure::ms(measure::nearest_rank(&times, 50.0).unwrap_or_default())
        );
    }
    println!();
    println!(
        "{}",
        steward::briefings::preview(&mut conn, &ctx, "morning").map_err(|e| anyhow::anyhow!("{e}"))?
    );
    Ok(())
}

fn seed(conn: &mut steward::db::Conn, ctx: &Ctx) -> anyhow::Result<()> {
    let today = ctx.today();
    let mut file = String::new();
    for i in 0..10_000usize {
        let due = match i % 5 {
            0 => String::new(),
            1 => format!(" due:{}", today - Span::days((i % 40) as i64 + 1)),
            2 => format!(" due:{today}"),
            _ => format!(" due:{}", today + Span::days((i % 300) as i64 + 1)),
        };
        let done = if i % 7 == 0 { format!("x {today} ") } else { String::new() };
        let prio = match i % 13 {
            0 if done.is_empty() => "(A) ",
            1 | 2 if done.is_empty() => "(B) ",
            _ => "",
        };
        let waiting = if i % 50 == 0 { " @waiting" } else { "" };
        let _ = writeln!(
            file,
            "{done}{prio}{today} Benchmark task number {i} +p{} @c{}{waiting}{due}",
            i % 25,
            i % 6
        );
    }
    steward::tasks::service::import_todotxt(conn, ctx, file.as_bytes())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    steward::calendar::ics::import(conn, ctx, 1, &events(5_000, 500, today.year()))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Guards { max_active: 200_000, min_interval_secs: 1, pause_after_failures: 3 }.save(conn)?;
    let now_ms = to_ms(ctx.now);
    let rows: Vec<_> = (0..1_000)
        .map(|i| {
            (
                schedules::name.eq(format!("bench {i}")),
                schedules::prompt.eq(format!("Bench prompt {i}")),
                schedules::agent.eq("notify"),
                schedules::kind.eq("cron"),
                schedules::spec.eq(format!("{} {} * * *", i % 60, (i / 60) % 24)),
                schedules::tz.eq("Europe/Berlin"),
                schedules::anchor_at.eq(now_ms),
                schedules::next_fire_at.eq(Some(now_ms + 3_600_000)),
                schedules::created_by.eq("person"),
                schedules::created_at.eq(now_ms),
                schedules::updated_at.eq(now_ms),
            )
        })
        .collect();
    steward::db::write(conn, |conn| {
        for chunk in rows.chunks(500) {
            diesel::insert_into(schedules::table).values(chunk).execute(conn)?;
        }
        Ok(())
    })?;
    // 100 failed runs in the last day.
    for id in 1..=100 {
        let s = steward::schedules::get(conn, id)?;
        let at = ctx.now - Span::minutes(i64::from(id) * 7);
        if let Some(run) =
            steward::runs::insert(conn, &steward::runs::NewRun::for_schedule(&s, at, "schedule"), at)?
        {
            diesel::update(runs::table.find(run.id))
                .set((runs::state.eq("failed"), runs::finished_at.eq(to_ms(at)), runs::error.eq("HTTP 500")))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// An ICS file of `count` events, `recurring` of them series, around `year` (as bench_calendar's).
fn events(count: usize, recurring: usize, year: i32) -> String {
    let mut out = String::with_capacity(count * 300);
    out.push_str("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n");
    let jan1 = NaiveDate::from_ymd_opt(year - 1, 1, 1).unwrap_or_default();
    for i in 0..count {
        let _ = write!(out, "BEGIN:VEVENT\r\nUID:bench-{i}@example.com\r\nDTSTAMP:20260101T000000Z\r\n");
        if i < recurring {
            let start = NaiveDate::from_ymd_opt(year - 3, 1 + (i % 12) as u32, 1 + (i % 28) as u32)
                .unwrap_or_default();
            let rule = match i % 4 {
                0 => "FREQ=DAILY",
                1 => "FREQ=WEEKLY;BYDAY=MO,WE,FR",
                2 => "FREQ=WEEKLY;INTERVAL=2",
                _ => "FREQ=MONTHLY;BYDAY=-1FR",
            };
            let _ = write!(
                out,
                "DTSTART;TZID=Europe/Berlin:{}T{:02}0000\r\nDURATION:PT45M\r\nRRULE:{rule}\r\nSUMMARY:Series {i}\r\n",
                start.format("%Y%m%d"),
                7 + i % 12
            );
        } else {
            let day = jan1 + Span::days((i % 730) as i64);
            let hour = 8 + i % 10;
            let _ = write!(
                out,
                "DTSTART;TZID=Europe/Berlin:{}T{hour:02}3000\r\nDTEND;TZID=Europe/Berlin:{}T{:02}0000\r\nSUMMARY:Event {i}\r\n",
                day.format("%Y%m%d"),
                day.format("%Y%m%d"),
                hour + 1,
            );
        }
        out.push_str("END:VEVENT\r\n");
    }
    out.push_str("END:VCALENDAR\r\n");
    out
}
