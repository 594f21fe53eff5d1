//! Benchmark of the scheduler targets (prints figures; never fails on a slow machine):
//!
//! - (a) lateness: one-time schedules due 50 ms apart, delivered to a webhook on loopback;
//!   p50/p99/max of arrival − scheduled_for (target p99 < 5 ms), and of the run rows'
//!   started_at − scheduled_for.
//! - (b) burst: 10,000 one-time schedules due at the same instant, a webhook agent with
//!   concurrency 16 (`--concurrency`, 1 to 64; the scheduler's pool of
//!   [`steward::scheduler::WORKERS`] caps it): time from the due instant until all have arrived
//!   (target < 2 s), and duplicate deliveries by idempotency key (target 0).
//! - (c) scale: 100,000 active cron schedules, none due: the CPU time and RSS of an idle
//!   window, then the time for one schedule made due to be claimed and delivered.
//!
//! Run: `cargo run --release --example bench_scheduler [-- --parts abc --lateness N --burst N
//! --concurrency N --scale N --idle-secs N]`
//!
//! Each part runs in a child process (this same binary, re-executed) on a fresh database in a
//! temporary directory, with a fresh `Application` on port 0 run the way `steward serve` runs
//! it (an actix System), so parts cannot disturb each other and the CPU time and RSS of (c)
//! belong to that part alone. The webhook receiver is a tiny HTTP/1.1 server on its own thread
//! inside the child: it answers 200 at once and records when each delivery arrived.
// A benchmark measures the machine's real clock.
#![allow(clippy::disallowed_methods)]

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod measure;
mod standin;

use anyhow::{Context, anyhow};
use chrono::{DateTime, SecondsFormat, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};
use steward::agents::{self, AgentConfigPatch, AgentInput};
use steward::app::Application;
use steward::clock::{from_ms, to_ms};
use steward::config::Config;
use steward::db::Db;
use steward::db::schema::{runs, schedules};
use steward::schedules::spec::Spec;
use steward::schedules::{Guards, ScheduleInput, service};
use steward::services::{Actor, Ctx};

/// Set in the child's environment: which part it runs.
const CHILD: &str = "STEWARD_BENCH_SCHEDULER_PART";
/// The webhook agent every schedule targets.
const AGENT: &str = "bench";
/// The clock ticks of `/proc/self/stat` (USER_HZ, 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

struct Options {
    parts: String,
    lateness: usize,
    burst: usize,
    concurrency: i32,
    scale: usize,
    idle_secs: u64,
}

impl Options {
    fn from_args() -> Options {
        let number = measure::flag::<usize>;
        Options {
            parts: measure::text_flag("--parts").unwrap_or_else(|| "abc".into()),
            lateness: number("--lateness", 300),
            burst: number("--burst", 10_000),
            concurrency: number("--concurrency", 16).clamp(1, 64) as i32,
            scale: number("--scale", 100_000),
            idle_secs: number("--idle-secs", 10) as u64,
        }
    }

    /// The same options, for the child's command line.
    fn to_args(&self) -> Vec<String> {
        [
            ("--lateness", self.lateness.to_string()),
            ("--burst", self.burst.to_string()),
            ("--concurrency", self.concurrency.to_string()),
            ("--scale", self.scale.to_string()),
            ("--idle-secs", self.idle_secs.to_string()),
        ]
        .into_iter()
        .flat_map(|(k, v)| [k.to_string(), v])
        .collect()
    }
}

fn main() -> anyhow::Result<()> {
    let opts = Options::from_args();
    if let Ok(part) = std::env::var(CHILD) {
        return child(&part, &opts);
    }
    println!("Steward scheduler benchmark, loopback webhook receiver in the same process as the app");
    println!("machine: {} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    println!();
    let mut rows: Vec<(String, String, String)> = Vec::new();
    if opts.parts.contains('a') {
        let dir = tempfile::tempdir()?;
        let r = run_child("a", &dir.path().join("bench.db"), &opts)?;
        println!("(a) lateness: {} one-time schedules due 50 ms apart", opts.lateness);
        println!("    created through schedules::service::create in {:.0} ms", f(&r, "setup_ms"));
        println!(
            "    delivered {} of {}; arrival − scheduled_for: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            r["arrived"],
            opts.lateness,
            f(&r, "arrival_p50"),
            f(&r, "arrival_p99"),
            f(&r, "arrival_max")
        );
        println!(
            "    run rows: created_at − scheduled_for p50 {} / p99 {} / max {} ms; \
             started_at − scheduled_for p50 {} / p99 {} / max {} ms",
            r["claim_p50"], r["claim_p99"], r["claim_max"], r["start_p50"], r["start_p99"], r["start_max"]
        );
        println!();
        rows.push((
            "(a) delivery lateness p50 / p99 / max".into(),
            format!(
                "{:.2} / {:.2} / {:.2} ms",
                f(&r, "arrival_p50"),
                f(&r, "arrival_p99"),
                f(&r, "arrival_max")
            ),
            verdict(f(&r, "arrival_p99") < 5.0, "p99 < 5 ms"),
        ));
        rows.push((
            "(a) run rows started_at lateness p50 / p99 / max".into(),
            format!("{} / {} / {} ms", r["start_p50"], r["start_p99"], r["start_max"]),
            String::new(),
        ));
    }
    if opts.parts.contains('b') {
        let dir = tempfile::tempdir()?;
        let r = run_child("b", &dir.path().join("bench.db"), &opts)?;
        println!(
            "(b) burst: {} one-time schedules due at one instant, webhook agent concurrency {} \
             (deliveries at once: {})",
            opts.burst,
            opts.concurrency,
            (opts.concurrency as usize).min(steward::scheduler::WORKERS)
        );
        println!("    created through schedules::service::create in {:.0} ms", f(&r, "setup_ms"));
        println!(
            "    arrived {} of {}; first {:.1} ms, last {:.1} ms after the due instant ({:.0} deliveries/s)",
            r["arrived"],
            opts.burst,
            f(&r, "first_ms"),
            f(&r, "last_ms"),
            f(&r, "per_sec")
        );
        println!(
            "    duplicates by idempotency key: {}; runs succeeded {}; all claimed {} ms after due",
            r["duplicates"], r["succeeded"], r["claimed_ms"]
        );
        println!();
        rows.push((
            format!("(b) burst of {} at concurrency {}: due → all arrived", opts.burst, opts.concurrency),
            format!("{:.0} ms", f(&r, "last_ms")),
            verdict(f(&r, "last_ms") < 2000.0 && r["arrived"] == json!(opts.burst), "< 2 s"),
        ));
        rows.push((
            "(b) duplicate deliveries".into(),
            r["duplicates"].to_string(),
            verdict(r["duplicates"] == json!(0), "0"),
        ));
    }
    if opts.parts.contains('c') {
        let dir = tempfile::tempdir()?;
        let db_path = dir.path().join("bench.db");
        let t = Instant::now();
        seed_scale(&db_path, opts.scale)?;
        let seeded = t.elapsed();
        let r = run_child("c", &db_path, &opts)?;
        println!("(c) scale: {} active cron schedules, none due", opts.scale);
        println!("    inserted directly with diesel (batches of 500) in {:.0} ms", measure::ms(seeded));
        println!(
            "    idle {} s: CPU {:.2} s ({:.2} % of one core); RSS {:.1} MB before, {:.1} MB after",
            opts.idle_secs,
            f(&r, "idle_cpu_s"),
            f(&r, "idle_cpu_pct"),
            f(&r, "rss_before_mb"),
            f(&r, "rss_after_mb")
        );
        println!(
            "    one schedule made due: run row created_at +{} ms, visible to a poller +{:.1} ms, \
             started_at +{} ms, delivered +{:.1} ms",
            r["claim_ms"],
            f(&r, "visible_ms"),
            r["start_ms"],
            f(&r, "delivered_ms")
        );
        println!("    (RSS is the whole child process: app, scheduler, receiver thread and its runtime)");
        println!();
        rows.push((
            format!("(c) {} schedules: idle CPU over {} s", opts.scale, opts.idle_secs),
            format!("{:.2} s ({:.2} %)", f(&r, "idle_cpu_s"), f(&r, "idle_cpu_pct")),
            String::new(),
        ));
        rows.push((
            "(c) RSS after the idle window (incl. receiver)".into(),
            format!("{:.1} MB", f(&r, "rss_after_mb")),
            String::new(),
        ));
        rows.push((
            "(c) one made due: claimed / delivered".into(),
            format!("{:.1} / {:.1} ms", f(&r, "visible_ms"), f(&r, "delivered_ms")),
            String::new(),
        ));
    }
    println!("{:<52} {:>26}  target", "figure", "measured");
    println!("{}", "-".repeat(96));
    for (name, value, target) in rows {
        println!("{name:<52} {value:>26}  {target}");
    }
    Ok(())
}

fn verdict(met: bool, target: &str) -> String {
    format!("{target} ({})", if met { "met" } else { "MISSED" })
}

fn f(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(f64::NAN)
}

/// Runs one part in a child process and reads its `RESULT {json}` line.
fn run_child(part: &str, db: &Path, opts: &Options) -> anyhow::Result<Value> {
    let out = Command::new(std::env::current_exe()?)
        .env(CHILD, part)
        .arg("--db")
        .arg(db)
        .args(opts.to_args())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or_else(|| anyhow!("part {part} gave no result ({}): {text}", out.status))?;
    Ok(serde_json::from_str(line)?)
}

fn child(part: &str, opts: &Options) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn,actix_server=warn"))
        .with_writer(std::io::stderr)
        .init();
    let db = measure::text_flag("--db").map(PathBuf::from).ok_or_else(|| anyhow!("the child needs --db"))?;
    let receiver = Receiver::start()?;
    let result = match part {
        "a" => lateness(&db, &receiver, opts.lateness)?,
        "b" => burst(&db, &receiver, opts.burst, opts.concurrency)?,
        "c" => scale(&db, &receiver, opts.idle_secs)?,
        other => anyhow::bail!("no part {other:?}"),
    };
    println!("RESULT {result}");
    std::io::stdout().flush()?;
    // The app, the scheduler and the receiver need no orderly stop: the database is thrown away.
    std::process::exit(0)
}

/// Raises the cost guards and adds the webhook agent pointing at the receiver.
fn prepare(db: &Db, port: u16, concurrency: i32) -> anyhow::Result<()> {
    let mut conn = db.conn()?;
    Guards { max_active: 200_000, min_interval_secs: 1, pause_after_failures: 3 }.save(&mut conn)?;
    agents::add(
        &mut conn,
        Utc::now(),
        AgentInput {
            name: Some(AGENT.into()),
            kind: Some("webhook".into()),
            concurrency: Some(concurrency),
            config: AgentConfigPatch {
                url: Some(format!("http://127.0.0.1:{port}/hook")),
                secret: Some("bench-secret".into()),
                ..AgentConfigPatch::default()
            },
        },
        Actor::Person,
    )?;
    Ok(())
}

/// Builds the app on port 0 and serves it in the background (it runs until the process ends).
async fn start_app(db: &Path) -> anyhow::Result<()> {
    let config = Config { db: db.to_path_buf(), bind: "127.0.0.1:0".into(), ..Config::default() };
    let app = Application::build(config).await?;
    tokio::spawn(app.run_until_stopped());
    Ok(())
}

/// Creates one-time schedules at these instants through the service, one transaction each.
async fn create_once(db: &Db, times: Vec<DateTime<Utc>>) -> anyhow::Result<Duration> {
    let t = Instant::now();
    db.run(move |conn| {
        let config = Config::default();
        for (i, at) in times.iter().enumerate() {
            let ctx = Ctx { now: Utc::now(), tz: chrono_tz::UTC, actor: Actor::Person };
            let input = ScheduleInput {
                name: Some(format!("bench {i}")),
                prompt: Some(format!("Benchmark prompt {i}")),
                agent: Some(AGENT.into()),
                at: Some(at.to_rfc3339_opts(SecondsFormat::Millis, true)),
                tz: Some("UTC".into()),
                ..ScheduleInput::default()
            };
            service::create(conn, &ctx, &config, &input)?;
        }
        Ok(())
    })
    .await?;
    Ok(t.elapsed())
}

/// `now`, rounded up to a whole millisecond (what the tables store).
fn whole_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    from_ms(to_ms(t) + 1)
}

fn lateness(db_path: &Path, receiver: &Receiver, n: usize) -> anyhow::Result<Value> {
    let db = Db::open(db_path)?;
    prepare(&db, receiver.port, 1)?;
    actix_web::rt::System::new().block_on(async move {
        start_app(db_path).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        // The first firing ~2 s after start-up.
        let first = whole_ms(Utc::now() + chrono::Duration::milliseconds(1500));
        let times: Vec<DateTime<Utc>> =
            (0..n).map(|i| first + chrono::Duration::milliseconds(50 * i as i64)).collect();
        let wanted: Vec<i64> = times.iter().map(|t| to_ms(*t)).collect();
        let setup = create_once(&db, times).await?;
        let stored: Vec<Option<i64>> = db
            .run(|conn| {
                // The person's schedules (the built-in waiting-for follow-up has a source).
                Ok(schedules::table
                    .filter(schedules::source.is_null())
                    .order(schedules::id)
                    .select(schedules::next_fire_at)
                    .load(conn)?)
            })
            .await?;
        anyhow::ensure!(
            stored.iter().zip(&wanted).all(|(s, w)| *s == Some(*w)),
            "the service did not keep the millisecond instants of `at`"
        );
        steward::scheduler::poke_from_outside(db_path);
        let last = wanted.last().copied().unwrap_or_default();
        let wait = from_ms(last) - Utc::now() + chrono::Duration::seconds(10);
        receiver.wait_for(n, wait.to_std().unwrap_or(Duration::from_secs(10))).await;
        let arrivals = receiver.take();
        let mut late: Vec<f64> = arrivals.iter().map(|a| a.lateness_ms()).collect();
        late.sort_by(f64::total_cmp);
        let rows: Vec<(i64, i64, Option<i64>)> = db
            .run(|conn| {
                Ok(runs::table
                    .select((runs::scheduled_for, runs::created_at, runs::started_at))
                    .load(conn)?)
            })
            .await?;
        let mut claim: Vec<f64> = rows.iter().map(|(s, c, _)| (c - s) as f64).collect();
        let mut start: Vec<f64> = rows.iter().filter_map(|(s, _, st)| st.map(|st| (st - s) as f64)).collect();
        claim.sort_by(f64::total_cmp);
        start.sort_by(f64::total_cmp);
        Ok(json!({
            "setup_ms": measure::ms(setup),
            "arrived": arrivals.len(),
            "arrival_p50": pct(&late, 50.0),
            "arrival_p99": pct(&late, 99.0),
            "arrival_max": late.last().copied().unwrap_or(f64::NAN),
            "claim_p50": pct(&claim, 50.0),
            "claim_p99": pct(&claim, 99.0),
            "claim_max": claim.last(),
            "start_p50": pct(&start, 50.0),
            "start_p99": pct(&start, 99.0),
            "start_max": start.last(),
        }))
    })
}

fn burst(db_path: &Path, receiver: &Receiver, n: usize, concurrency: i32) -> anyhow::Result<Value> {
    let db = Db::open(db_path)?;
    prepare(&db, receiver.port, concurrency)?;
    actix_web::rt::System::new().block_on(async move {
        // Created far ahead through the service (timed), then all moved to one instant.
        let later = whole_ms(Utc::now() + chrono::Duration::hours(1));
        let times: Vec<DateTime<Utc>> =
            (0..n).map(|i| later + chrono::Duration::milliseconds(i as i64)).collect();
        let setup = create_once(&db, times).await?;
        start_app(db_path).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let due = whole_ms(Utc::now() + chrono::Duration::seconds(3));
        let due_ms = to_ms(due);
        db.run(move |conn| {
            steward::db::write(conn, |conn| {
                diesel::update(schedules::table.filter(schedules::source.is_null()))
                    .set((
                        schedules::spec.eq(Spec::Once(due).to_stored()),
                        schedules::next_fire_at.eq(due_ms),
                    ))
                    .execute(conn)?;
                Ok(())
            })
        })
        .await?;
        steward::scheduler::poke_from_outside(db_path);
        receiver.wait_for(n, Duration::from_secs(180)).await;
        // Late duplicates, if any, would come right after.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let arrivals = receiver.take();
        let keys: HashSet<&str> = arrivals.iter().map(|a| a.key.as_str()).collect();
        let due_us = due_ms * 1000;
        let first = arrivals.iter().map(|a| a.wall_us).min().unwrap_or(due_us);
        let last = arrivals.iter().map(|a| a.wall_us).max().unwrap_or(due_us);
        let (succeeded, claimed): (i64, Option<i64>) = db
            .run(|conn| {
                let ok = runs::table.filter(runs::state.eq("succeeded")).count().get_result(conn)?;
                let claimed = runs::table.select(diesel::dsl::max(runs::created_at)).first(conn)?;
                Ok((ok, claimed))
            })
            .await?;
        let last_ms = (last - due_us) as f64 / 1000.0;
        Ok(json!({
            "setup_ms": measure::ms(setup),
            "arrived": keys.len(),
            "duplicates": arrivals.len() - keys.len(),
            "first_ms": (first - due_us) as f64 / 1000.0,
            "last_ms": last_ms,
            "per_sec": keys.len() as f64 / (last_ms / 1000.0),
            "succeeded": succeeded,
            "claimed_ms": claimed.map(|c| c - due_ms),
        }))
    })
}

/// Fills the database of part (c): `n` active cron schedules of several shapes and zones, none
/// due in the next half hour. Inserted directly: `service::create` counts the active
/// schedules for the guard on every call, which is quadratic at this size.
fn seed_scale(db_path: &Path, n: usize) -> anyhow::Result<()> {
    use chrono_tz::Tz;
    let db = Db::open(db_path)?;
    let mut conn = db.conn()?;
    Guards { max_active: 200_000, min_interval_secs: 1, pause_after_failures: 3 }.save(&mut conn)?;
    let now = Utc::now();
    let now_ms = to_ms(now);
    let shapes = ["{m} {h} * * *", "{m} {h} * * 1-5", "{m} {h} * * 0,6", "{m} {h} 1 * *", "{m} {h} 1,15 * *"];
    let zones: [Tz; 4] = [Tz::UTC, Tz::Europe__Berlin, Tz::America__New_York, Tz::Asia__Tokyo];
    let mut rows = Vec::with_capacity(n);
    for i in 0..n {
        let shape = shapes[(i / 1440) % shapes.len()];
        let tz = zones[(i / 7200) % zones.len()];
        let minute = i % 60;
        let mut hour = (i / 60) % 24;
        let (text, next) = loop {
            let text = shape.replace("{m}", &minute.to_string()).replace("{h}", &hour.to_string());
            let next = Spec::from_stored("cron", &text)?
                .next_after(now, tz, now)
                .ok_or_else(|| anyhow!("{text} never fires"))?;
            if next - now > chrono::Duration::minutes(30) {
                break (text, next);
            }
            hour = (hour + 2) % 24;
        };
        rows.push((
            schedules::name.eq(format!("scale {i}")),
            schedules::prompt.eq(format!("Scale prompt {i}")),
            schedules::agent.eq(AGENT),
            schedules::kind.eq("cron"),
            schedules::spec.eq(text),
            schedules::tz.eq(tz.name()),
            schedules::anchor_at.eq(now_ms),
            schedules::next_fire_at.eq(Some(to_ms(next))),
            schedules::created_by.eq("person"),
            schedules::created_at.eq(now_ms),
            schedules::updated_at.eq(now_ms),
        ));
    }
    steward::db::write(&mut conn, |conn| {
        for chunk in rows.chunks(500) {
            diesel::insert_into(schedules::table).values(chunk).execute(conn)?;
        }
        Ok(())
    })?;
    Ok(())
}

fn scale(db_path: &Path, receiver: &Receiver, idle_secs: u64) -> anyhow::Result<Value> {
    {
        // Closed again before the app starts: its connection is not the app's memory.
        let db = Db::open(db_path)?;
        prepare(&db, receiver.port, 1)?;
    }
    actix_web::rt::System::new().block_on(async move {
        start_app(db_path).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss_before = measure::status_kib(None, "VmRSS:");
        let cpu_before = cpu_ticks()?;
        let t = Instant::now();
        tokio::time::sleep(Duration::from_secs(idle_secs)).await;
        let cpu = (cpu_ticks()? - cpu_before) as f64 / TICKS_PER_SEC;
        let window = t.elapsed().as_secs_f64();
        let rss_after = measure::status_kib(None, "VmRSS:");

        let db = Db::open(db_path)?;
        let id: i32 = db
            .run(|conn| {
                let count: i64 = schedules::table.count().get_result(conn)?;
                Ok(schedules::table
                    .order(schedules::id)
                    .offset(count / 2)
                    .select(schedules::id)
                    .first(conn)?)
            })
            .await?;
        // A poller on its own connection and thread sees when the run row is committed.
        let poll_db = db.clone();
        let poller = std::thread::spawn(move || -> anyhow::Result<Instant> {
            let mut conn = poll_db.conn()?;
            let end = Instant::now() + Duration::from_secs(30);
            while Instant::now() < end {
                let found: i64 =
                    runs::table.filter(runs::schedule_id.eq(id)).count().get_result(&mut conn)?;
                if found > 0 {
                    return Ok(Instant::now());
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            anyhow::bail!("the run of schedule {id} did not appear in 30 s")
        });
        let made_due = Utc::now();
        let made_due_ms = to_ms(made_due);
        db.run(move |conn| {
            diesel::update(schedules::table.find(id))
                .set(schedules::next_fire_at.eq(made_due_ms))
                .execute(conn)?;
            Ok(())
        })
        .await?;
        let poked = Instant::now();
        steward::scheduler::poke_from_outside(db_path);
        receiver.wait_for(1, Duration::from_secs(30)).await;
        let visible = poller.join().map_err(|_| anyhow!("the poller panicked"))??;
        let arrival = receiver.take().into_iter().next().context("the made-due run never arrived")?;
        let (created, started): (i64, Option<i64>) = db
            .run(move |conn| {
                Ok(runs::table
                    .filter(runs::schedule_id.eq(id))
                    .select((runs::created_at, runs::started_at))
                    .first(conn)?)
            })
            .await?;
        Ok(json!({
            "idle_cpu_s": cpu,
            "idle_cpu_pct": cpu / window * 100.0,
            "rss_before_mb": rss_before as f64 / 1024.0,
            "rss_after_mb": rss_after as f64 / 1024.0,
            "claim_ms": created - made_due_ms,
            "visible_ms": measure::ms(visible.saturating_duration_since(poked)),
            "start_ms": started.map(|s| s - made_due_ms),
            "delivered_ms": (arrival.wall_us - made_due.timestamp_micros()) as f64 / 1000.0,
        }))
    })
}

/// One delivery as the receiver saw it.
struct Arrival {
    /// Wall clock at arrival, microseconds since the epoch (the app stamps with the same clock).
    wall_us: i64,
    key: String,
    scheduled_ms: i64,
}

impl Arrival {
    fn lateness_ms(&self) -> f64 {
        (self.wall_us - self.scheduled_ms * 1000) as f64 / 1000.0
    }
}

/// The stand-in's POSTs read as webhook deliveries.
struct Receiver {
    port: u16,
    inner: standin::StandIn,
}

impl Receiver {
    fn start() -> anyhow::Result<Receiver> {
        let inner = standin::StandIn::start()?;
        Ok(Receiver { port: inner.port, inner })
    }

    async fn wait_for(&self, n: usize, timeout: Duration) {
        self.inner.wait_for(n, timeout).await
    }

    /// The deliveries so far, in order of arrival (a body that is not a delivery is reported).
    fn take(&self) -> Vec<Arrival> {
        let mut out = Vec::new();
        for post in self.inner.take() {
            let body: Value = serde_json::from_slice(&post.body).unwrap_or(Value::Null);
            let scheduled = body["scheduled_for"].as_str().unwrap_or_default();
            match DateTime::parse_from_rfc3339(scheduled) {
                Ok(t) => out.push(Arrival {
                    wall_us: post.wall_us,
                    key: body["idempotency_key"].as_str().unwrap_or_default().to_string(),
                    scheduled_ms: t.timestamp_millis(),
                }),
                Err(_) => eprintln!("receiver: a body without scheduled_for: {body}"),
            }
        }
        out
    }
}

/// utime + stime of this process, in clock ticks.
fn cpu_ticks() -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the command come field 3 (state) onwards: utime is field 14, stime field 15.
    let field = |i: usize| -> anyhow::Result<u64> {
        Ok(fields.get(i).ok_or_else(|| anyhow!("short /proc/self/stat"))?.parse()?)
    };
    Ok(field(11)? + field(12)?)
}

/// The value at percentile `p` of sorted values (nearest rank).
fn pct(sorted: &[f64], p: f64) -> f64 {
    measure::nearest_rank(sorted, p).unwrap_or(f64::NAN)
}
