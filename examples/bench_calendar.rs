//! Benchmark of the calendar (prints figures; never fails on a slow machine):
//! - importing a 10,000-event ICS file into an empty calendar (target < 1 s);
//! - with 5,000 events of which 500 are recurring series (daily, weekly, monthly over years)
//!   and 40 due tasks for the overlay: `occurrences` for a year in-process and
//!   `GET /api/v1/occurrences` for a year over HTTP (target p99 < 30 ms), the expansion alone
//!   for a month grid's six weeks, the pages `GET /calendar?view=month` (target p99 < 15 ms),
//!   `week` and `agenda` (and the month's htmx body), and the server's RSS with that data.
//!
//! The server runs in a child process (this same binary, re-executed as `steward serve`) over
//! real loopback HTTP, so the figures include routing, the session check, the database trip,
//! expansion and rendering.
//!
//! Run: `cargo run --release --example bench_calendar [-- --requests N]`
// A benchmark measures the machine's real clock.
#![allow(clippy::disallowed_methods)]

mod child;
mod measure;

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{Datelike, Duration as Span, NaiveDate, Utc};
use steward::calendar::{ics, service};
use steward::db::Db;
use steward::services::{Actor, Ctx};

const ZONES: [&str; 5] = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Lord_Howe", "UTC"];

fn main() -> anyhow::Result<()> {
    child::serve_if_child();
    let requests = measure::flag("--requests", 300usize);
    let now = Utc::now();
    let ctx = Ctx { now, tz: chrono_tz::Europe::Berlin, actor: Actor::Person };
    let year = now.year();
    println!("Steward calendar benchmark, loopback HTTP, {requests} requests per endpoint");
    println!("machine: {} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    println!("load average at the start: {}", loadavg());
    println!();

    // 1. Importing a 10,000-event file.
    let dir = tempfile::tempdir()?;
    let big = file(10_000, 1_000, year);
    let db = Db::open(&dir.path().join("import.db"))?;
    let mut conn = db.conn()?;
    let t = Instant::now();
    let report = ics::import(&mut conn, &ctx, 1, &big).map_err(|e| anyhow::anyhow!("{e}"))?;
    let took = t.elapsed();
    println!(
        "import of a 10,000-event file ({} KB, 1,000 recurring): {:>8.1} ms  ({})  (target < 1000 ms)",
        big.len() / 1024,
        measure::ms(took),
        report.summary()
    );
    let t = Instant::now();
    let again = ics::import(&mut conn, &ctx, 1, &big).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "re-import of the same file (nothing changes):             {:>8.1} ms  ({} unchanged)",
        measure::ms(t.elapsed()),
        again.unchanged
    );
    drop(conn);

    // 2. The 5,000-event calendar.
    let db_path = dir.path().join("bench.db");
    let rss_empty = {
        let (mut child, _, _) = child::start(&db_path, "Europe/Berlin")?;
        std::thread::sleep(Duration::from_millis(500));
        let rss = measure::status_kib(Some(child.id()), "VmRSS:");
        child::stop(&mut child);
        rss
    };
    let (session, api_token) = seed(&db_path, &ctx, year)?;
    let db = Db::open(&db_path)?;
    let mut conn = db.conn()?;
    let from = chrono::TimeZone::with_ymd_and_hms(&Utc, year, 1, 1, 0, 0, 0).single().unwrap_or(now);
    let to = from + Span::days(365);
    let mut times = Vec::new();
    let mut count = 0;
    for i in 0..requests + 20 {
        let t = Instant::now();
        let (occ, _) =
            service::occurrences(&mut conn, &ctx, from, to, None).map_err(|e| anyhow::anyhow!("{e}"))?;
        if i >= 20 {
            times.push(t.elapsed());
        }
        count = occ.len();
    }
    times.sort();
    println!();
    println!("5,000 events, 500 of them series (daily, weekly, monthly over years):");
    println!(
        "occurrences() for a year, in-process:  p50 {:>6.2} ms  p99 {:>6.2} ms  ({count} occurrences; target p99 < 30 ms)",
        measure::ms(measure::nearest_rank(&times, 50.0).unwrap_or_default()),
        measure::ms(measure::nearest_rank(&times, 99.0).unwrap_or_default()),
    );
    // The expansion alone for the month grid's range (six weeks around June).
    let grid_from = chrono::TimeZone::with_ymd_and_hms(&Utc, year, 5, 25, 0, 0, 0).single().unwrap_or(now);
    let mut times = Vec::new();
    for i in 0..requests + 20 {
        let t = Instant::now();
        let (occ, _) = service::occurrences(&mut conn, &ctx, grid_from, grid_from + Span::days(42), None)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if i >= 20 {
            times.push(t.elapsed());
        }
        count = occ.len();
    }
    times.sort();
    println!(
        "occurrences() for a month grid (6 weeks): p50 {:>6.2} ms  p99 {:>6.2} ms  ({count} occurrences)",
        measure::ms(measure::nearest_rank(&times, 50.0).unwrap_or_default()),
        measure::ms(measure::nearest_rank(&times, 99.0).unwrap_or_default()),
    );
    drop(conn);

    let (mut child, _, port) = child::start(&db_path, "Europe/Berlin")?;
    std::thread::sleep(Duration::from_millis(500));
    let rss_loaded = measure::status_kib(Some(child.id()), "VmRSS:");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let client = reqwest::Client::builder().build()?;
    let base = format!("http://127.0.0.1:{port}");
    let endpoints = [
        (
            "GET /api/v1/occurrences (a year)",
            format!("{base}/api/v1/occurrences?from={}-01-01&to={}-01-01", year, year + 1),
            ("Authorization", format!("Bearer {api_token}")),
            "target p99 < 30 ms",
        ),
        (
            "GET /calendar?view=month",
            format!("{base}/calendar?view=month&date={year}-06-15"),
            ("Cookie", format!("steward_session={session}")),
            "target p99 < 15 ms",
        ),
        (
            "GET /calendar?view=week",
            format!("{base}/calendar?view=week&date={year}-06-15"),
            ("Cookie", format!("steward_session={session}")),
            "",
        ),
        (
            "GET /calendar?view=agenda",
            format!("{base}/calendar?view=agenda&date={year}-06-15"),
            ("Cookie", format!("steward_session={session}")),
            "30 days",
        ),
        (
            "GET /calendar?view=month (htmx)",
            format!("{base}/calendar?view=month&date={year}-06-15"),
            ("Cookie", format!("steward_session={session}")),
            "the body swapped by htmx",
        ),
    ];
    println!();
    println!("{:<38} {:>8} {:>8} {:>8} {:>9}", "endpoint", "p50 ms", "p99 ms", "max ms", "bytes");
    for (name, url, header, target) in &endpoints {
        let htmx = name.contains("htmx");
        match runtime.block_on(measure_get(&client, url, header, htmx, requests))? {
            Some((mut times, bytes)) => {
                times.sort();
                println!(
                    "{:<38} {:>8.2} {:>8.2} {:>8.2} {:>9}  ({target})",
                    name,
                    measure::ms(measure::nearest_rank(&times, 50.0).unwrap_or_default()),
                    measure::ms(measure::nearest_rank(&times, 99.0).unwrap_or_default()),
                    measure::ms(*times.last().unwrap_or(&Duration::ZERO)),
                    bytes
                );
            }
            None => {
                println!("{name:<38} (no such page yet: the /calendar page comes with the calpage branch)")
            }
        }
    }
    let rss_after = measure::status_kib(Some(child.id()), "VmRSS:");
    println!();
    println!(
        "server RSS: {:.1} MB empty, {:.1} MB with the 5,000 events after start-up, {:.1} MB after the requests",
        rss_empty as f64 / 1024.0,
        rss_loaded as f64 / 1024.0,
        rss_after as f64 / 1024.0
    );
    println!("load average at the end: {}", loadavg());
    child::stop(&mut child);
    Ok(())
}

/// The machine's load (1, 5 and 15 minutes): the figures are noisy on a loaded machine.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// `None` when the page answers 404 (not built yet).
async fn measure_get(
    client: &reqwest::Client,
    url: &str,
    header: &(&str, String),
    htmx: bool,
    n: usize,
) -> anyhow::Result<Option<(Vec<Duration>, usize)>> {
    let mut times = Vec::with_capacity(n);
    let mut bytes = 0;
    for i in 0..n + 20 {
        let t = Instant::now();
        let mut req = client.get(url).header(header.0, &header.1);
        if htmx {
            req = req.header("HX-Request", "true").header("HX-Target", "cal-body");
        }
        let res = req.send().await?;
        if res.status() == 404 {
            return Ok(None);
        }
        anyhow::ensure!(res.status().is_success(), "{url} answered {}", res.status());
        let body = res.bytes().await?;
        if i >= 20 {
            times.push(t.elapsed());
            bytes = body.len();
        }
    }
    Ok(Some((times, bytes)))
}

/// An ICS file of `count` events, `recurring` of them series, around `year`.
fn file(count: usize, recurring: usize, year: i32) -> String {
    let mut out = String::with_capacity(count * 300);
    out.push_str("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n");
    let jan1 = NaiveDate::from_ymd_opt(year - 1, 1, 1).unwrap_or_default();
    for i in 0..count {
        let zone = ZONES[i % ZONES.len()];
        let _ = write!(out, "BEGIN:VEVENT\r\nUID:bench-{i}@example.com\r\nDTSTAMP:20260101T000000Z\r\n");
        if i < recurring {
            // Series starting up to three years back.
            let start = NaiveDate::from_ymd_opt(year - 3, 1 + (i % 12) as u32, 1 + (i % 28) as u32)
                .unwrap_or_default();
            let hour = 7 + i % 12;
            let rule = match i % 6 {
                0 => "FREQ=DAILY".to_string(),
                1 => "FREQ=WEEKLY;BYDAY=MO,WE,FR".to_string(),
                2 => "FREQ=WEEKLY;INTERVAL=2".to_string(),
                3 => "FREQ=MONTHLY;BYDAY=-1FR".to_string(),
                4 => format!("FREQ=DAILY;UNTIL={}1231T000000Z", year + 1),
                _ => "FREQ=MONTHLY;BYMONTHDAY=15;COUNT=60".to_string(),
            };
            let _ = write!(
                out,
                "DTSTART;TZID={zone}:{}T{hour:02}0000\r\nDURATION:PT45M\r\nRRULE:{rule}\r\nSUMMARY:Series {i}\r\n",
                start.format("%Y%m%d")
            );
        } else if i % 10 == 0 {
            let day = jan1 + Span::days((i % 730) as i64);
            let _ = write!(out, "DTSTART;VALUE=DATE:{}\r\nSUMMARY:Day {i}\r\n", day.format("%Y%m%d"));
        } else {
            let day = jan1 + Span::days((i % 730) as i64);
            let hour = 8 + i % 10;
            let _ = write!(
                out,
                "DTSTART;TZID={zone}:{}T{hour:02}3000\r\nDTEND;TZID={zone}:{}T{:02}0000\r\nSUMMARY:Event {i}\r\nLOCATION:Room {}\r\n",
                day.format("%Y%m%d"),
                day.format("%Y%m%d"),
                hour + 1,
                i % 20
            );
        }
        out.push_str("END:VEVENT\r\n");
    }
    out.push_str("END:VCALENDAR\r\n");
    out
}

/// 5,000 events (500 series), a password, a session and an API token.
fn seed(db_path: &Path, ctx: &Ctx, year: i32) -> anyhow::Result<(String, String)> {
    let db = Db::open(db_path)?;
    let mut conn = db.conn()?;
    ics::import(&mut conn, ctx, 1, &file(5_000, 500, year)).map_err(|e| anyhow::anyhow!("{e}"))?;
    // Due tasks for the page's overlay.
    for i in 0..40 {
        let line = format!("Due thing {i} due:{year}-06-{:02}", 1 + i % 30);
        steward::tasks::service::add_text(&mut conn, ctx, &line).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    child::credentials(&mut conn, ctx.now)
}
