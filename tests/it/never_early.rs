//! Never early (issue 14): with the real clock, no scheduled prompt reaches its receiver before
//! its instant. A few hundred one-time schedules at distinct instants (sub-millisecond parts
//! included, as RFC 3339 allows) spread over two seconds, and a cron firing every second, are
//! delivered to a webhook receiver that stamps each arrival with the system clock.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use steward::schedules::{Guards, ScheduleInput, service};
use steward::services::{Actor, Ctx};

use crate::helpers::*;

/// One delivery as the receiver saw it.
struct Arrival {
    /// The system clock when the whole request had been read.
    wall: DateTime<Utc>,
    prompt: String,
    /// The `scheduled_for` the webhook carried.
    scheduled_for: DateTime<Utc>,
}

type Log = Arc<Mutex<Vec<Arrival>>>;

/// A webhook receiver on its own threads (one per connection), so that nothing in the app's
/// runtime can delay its clock stamp: reads each request whole, stamps it, answers 200.
fn start_receiver() -> (String, Log) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let log: Log = Arc::default();
    let shared = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let log = shared.clone();
            std::thread::spawn(move || {
                let _ = serve(stream, &log);
            });
        }
    });
    (url, log)
}

fn serve(stream: std::net::TcpStream, log: &Log) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut length = 0usize;
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line.trim_end().is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.trim().eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body)?;
        let wall = Utc::now();
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let scheduled_for = v["scheduled_for"]
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let prompt = v["prompt"].as_str().unwrap_or_default().to_string();
        log.lock().unwrap().push(Arrival { wall, prompt, scheduled_for });
        out.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok")?;
    }
}

fn ms(d: chrono::Duration) -> f64 {
    d.num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0
}

#[tokio::test]
async fn no_delivery_arrives_before_its_instant_over_hundreds_of_firings() {
    const ONCE: usize = 300;
    let (url, log) = start_receiver();
    let app = spawn_app().await;
    let api = app.api(&app.api_token().await);
    let (status, body) = api
        .post(
            "/agents",
            json!({"name": "clock", "kind": "webhook", "url": url, "secret": "s", "concurrency": 8}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let db = steward::db::Db::open(&app.db_path).unwrap();
    {
        let mut conn = db.conn().unwrap();
        let guards = Guards { min_interval_secs: 1, ..Guards::load(&mut conn).unwrap() };
        guards.save(&mut conn).unwrap();
    }

    // Distinct instants 1 to 3 s ahead, about 6.7 ms apart, each with its own microseconds.
    let first = chrono::SubsecRound::trunc_subsecs(Utc::now() + chrono::Duration::milliseconds(1000), 6);
    let asked: Vec<DateTime<Utc>> = (0..ONCE)
        .map(|i| first + chrono::Duration::microseconds(i as i64 * 6_667 + (i as i64 * 379) % 1000))
        .collect();
    let times = asked.clone();
    db.run(move |conn| {
        let config = steward::config::Config::default();
        for (i, at) in times.iter().enumerate() {
            let ctx = Ctx { now: Utc::now(), tz: chrono_tz::UTC, actor: Actor::Person };
            let input = ScheduleInput {
                prompt: Some(format!("tick {i}")),
                agent: Some("clock".into()),
                at: Some(at.to_rfc3339_opts(SecondsFormat::Micros, true)),
                ..ScheduleInput::default()
            };
            service::create(conn, &ctx, &config, &input)?;
        }
        Ok(())
    })
    .await
    .unwrap();
    // A cron line firing every second, at whole seconds (like a midnight job); created through
    // the API, which also wakes the scheduler for the schedules above.
    let (status, cron) = api
        .post("/schedules", json!({"prompt": "every second", "agent": "clock", "cron": "* * * * * *"}))
        .await;
    assert_eq!(status, 201, "{cron}");
    let cron_began = Utc::now();

    let deadline = Instant::now() + Duration::from_secs(8);
    let done =
        |log: &Log| log.lock().unwrap().iter().filter(|a| a.prompt.starts_with("tick ")).count() >= ONCE;
    while !done(&log) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = api.delete(&format!("/schedules/{}", cron["id"])).await;
    assert_eq!(status, 204);
    let cron_ended = Utc::now();

    let got = std::mem::take(&mut *log.lock().unwrap());
    let mut lateness = Vec::new();
    let mut seen = vec![0usize; ONCE];
    let mut early = Vec::new();
    let mut crons = 0;
    for a in &got {
        let due = match a.prompt.strip_prefix("tick ") {
            Some(i) => {
                let i: usize = i.parse().unwrap();
                seen[i] += 1;
                // The run's instant is never before the one asked for.
                if a.scheduled_for < asked[i] {
                    early.push(format!("tick {i}: run instant {} before {}", a.scheduled_for, asked[i]));
                }
                asked[i]
            }
            None => {
                crons += 1;
                assert_eq!(a.scheduled_for.timestamp_subsec_nanos(), 0, "cron at whole seconds");
                a.scheduled_for
            }
        };
        let late = a.wall - due;
        if a.wall < a.scheduled_for || late < chrono::Duration::zero() {
            early.push(format!("{}: due {due}, arrived {} ({:.3} ms)", a.prompt, a.wall, ms(late)));
        }
        lateness.push(ms(late));
    }
    assert!(seen.iter().all(|n| *n == 1), "each one-time schedule fires once: {seen:?}");
    let whole_seconds = (cron_ended - cron_began).num_seconds();
    assert!(crons >= 1 && crons <= whole_seconds as usize + 1, "{crons} cron firings in {whole_seconds} s");
    lateness.sort_by(f64::total_cmp);
    let pct = |p: f64| lateness[((lateness.len() - 1) as f64 * p).round() as usize];
    println!(
        "never early: {} firings ({ONCE} once, {crons} cron); lateness min {:.3} ms, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        lateness.len(),
        pct(0.0),
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    assert!(early.is_empty(), "{} deliveries arrived early:\n{}", early.len(), early.join("\n"));
}
