//! Benchmark of a year of history (prints figures; never fails on a slow machine): 500,000
//! runs with short outputs (and an attempt each) over the past year across 50 schedules, 4% of
//! them failed with a notification each, then
//! - p50/p99 of `GET /api/v1/status` (target p50 < 2 ms), `/runs`, `/runs?state=failed`,
//!   `/api/v1/runs`, the Schedules page, one schedule's runs, the Today page;
//! - one full prune pass by the default retention (90 days, failed 365, the last 100 of each
//!   schedule): how long it took, its batches and the longest write lock one held, and the
//!   database's size before and after (the freed pages given back by `incremental_vacuum`);
//! - `/api/v1/status` again on the pruned database.
//!
//! The server runs in a child process (this same binary, re-executed as `steward serve`) over
//! real loopback HTTP; the prune runs in this process on the same database file.
//!
//! Run: `cargo run --release --example bench_history [-- --runs N --requests N]`
// A benchmark measures the machine's real clock.
#![allow(clippy::disallowed_methods)]

mod child;
mod measure;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use diesel::connection::SimpleConnection;
use steward::clock::{Clock, SystemClock};
use steward::db::{Conn, Db};
use steward::retention::{NextDue, Retention};
use steward::services::{Actor, Ctx};

const SCHEDULES: usize = 50;
const YEAR_MS: i64 = 365 * 86_400_000;

fn main() -> anyhow::Result<()> {
    child::serve_if_child();
    let (runs, requests) = (measure::flag("--runs", 500_000), measure::flag("--requests", 300));
    let dir = tempfile::tempdir()?;
    let db_path = dir.path().join("bench.db");

    let t = Instant::now();
    let (session, api_token, schedule) = seed(&db_path, runs)?;
    println!("Steward history benchmark: {runs} runs over a year across {SCHEDULES} schedules");
    println!("seeded in {:.1} s; {requests} requests per endpoint, loopback HTTP", t.elapsed().as_secs_f64());
    println!("machine: {} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    println!("database: {}", size(&db_path)?);
    println!();

    let cookie = ("Cookie", format!("steward_session={session}"));
    let bearer = ("Authorization", format!("Bearer {api_token}"));
    let endpoints = vec![
        ("GET /api/v1/status", "/api/v1/status".to_string(), bearer.clone()),
        ("GET /runs", "/runs".to_string(), cookie.clone()),
        ("GET /runs?state=failed", "/runs?state=failed".to_string(), cookie.clone()),
        ("GET /api/v1/runs", "/api/v1/runs".to_string(), bearer.clone()),
        (
            "GET /api/v1/runs?schedule=S&state=failed",
            format!("/api/v1/runs?schedule={schedule}&state=failed"),
            bearer.clone(),
        ),
        ("GET /schedules", "/schedules".to_string(), cookie.clone()),
        ("GET /schedules/S/runs", format!("/schedules/{schedule}/runs"), cookie.clone()),
        ("GET / (Today)", "/".to_string(), cookie.clone()),
    ];
    serve_and_measure(&db_path, &endpoints, requests)?;

    // One full prune pass, in this process, the server stopped (so the figures are the
    // prune's own; with the server running it also keeps clear of due firings).
    println!();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let report = runtime.block_on(async {
        let db = Db::open_for_server(&db_path)?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        steward::retention::prune(&db, &clock, &Retention::default(), &NextDue::default())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    })?;
    drop(runtime);
    println!("prune pass (runs 90 days, failed 365, last 100 per schedule; notifications 90/365 days):");
    println!(
        "  removed {} runs, {} attempts, {} notifications; gave back {} pages",
        report.runs, report.attempts, report.notifications, report.vacuumed_pages
    );
    println!(
        "  {:.2} s in {} write transactions; the longest held the write lock {:.2} ms",
        report.took.as_secs_f64(),
        report.batches,
        measure::ms(report.longest_batch)
    );
    println!("database after: {}", size(&db_path)?);
    println!();
    serve_and_measure(&db_path, &endpoints[..1], requests)?;
    Ok(())
}

fn serve_and_measure(
    db_path: &Path,
    endpoints: &[(&str, String, (&str, String))],
    requests: usize,
) -> anyhow::Result<()> {
    let (mut child, _, port) = child::start(db_path, "UTC")?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let client = reqwest::Client::builder().build()?;
    let base = format!("http://127.0.0.1:{port}");
    println!("{:<42} {:>8} {:>8} {:>8} {:>9}", "endpoint", "p50 ms", "p99 ms", "max ms", "bytes");
    for (name, path, header) in endpoints {
        let url = format!("{base}{path}");
        let (mut times, bytes) = runtime.block_on(measure::get_times(&client, &url, header, requests))?;
        times.sort();
        println!(
            "{:<42} {:>8.2} {:>8.2} {:>8.2} {:>9}",
            name,
            measure::ms(measure::nearest_rank(&times, 50.0).unwrap_or_default()),
            measure::ms(measure::nearest_rank(&times, 99.0).unwrap_or_default()),
            measure::ms(*times.last().unwrap_or(&Duration::ZERO)),
            bytes
        );
    }
    println!("(target: /api/v1/status p50 < 2 ms)");
    child::stop(&mut child);
    Ok(())
}

/// The file's size, and how much of it is free pages.
fn size(db_path: &Path) -> anyhow::Result<String> {
    let db = Db::open(db_path)?;
    let mut conn = db.conn()?;
    let page = steward::db::pragma(&mut conn, "page_size")? as f64 / 1e6;
    let (pages, free) =
        (steward::db::pragma(&mut conn, "page_count")?, steward::db::pragma(&mut conn, "freelist_count")?);
    Ok(format!("{:.1} MB ({:.1} MB of it free pages)", pages as f64 * page, free as f64 * page))
}

/// 50 hourly schedules (to a `notify` agent, next firing an hour away, so nothing fires while
/// measuring), `runs` runs over the past year spread evenly across them (4% failed, 1%
/// cancelled, an attempt each), a read notification per failure older than a week and an
/// unread one per newer failure, a retention that keeps everything (the server must not prune
/// before the measured pass), credentials. The bulk rows are written by one
/// `INSERT ... SELECT` over a counter in one transaction: seconds, not minutes.
fn seed(db_path: &Path, runs: usize) -> anyhow::Result<(String, String, i32)> {
    let db = Db::open(db_path)?;
    let mut conn = db.conn()?;
    let now = Utc::now();
    let ctx = Ctx { now, tz: chrono_tz::UTC, actor: Actor::Person };
    let config = steward::config::Config::default();
    let mut ids = Vec::new();
    for i in 0..SCHEDULES {
        let input = steward::schedules::ScheduleInput {
            name: Some(format!("History {i}")),
            prompt: Some(format!("Check the thing number {i}")),
            agent: Some("notify".into()),
            every: Some("1h".into()),
            tz: Some("UTC".into()),
            ..Default::default()
        };
        let s = steward::schedules::service::create(&mut conn, &ctx, &config, &input)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        ids.push(s.id);
    }
    let (first, last) = (ids[0], ids[ids.len() - 1]);
    anyhow::ensure!(last - first + 1 == SCHEDULES as i32, "schedule ids are not consecutive");
    bulk(&mut conn, runs, first, steward::clock::to_ms(now))?;
    // The server keeps everything (so it cannot prune before the pass measured here does).
    let forever = steward::retention::RetentionInput {
        runs_days: Some(0),
        failed_days: Some(0),
        notifications_days: Some(0),
        keep_per_schedule: None,
    };
    steward::retention::save(&mut conn, &config, &forever).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (session, token) = child::credentials(&mut conn, now)?;
    Ok((session, token, first + 7))
}

fn bulk(conn: &mut Conn, runs: usize, first_schedule: i32, now_ms: i64) -> anyhow::Result<()> {
    let per = runs.div_ceil(SCHEDULES) as i64;
    let step = YEAR_MS / per;
    let start = now_ms - YEAR_MS;
    conn.batch_execute(&format!(
        "BEGIN IMMEDIATE;
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last})
         INSERT INTO runs (schedule_id, idempotency_key, agent, prompt, priority, scheduled_for,
                           state, trigger, attempt, max_attempts, retry_base_secs, not_before,
                           started_at, finished_at, output, error, created_at)
         SELECT {first_schedule} + i % {SCHEDULES},
                's' || ({first_schedule} + i % {SCHEDULES}) || '-' || ({start} + (i / {SCHEDULES}) * {step}),
                'notify', 'Check the thing number ' || (i % {SCHEDULES}), 2,
                {start} + (i / {SCHEDULES}) * {step},
                CASE WHEN (i / {SCHEDULES} + i) % 25 = 3 THEN 'failed' WHEN (i / {SCHEDULES}) % 100 = 1 THEN 'cancelled' ELSE 'succeeded' END,
                'schedule', 1, 5, 30,
                {start} + (i / {SCHEDULES}) * {step},
                {start} + (i / {SCHEDULES}) * {step} + 2,
                {start} + (i / {SCHEDULES}) * {step} + 180,
                CASE WHEN (i / {SCHEDULES} + i) % 25 = 3 THEN NULL ELSE 'Checked: all ' || (i % 997) || ' items fine.' END,
                CASE WHEN (i / {SCHEDULES} + i) % 25 = 3 THEN 'the agent answered HTTP 502' END,
                {start} + (i / {SCHEDULES}) * {step}
         FROM n;
         INSERT INTO run_attempts (run_id, attempt, started_at, finished_at, error)
         SELECT id, 1, started_at, finished_at, error FROM runs WHERE started_at IS NOT NULL;
         INSERT INTO notifications (title, body, level, run_id, schedule_id, created_at, read_at)
         SELECT 'A run failed', 'the agent answered HTTP 502', 'error', id, schedule_id, finished_at,
                CASE WHEN finished_at < {week_ago} THEN finished_at + 3600000 END
         FROM runs WHERE state = 'failed';
         COMMIT;",
        last = runs.saturating_sub(1),
        week_ago = now_ms - 7 * 86_400_000,
    ))?;
    Ok(())
}
