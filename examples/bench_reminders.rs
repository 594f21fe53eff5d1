//! Benchmark of the reminder targets (prints figures; never fails on a slow machine):
//!
//! - (a) burst: 1,000 tasks due at the same second, each reminded at its due time (`remind:0m`),
//!   delivered through the scheduler to an ntfy channel whose server is a stand-in on loopback;
//!   time from the due instant until all have arrived (target: all under 2 s).
//! - (b) lateness: 300 single reminders 20 ms apart (one-off reminders of tasks, the snooze path,
//!   since due times are whole seconds), each to ntfy; p50/p99/max of arrival − its instant
//!   (target p99 < 10 ms), and how many arrived early (target 0).
//!
//! Run: `cargo run --release --example bench_reminders [-- --burst N --lateness N]`
//!
//! Steward runs as `steward serve` in a child process (this binary re-executed) on a fresh
//! database; the ntfy stand-in is the benchmarks' HTTP/1.1 receiver (`examples/standin`) on a
//! thread of this process, which answers 200 at once and records when each message arrived.
// A benchmark measures the machine's real clock.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::time::Duration;

mod child;
mod measure;
mod standin;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use steward::db::Db;
use steward::reminders::{self, Subject};
use steward::services::{Actor, Ctx};

fn main() -> anyhow::Result<()> {
    child::serve_if_child();
    let (burst, lateness) = (measure::flag("--burst", 1000), measure::flag("--lateness", 300));
    let stand_in = standin::StandIn::start()?;
    let port = stand_in.port;
    println!("Steward reminder benchmark: `steward serve` in a child process, ntfy stand-in on loopback");
    println!("machine: {} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    println!();

    // (a) the burst.
    let dir = tempfile::tempdir()?;
    let db_path = dir.path().join("bench.db");
    let due = (Utc::now() + chrono::Duration::seconds(8)).with_timezone(&Utc);
    let due = DateTime::from_timestamp(due.timestamp(), 0).unwrap_or(due);
    let t = std::time::Instant::now();
    {
        let db = Db::open(&db_path)?;
        let mut conn = db.conn()?;
        channel(&mut conn, port)?;
        let ctx = Ctx { now: Utc::now(), tz: chrono_tz::UTC, actor: Actor::Person };
        let stamp = due.to_rfc3339_opts(SecondsFormat::Secs, false);
        for i in 0..burst {
            let text = format!("Burst {i} due:{stamp} remind:0m");
            steward::tasks::service::add_text(&mut conn, &ctx, &text).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    let seeded = t.elapsed();
    let (mut server, _, _) = child::start(&db_path, "UTC")?;
    wait_for(&stand_in, burst, due + chrono::Duration::seconds(30));
    child::stop(&mut server);
    let arrivals = titled(&stand_in);
    let late: Vec<f64> = arrivals
        .iter()
        .filter(|(title, _)| title.starts_with("Burst "))
        .map(|(_, us)| (us - due.timestamp_micros()) as f64 / 1000.0)
        .collect();
    let (first, last) =
        (late.iter().cloned().fold(f64::INFINITY, f64::min), late.iter().cloned().fold(0.0, f64::max));
    println!("(a) burst: {burst} tasks due at the same second, reminded at their due time, to ntfy");
    println!(
        "    seeded through tasks::service::add_text (each arms its reminder) in {:.0} ms",
        measure::ms(seeded)
    );
    println!(
        "    arrived {} of {burst}; first {first:.1} ms, last {last:.1} ms after the due instant; early: {}",
        late.len(),
        late.iter().filter(|l| **l < 0.0).count()
    );
    println!();
    let burst_arrived = late.len();

    // (b) single reminders, one at a time.
    let dir = tempfile::tempdir()?;
    let db_path = dir.path().join("bench.db");
    let start = Utc::now() + chrono::Duration::seconds(6);
    let mut instants = HashMap::new();
    {
        let db = Db::open(&db_path)?;
        let mut conn = db.conn()?;
        channel(&mut conn, port)?;
        let now = Utc::now();
        let ctx = Ctx { now, tz: chrono_tz::UTC, actor: Actor::Person };
        for i in 0..lateness {
            let task = steward::tasks::service::add_text(&mut conn, &ctx, &format!("Single {i}"))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let at = start + chrono::Duration::milliseconds(20 * i as i64);
            let at = DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at);
            reminders::snooze(&mut conn, Subject::Task(task.id), at, now, chrono_tz::UTC)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            instants.insert(format!("Single {i}"), at.timestamp_micros());
        }
    }
    let (mut server, _, _) = child::start(&db_path, "UTC")?;
    wait_for(&stand_in, lateness, start + chrono::Duration::seconds(30));
    child::stop(&mut server);
    let arrivals = titled(&stand_in);
    let mut late: Vec<f64> = arrivals
        .iter()
        .filter_map(|(title, us)| instants.get(title).map(|at| (us - at) as f64 / 1000.0))
        .collect();
    late.sort_by(f64::total_cmp);
    let pick = |p: f64| measure::nearest_rank(&late, p).unwrap_or(f64::NAN);
    println!("(b) lateness: {lateness} single reminders 20 ms apart, to ntfy");
    println!(
        "    arrived {} of {lateness}; arrival − instant: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; early: {}",
        late.len(),
        pick(50.0),
        pick(99.0),
        pick(100.0),
        late.iter().filter(|l| **l < 0.0).count()
    );
    println!();
    println!("{:<52} {:>22}  target", "figure", "measured");
    println!("{}", "-".repeat(92));
    let verdict = |met: bool, target: &str| format!("{target} ({})", if met { "met" } else { "MISSED" });
    println!(
        "{:<52} {:>22}  {}",
        format!("(a) {burst} due at once: due → all arrived"),
        format!("{last:.0} ms"),
        verdict(burst_arrived == burst && last < 2000.0, "< 2 s")
    );
    println!(
        "{:<52} {:>22}  {}",
        "(b) single reminder lateness p50 / p99 / max",
        format!("{:.2} / {:.2} / {:.2} ms", pick(50.0), pick(99.0), pick(100.0)),
        verdict(pick(99.0) < 10.0, "p99 < 10 ms")
    );
    Ok(())
}

/// An ntfy channel on the stand-in.
fn channel(conn: &mut steward::db::Conn, port: u16) -> anyhow::Result<()> {
    let input = steward::notify::ChannelInput {
        name: Some("phone".into()),
        kind: Some("ntfy".into()),
        url: Some(format!("http://127.0.0.1:{port}")),
        topic: Some("bench".into()),
        ..Default::default()
    };
    steward::notify::add(conn, Utc::now(), input).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

fn wait_for(stand_in: &standin::StandIn, n: usize, until: DateTime<Utc>) {
    while Utc::now() < until && stand_in.count() < n {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The ntfy messages that arrived, as (title, arrival µs).
fn titled(stand_in: &standin::StandIn) -> Vec<(String, i64)> {
    stand_in
        .take()
        .into_iter()
        .filter_map(|p| {
            let body: Value = serde_json::from_slice(&p.body).ok()?;
            Some((body["title"].as_str()?.to_string(), p.wall_us))
        })
        .collect()
}
