//! Benchmark of the Foundation targets (prints figures; never fails on a slow machine):
//! with 10,000 tasks, p50/p99 of `GET /tasks` and `GET /api/v1/tasks?limit=50`, start-up time
//! to a healthy `/healthz`, and the server's idle RSS.
//!
//! Run: `cargo run --release --example bench_tasks [-- --tasks N --requests N]`
//!
//! The server runs in a child process (this same binary, re-executed as `steward serve`), so
//! its RSS and start-up are measured on their own, over real loopback HTTP.
// A benchmark measures the machine's real clock.
#![allow(clippy::disallowed_methods)]

mod child;
mod measure;

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{Duration as Days, Utc};
use steward::db::Db;
use steward::services::{Actor, Ctx};
use steward::tasks::service;

fn main() -> anyhow::Result<()> {
    child::serve_if_child();
    let arg = measure::flag::<usize>;
    let task_count = arg("--tasks", 10_000);
    let requests = arg("--requests", 2_000);

    let dir = tempfile::tempdir()?;
    let db_path = dir.path().join("bench.db");

    // First start on an empty database: migrations run.
    let (mut child, first_start, _) = child::start(&db_path, "UTC")?;
    child::stop(&mut child);

    let (session_token, api_token) = seed(&db_path, task_count)?;
    println!("Steward tasks benchmark: {task_count} tasks, {requests} requests per endpoint, loopback HTTP");
    println!("machine: {} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    println!();
    println!(
        "start-up to healthy /healthz (empty database, migrations): {:>7.1} ms",
        measure::ms(first_start)
    );

    let mut starts = Vec::new();
    for _ in 0..5 {
        let (mut c, took, _) = child::start(&db_path, "UTC")?;
        starts.push(took);
        child::stop(&mut c);
    }
    starts.sort();
    println!(
        "start-up to healthy /healthz ({task_count} tasks, median of 5):   {:>7.1} ms  (target < 300 ms)",
        measure::ms(starts[2])
    );

    let (mut child, _, port) = child::start(&db_path, "UTC")?;
    std::thread::sleep(Duration::from_secs(2));
    let idle_rss = measure::status_kib(Some(child.id()), "VmRSS:");
    println!(
        "idle RSS after start-up:                                  {:>7.1} MB  (target < 20 MB)",
        idle_rss as f64 / 1024.0
    );

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().build()?;
    let page = Endpoint {
        name: "GET /tasks (page)",
        url: format!("{base}/tasks"),
        header: ("Cookie", format!("steward_session={session_token}")),
    };
    let api = Endpoint {
        name: "GET /api/v1/tasks?limit=50",
        url: format!("{base}/api/v1/tasks?limit=50"),
        header: ("Authorization", format!("Bearer {api_token}")),
    };
    let filtered = Endpoint {
        name: "GET /tasks?project=p3&q=task (filtered)",
        url: format!("{base}/tasks?project=p3&q=task"),
        header: ("Cookie", format!("steward_session={session_token}")),
    };
    println!();
    println!("{:<42} {:>8} {:>8} {:>8} {:>9}", "endpoint", "p50 ms", "p99 ms", "max ms", "bytes");
    for endpoint in [&page, &api, &filtered] {
        let (mut times, bytes) = runtime.block_on(endpoint.measure(&client, requests))?;
        times.sort();
        println!(
            "{:<42} {:>8.2} {:>8.2} {:>8.2} {:>9}",
            endpoint.name,
            measure::ms(measure::nearest_rank(&times, 50.0).unwrap_or_default()),
            measure::ms(measure::nearest_rank(&times, 99.0).unwrap_or_default()),
            measure::ms(*times.last().unwrap_or(&Duration::ZERO)),
            bytes
        );
    }
    println!("(target: p99 < 10 ms)");
    println!();
    println!(
        "RSS after the requests:                                   {:>7.1} MB",
        measure::status_kib(Some(child.id()), "VmRSS:") as f64 / 1024.0
    );
    child::stop(&mut child);
    Ok(())
}

struct Endpoint {
    name: &'static str,
    url: String,
    header: (&'static str, String),
}

impl Endpoint {
    async fn measure(&self, client: &reqwest::Client, n: usize) -> anyhow::Result<(Vec<Duration>, usize)> {
        let mut times = Vec::with_capacity(n);
        let mut bytes = 0;
        for i in 0..n + 50 {
            let t = Instant::now();
            let res = client.get(&self.url).header(self.header.0, &self.header.1).send().await?;
            anyhow::ensure!(res.status().is_success(), "{} answered {}", self.url, res.status());
            let body = res.bytes().await?;
            if i >= 50 {
                times.push(t.elapsed());
                bytes = body.len();
            }
        }
        Ok((times, bytes))
    }
}

/// Fills the database: tasks spread over overdue, today, upcoming, no date and done, with
/// projects and contexts; a password, a session and an API token.
fn seed(db_path: &Path, count: usize) -> anyhow::Result<(String, String)> {
    let db = Db::open(db_path)?;
    let mut conn = db.conn()?;
    let now = Utc::now();
    let today = now.date_naive();
    let mut file = String::new();
    for i in 0..count {
        let due = match i % 5 {
            0 => String::new(),
            1 => format!(" due:{}", today - Days::days((i % 40) as i64 + 1)),
            2 => format!(" due:{today}"),
            _ => format!(" due:{}", today + Days::days((i % 300) as i64 + 1)),
        };
        let done = if i % 7 == 0 { format!("x {today} ") } else { String::new() };
        let prio = if done.is_empty() && i % 4 == 0 { "(B) " } else { "" };
        file.push_str(&format!(
            "{done}{prio}{today} Benchmark task number {i} +p{} @c{}{due} id:{i}\n",
            i % 10,
            i % 6
        ));
    }
    let ctx = Ctx { now, tz: chrono_tz::UTC, actor: Actor::Person };
    service::import_todotxt(&mut conn, &ctx, file.as_bytes()).map_err(|e| anyhow::anyhow!("{e}"))?;
    child::credentials(&mut conn, now)
}
