//! Benchmark of the Today page (prints figures; never fails on a slow machine): with 10,000
//! tasks (overdue, due today, upcoming, waiting, done, across projects and contexts), 5,000
//! events of which 500 are recurring series, and 1,000 scheduled prompts, p50/p99 of `GET /`
//! (target p99 < 15 ms), of one live section (`GET /?section=tasks`) and of
//! `GET /api/v1/today`, plus `today::build` in-process.
//!
//! The server runs in a child process (this same binary, re-executed as `steward serve`) over
//! real loopback HTTP, so the figures include routing, the session check, the database trips,
//! the calendar's expansion and rendering.
//!
//! Run: `cargo run --release --example bench_today [-- --requests N]`
// A benchmark measures the machine's real clock.
#![allow(clippy::disallowed_methods)]

mod child;
mod measure;

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{Duration as Span, NaiveDate, Utc};
use steward::db::Db;
use steward::services::{Actor, Ctx};

const ZONE: &str = "Europe/Berlin";

fn main() -> anyhow::Result<()> {
    child::serve_if_child();
    let requests = measure::flag("--requests", 500usize);
    let dir = tempfile::tempdir()?;
    let db_path = dir.path().join("bench.db");
    // First start on an empty database: migrations run.
    let (mut child, _, _) = child::start(&db_path, ZONE)?;
    child::stop(&mut child);

    let now = Utc::now();
    let ctx = Ctx { now, tz: chrono_tz::Europe::Berlin, actor: Actor::Person };
    let t = Instant::now();
    let (session, api_token) = seed(&db_path, &ctx)?;
    println!("Steward Today benchmark: 10,000 tasks, 5,000 events (500 recurring), 1,000 schedules");
    println!("seeded in {:.1} s; {requests} requests per endpoint, loopback HTTP", t.elapsed().as_secs_f64());
    println!("machine: {} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    println!();

    // In-process: the service alone.
    {
        let db = Db::open(&db_path)?;
        let mut conn = db.conn()?;
        let mut times = Vec::new();
        for _ in 0..50 {
            let t = Instant::now();
            let today = steward::today::build(&mut conn, &ctx, None, steward::today::Parts::ALL)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            times.push(t.elapsed());
            std::hint::black_box(today);
        }
        times.sort();
        println!(
            "today::build in-process (median of 50):          {:>8.2} ms",
            measure::ms(measure::nearest_rank(&times, 50.0).unwrap_or_default())
        );
        for name in ["agenda", "tasks", "schedules", "notifications", "stats"] {
            let parts = steward::today::Parts::only(name).unwrap_or(steward::today::Parts::NONE);
            let mut times = Vec::new();
            for _ in 0..20 {
                let t = Instant::now();
                let today = steward::today::build(&mut conn, &ctx, None, parts)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                times.push(t.elapsed());
                std::hint::black_box(today);
            }
            times.sort();
            println!(
                "  of which {name:<14} (median of 20):          {:>8.2} ms",
                measure::ms(measure::nearest_rank(&times, 50.0).unwrap_or_default())
            );
        }
    }

    if std::env::args().any(|a| a == "--in-process") {
        return Ok(());
    }
    let (mut child, _, port) = child::start(&db_path, ZONE)?;
    std::thread::sleep(Duration::from_secs(1));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().build()?;
    let cookie = ("Cookie", format!("steward_session={session}"));
    let bearer = ("Authorization", format!("Bearer {api_token}"));
    let endpoints = [
        ("GET / (Today page)", format!("{base}/"), cookie.clone()),
        ("GET /?section=tasks (live refresh)", format!("{base}/?section=tasks"), cookie.clone()),
        ("GET /api/v1/today", format!("{base}/api/v1/today"), bearer),
    ];
    println!();
    println!("{:<40} {:>8} {:>8} {:>8} {:>9}", "endpoint", "p50 ms", "p99 ms", "max ms", "bytes");
    for (name, url, header) in &endpoints {
        let (mut times, bytes) = runtime.block_on(measure::get_times(&client, url, header, requests))?;
        times.sort();
        println!(
            "{:<40} {:>8.2} {:>8.2} {:>8.2} {:>9}",
            name,
            measure::ms(measure::nearest_rank(&times, 50.0).unwrap_or_default()),
            measure::ms(measure::nearest_rank(&times, 99.0).unwrap_or_default()),
            measure::ms(*times.last().unwrap_or(&Duration::ZERO)),
            bytes
        );
    }
    println!("(target: GET / p99 < 15 ms)");
    println!(
        "server RSS after the requests: {:.1} MB",
        measure::status_kib(Some(child.id()), "VmRSS:") as f64 / 1024.0
    );
    child::stop(&mut child);
    Ok(())
}

/// 5,000 events around today (500 series), 10,000 tasks, 1,000 schedules, credentials.
fn seed(db_path: &Path, ctx: &Ctx) -> anyhow::Result<(String, String)> {
    let db = Db::open(db_path)?;
    let mut conn = db.conn()?;
    let today = ctx.today();
    steward::calendar::ics::import(&mut conn, ctx, 1, &events(5_000, 500, today))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut file = String::new();
    for i in 0..10_000usize {
        let due = match i % 6 {
            0 => String::new(),
            1 => format!(" due:{}", today - Span::days((i % 40) as i64 + 1)),
            2 => format!(" due:{today}"),
            3 => format!(" due:{}T{:02}:00", today, 8 + i % 14),
            _ => format!(" due:{}", today + Span::days((i % 300) as i64 + 1)),
        };
        let done = if i % 7 == 0 { format!("x {today} ") } else { String::new() };
        let prio = match (done.is_empty(), i % 8) {
            (true, 0) => "(A) ",
            (true, 1) => "(B) ",
            (true, 2) => "(C) ",
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
    steward::tasks::service::import_todotxt(&mut conn, ctx, file.as_bytes())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let guards = steward::schedules::Guards { max_active: 5_000, ..Default::default() };
    guards.save(&mut conn).map_err(|e| anyhow::anyhow!("{e}"))?;
    let config = steward::config::Config::default();
    for i in 0..1_000usize {
        let input = steward::schedules::ScheduleInput {
            name: Some(format!("Schedule {i}")),
            prompt: Some(format!("Prompt number {i}")),
            agent: Some("notify".into()),
            cron: Some(format!("{} {} * * *", i % 60, (i / 60) % 24)),
            tz: Some(ZONE.into()),
            ..Default::default()
        };
        steward::schedules::service::create(&mut conn, ctx, &config, &input)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    child::credentials(&mut conn, ctx.now)
}

/// An ICS file of `count` events, `recurring` of them series, spread over two years around
/// `today` (so that today has its share of each kind).
fn events(count: usize, recurring: usize, today: NaiveDate) -> String {
    let mut out = String::with_capacity(count * 300);
    out.push_str("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n");
    let first = today - Span::days(365);
    for i in 0..count {
        let _ = write!(out, "BEGIN:VEVENT\r\nUID:bench-{i}@example.com\r\nDTSTAMP:20260101T000000Z\r\n");
        if i < recurring {
            let start = first + Span::days((i % 300) as i64);
            let rule = match i % 4 {
                0 => "FREQ=DAILY",
                1 => "FREQ=WEEKLY;BYDAY=MO,WE,FR",
                2 => "FREQ=WEEKLY;INTERVAL=2",
                _ => "FREQ=MONTHLY;BYDAY=-1FR",
            };
            let _ = write!(
                out,
                "DTSTART;TZID={ZONE}:{}T{:02}0000\r\nDURATION:PT45M\r\nRRULE:{rule}\r\nSUMMARY:Series {i}\r\n",
                start.format("%Y%m%d"),
                7 + i % 12
            );
        } else {
            let day = first + Span::days((i % 730) as i64);
            let hour = 8 + i % 10;
            let _ = write!(
                out,
                "DTSTART;TZID={ZONE}:{d}T{hour:02}3000\r\nDTEND;TZID={ZONE}:{d}T{:02}0000\r\nSUMMARY:Event {i}\r\nLOCATION:Room {}\r\n",
                hour + 1,
                i % 20,
                d = day.format("%Y%m%d"),
            );
        }
        out.push_str("END:VEVENT\r\n");
    }
    out.push_str("END:VCALENDAR\r\n");
    out
}
