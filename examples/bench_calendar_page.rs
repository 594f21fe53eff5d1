//! Benchmark of the Calendar page (prints figures; never fails on a slow machine): with 5,000
//! events of which 500 are recurring series (daily, weekly, monthly, over years), p50/p99 of
//! `GET /calendar?view=month` (target p99 < 15 ms), and of the week and agenda views, with the
//! tasks overlay on, and the server's RSS before and after.
//!
//! Run: `cargo run --release --example bench_calendar_page [-- --events N --requests N --dense]`
//! (`--dense`: every series runs for years, about 6,400 occurrences in one month's grid.)
//!
//! The server runs in a child process (this same binary, re-executed as `steward serve`) over
//! real loopback HTTP, so the figures include routing, the session check, the one database trip,
//! expansion and rendering.
// A benchmark measures the machine's real clock.
#![allow(clippy::disallowed_methods)]

mod measure;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{Datelike, Duration as Span, Utc};
use steward::auth::{self, sessions};
use steward::calendar::service::{self, EventInput};
use steward::db::Db;
use steward::services::{Actor, Ctx};

const CHILD: &str = "STEWARD_BENCH_CHILD";

fn main() -> anyhow::Result<()> {
    if std::env::var_os(CHILD).is_some() {
        std::process::exit(match steward::cli::main() {
            std::process::ExitCode::SUCCESS => 0,
            _ => 1,
        });
    }
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: usize| -> usize {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let events = arg("--events", 5_000);
    let requests = arg("--requests", 1_000);

    let dir = tempfile::tempdir()?;
    let db_path = dir.path().join("bench.db");
    // First start on an empty database: migrations run.
    let (mut child, _) = start(&db_path)?;
    stop(&mut child);
    let t = Instant::now();
    let dense = args.iter().any(|a| a == "--dense");
    let session = seed(&db_path, events, dense)?;
    let seeded = t.elapsed();

    println!(
        "Steward calendar page benchmark: {events} events ({} recurring), {requests} requests per view",
        events / 10
    );
    println!(
        "machine: {} cores; seeding took {:.1} s",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        seeded.as_secs_f64()
    );
    // The expansion alone (the calendar service), in this process, for the month grid's range.
    {
        let db = Db::open(&db_path)?;
        let mut conn = db.conn()?;
        let now = Utc::now();
        let ctx = Ctx { now, tz: chrono_tz::UTC, actor: Actor::Person };
        let first = now.date_naive().with_day(1).unwrap_or(now.date_naive());
        let from = (first - Span::days(7)).and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        let to = from + Span::days(42);
        let mut times = Vec::new();
        let mut n = 0;
        for _ in 0..50 {
            let t = Instant::now();
            let (occ, _) =
                service::occurrences(&mut conn, &ctx, from, to, None).map_err(|e| anyhow::anyhow!("{e}"))?;
            times.push(t.elapsed());
            n = occ.len();
        }
        times.sort();
        println!(
            "service::occurrences for the 6-week grid ({n} occurrences): p50 {:.2} ms, p99 {:.2} ms",
            measure::ms(measure::nearest_rank(&times, 50.0).unwrap_or_default()),
            measure::ms(measure::nearest_rank(&times, 99.0).unwrap_or_default()),
        );
    }
    let (mut child, port) = start(&db_path)?;
    std::thread::sleep(Duration::from_secs(1));
    let rss_before = measure::status_kib(Some(child.id()), "VmRSS:");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().build()?;
    let cookie = format!("steward_session={session}");
    println!();
    println!("{:<44} {:>8} {:>8} {:>8} {:>9}", "view", "p50 ms", "p99 ms", "max ms", "bytes");
    for (name, path) in [
        ("GET /calendar?view=month", "/calendar?view=month"),
        ("GET /calendar?view=week", "/calendar?view=week"),
        ("GET /calendar?view=agenda (30 days)", "/calendar?view=agenda"),
        ("GET /calendar?view=month (htmx body)", "/calendar?view=month"),
    ] {
        let htmx = name.contains("htmx");
        let url = format!("{base}{path}");
        let (mut times, bytes) = runtime.block_on(async {
            let mut times = Vec::with_capacity(requests);
            let mut bytes = 0;
            for i in 0..requests + 50 {
                let t = Instant::now();
                let mut req = client.get(&url).header("Cookie", &cookie);
                if htmx {
                    req = req.header("HX-Request", "true").header("HX-Target", "cal-body");
                }
                let res = req.send().await?;
                anyhow::ensure!(res.status().is_success(), "{url} answered {}", res.status());
                let body = res.bytes().await?;
                if i >= 50 {
                    times.push(t.elapsed());
                    bytes = body.len();
                }
            }
            anyhow::Ok((times, bytes))
        })?;
        times.sort();
        println!(
            "{:<44} {:>8.2} {:>8.2} {:>8.2} {:>9}",
            name,
            measure::ms(measure::nearest_rank(&times, 50.0).unwrap_or_default()),
            measure::ms(measure::nearest_rank(&times, 99.0).unwrap_or_default()),
            measure::ms(*times.last().unwrap_or(&Duration::ZERO)),
            bytes
        );
    }
    println!("(target: month p99 < 15 ms)");
    println!();
    println!(
        "RSS: {:.1} MB after start-up, {:.1} MB after the requests",
        rss_before as f64 / 1024.0,
        measure::status_kib(Some(child.id()), "VmRSS:") as f64 / 1024.0
    );
    stop(&mut child);
    Ok(())
}

/// 5,000 events over three years around today: 90% single events (timed, a few all-day), 10%
/// series (daily, weekly on two days, monthly) starting up to two years back, some counted,
/// some with an end; a few due tasks for the overlay; a password and a session.
fn seed(db_path: &Path, count: usize, dense: bool) -> anyhow::Result<String> {
    let db = Db::open(db_path)?;
    let mut conn = db.conn()?;
    let now = Utc::now();
    let today = now.date_naive();
    let ctx = Ctx { now, tz: chrono_tz::UTC, actor: Actor::API };
    let err = |e: steward::error::AppError| anyhow::anyhow!("{e}");
    for i in 0..count {
        let input = if i % 10 == 0 {
            let start = today - Span::days(((i * 7) % 700) as i64);
            let rrule = match ((i / 10) % 3, dense) {
                // --dense: every series runs for years, so ~6,400 occurrences fall in one month's grid.
                (0, true) => "FREQ=DAILY;COUNT=400".to_string(),
                (1, true) => "FREQ=WEEKLY;BYDAY=MO,TH".to_string(),
                // A person's series: daily ones are short (a course, a trip), weekly ones last a
                // season to two years, monthly ones run on.
                (0, false) => format!("FREQ=DAILY;COUNT={}", 5 + i % 56),
                (1, false) => format!(
                    "FREQ=WEEKLY;BYDAY=MO,TH;UNTIL={}",
                    (start + Span::days(90 + ((i * 13) % 640) as i64)).format("%Y%m%d")
                ),
                _ => format!("FREQ=MONTHLY;UNTIL={}", (today + Span::days(900)).format("%Y%m%d")),
            };
            EventInput {
                title: Some(format!("Series {i}")),
                start: Some(format!("{start}T{:02}:30", 7 + i % 10)),
                end: Some(format!("{start}T{:02}:00", 8 + i % 10)),
                rrule: Some(Some(rrule)),
                location: Some(Some(format!("Room {}", i % 17))),
                ..Default::default()
            }
        } else {
            // Spread over 3 years: about 4.5 events a day.
            let day = today - Span::days(540) + Span::days(((i * 37) % 1095) as i64);
            if i % 23 == 0 {
                EventInput {
                    title: Some(format!("Holiday {i}")),
                    start: Some(day.to_string()),
                    end: Some((day + Span::days(1 + (i % 3) as i64)).to_string()),
                    all_day: Some(true),
                    ..Default::default()
                }
            } else {
                let hour = 8 + (i % 11);
                EventInput {
                    title: Some(format!("Meeting number {i} about the {} plan", day.month())),
                    start: Some(format!("{day}T{hour:02}:00")),
                    end: Some(format!("{day}T{hour:02}:45")),
                    ..Default::default()
                }
            }
        };
        service::create(&mut conn, &ctx, &input).map_err(err)?;
    }
    for i in 0..40 {
        let line = format!("Due thing {i} due:{}", today + Span::days(i % 30));
        steward::tasks::service::add_text(&mut conn, &ctx, &line).map_err(err)?;
    }
    auth::set_password(&mut conn, "benchmark passphrase", "benchmark passphrase", None).map_err(err)?;
    let life = sessions::Lifetimes { idle: Span::days(1), absolute: Span::days(1) };
    let (session, _) = sessions::create(&mut conn, &sessions::Client::default(), now, life)?;
    Ok(session)
}

/// Starts the server and waits for `/healthz`; returns the child and its port.
fn start(db_path: &Path) -> anyhow::Result<(Child, u16)> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut child = Command::new(std::env::current_exe()?)
        .env(CHILD, "1")
        .env("STEWARD_TIMEZONE", "UTC")
        .env("STEWARD_LOG", "warn")
        .args(["--db", &db_path.to_string_lossy(), "serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if healthy(port) {
            return Ok((child, port));
        }
        if Instant::now() > deadline {
            stop(&mut child);
            anyhow::bail!("the server did not become healthy in 20 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A raw HTTP/1.1 health probe.
fn healthy(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = String::new();
    s.read_to_string(&mut buf).is_ok() && buf.starts_with("HTTP/1.1 200") && buf.contains("\"ok\"")
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
}
