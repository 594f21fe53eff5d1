//! Load drill over built-in TLS (prints figures; never fails on a slow machine): 50 clients,
//! each logged in with the password (a session each), load the main pages one after another
//! for 60 s while each also holds the live-updates stream (`GET /events`) open. Once a second
//! a task is added and completed through the JSON API, so every stream has events to carry.
//!
//! Printed: requests, throughput, p50/p99/max latency, errors (non-2xx answers and transport
//! failures), the streams still connected at the end and the events they received, and the
//! server's RSS before the clients and at the end.
//!
//! The server runs in a child process (this same binary, re-executed as `steward serve`, with
//! `STEWARD_TLS_CERT` / `STEWARD_TLS_KEY` naming a certificate made at run time by a CA that
//! only the drill's clients trust), so its RSS is its own; all traffic is loopback.
//!
//! Run: `cargo run --release --example drill [-- --secs N --clients N]`
// A benchmark measures the machine's real clock.
#![allow(clippy::disallowed_methods)]

mod child;
mod measure;

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::StreamExt;
use steward::db::Db;
use steward::services::{Actor, Ctx};

const ZONE: &str = "Europe/Berlin";
const PAGES: [&str; 6] = ["/", "/tasks", "/calendar", "/schedules", "/runs", "/chat"];
const PASSWORD: &str = "benchmark passphrase";

fn main() -> anyhow::Result<()> {
    child::serve_if_child();
    let arg = measure::flag::<u64>;
    let secs = arg("--secs", 60);
    let clients = arg("--clients", 50) as usize;

    let dir = tempfile::tempdir()?;
    let db_path = dir.path().join("drill.db");
    let api_token = seed(&db_path)?;
    let ca = Ca::new()?;
    let (cert, key) = (dir.path().join("fullchain.pem"), dir.path().join("privkey.pem"));
    std::fs::write(&cert, &ca.server_cert)?;
    std::fs::write(&key, &ca.server_key)?;
    let (cert, key) = (cert.to_string_lossy().into_owned(), key.to_string_lossy().into_owned());
    let env = [("STEWARD_TLS_CERT", cert.as_str()), ("STEWARD_TLS_KEY", key.as_str())];
    // The https listener answers no plain probe: a connection accepted means it is up.
    let (mut server, started, port) = child::start_with(&db_path, ZONE, &env, |port| {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })?;
    let pid = server.id();
    let base = format!("https://127.0.0.1:{port}");

    println!("Steward load drill: {clients} clients over TLS (loopback), {secs} s");
    println!("each: {} in turn, plus GET /events held open", PAGES.join(" "));
    println!("machine: {} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    println!("server up in {:.0} ms", measure::ms(started));

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let outcome = runtime.block_on(drill(&ca, &base, &api_token, clients, Duration::from_secs(secs), pid));
    child::stop(&mut server);
    let report = outcome?;
    print!("{report}");
    Ok(())
}

/// What every client counts.
#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    non_2xx: AtomicU64,
    transport: AtomicU64,
    events: AtomicU64,
    stream_failures: AtomicU64,
}

async fn drill(
    ca: &Ca,
    base: &str,
    api_token: &str,
    clients: usize,
    length: Duration,
    pid: u32,
) -> anyhow::Result<String> {
    let rss_start = measure::status_kib(Some(pid), "VmRSS:");

    // Log every client in: one session each, through the login form over TLS.
    let t = Instant::now();
    let mut sessions = Vec::with_capacity(clients);
    for _ in 0..clients {
        let client = ca.client()?;
        let res = client
            .post(format!("{base}/login"))
            .header("Origin", base)
            .form(&[("password", PASSWORD), ("next", "/")])
            .send()
            .await?;
        anyhow::ensure!(res.status() == 303, "login answered {}", res.status());
        sessions.push(client);
    }
    let logins = t.elapsed();
    let rss_logged_in = measure::status_kib(Some(pid), "VmRSS:");

    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let connected: Vec<Arc<AtomicBool>> = (0..clients).map(|_| Arc::new(AtomicBool::new(false))).collect();

    // The streams first, so that every client is listening when the events start.
    let mut streams = Vec::new();
    for (client, up) in sessions.iter().zip(&connected) {
        streams.push(tokio::spawn(listen(
            client.clone(),
            format!("{base}/events"),
            up.clone(),
            tally.clone(),
        )));
    }
    for _ in 0..500 {
        if connected.iter().all(|c| c.load(Ordering::Relaxed)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let listening = connected.iter().filter(|c| c.load(Ordering::Relaxed)).count();

    let started = Instant::now();
    let maker =
        tokio::spawn(make_events(ca.client()?, base.to_string(), api_token.to_string(), stop.clone()));
    let mut loops = Vec::new();
    for (i, client) in sessions.iter().enumerate() {
        loops.push(tokio::spawn(browse(client.clone(), base.to_string(), i, stop.clone(), tally.clone())));
    }
    tokio::time::sleep(length).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for l in loops {
        latencies.extend(l.await?);
    }
    let elapsed = started.elapsed();
    let made = maker.await??;
    // Let the last event reach every stream before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let still_connected = connected.iter().filter(|c| c.load(Ordering::Relaxed)).count();
    let rss_end = measure::status_kib(Some(pid), "VmRSS:");
    let rss_peak = measure::status_kib(Some(pid), "VmHWM:");
    for s in streams {
        s.abort();
    }

    latencies.sort();
    let pick = |p: f64| measure::ms(measure::nearest_rank(&latencies, p).unwrap_or_default());
    let requests = tally.requests.load(Ordering::Relaxed);
    let (non_2xx, transport) =
        (tally.non_2xx.load(Ordering::Relaxed), tally.transport.load(Ordering::Relaxed));
    let mb = |kib: u64| kib as f64 / 1024.0;
    let mut out = String::new();
    writeln!(out, "logins: {clients} in {:.1} s (one session each)", logins.as_secs_f64())?;
    writeln!(out)?;
    writeln!(out, "requests:            {requests}")?;
    writeln!(out, "throughput:          {:.1} req/s", requests as f64 / elapsed.as_secs_f64())?;
    writeln!(
        out,
        "latency:             p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
        pick(50.0),
        pick(99.0),
        measure::ms(latencies.last().copied().unwrap_or_default())
    )?;
    writeln!(out, "errors:              {} (non-2xx {non_2xx}, transport {transport})", non_2xx + transport)?;
    writeln!(
        out,
        "SSE streams:         {listening}/{clients} connected at the start, {still_connected}/{clients} at the end, {} dropped",
        tally.stream_failures.load(Ordering::Relaxed)
    )?;
    writeln!(
        out,
        "SSE events received: {} ({made} sent by the hub, so {} expected if every stream got each)",
        tally.events.load(Ordering::Relaxed),
        made * clients as u64
    )?;
    writeln!(
        out,
        "server RSS:          {:.1} MB before the clients, {:.1} MB logged in, {:.1} MB at the end (peak {:.1} MB)",
        mb(rss_start),
        mb(rss_logged_in),
        mb(rss_end),
        mb(rss_peak)
    )?;
    Ok(out)
}

/// One client's page loop: each page in turn (starting at its own place in the list) until
/// told to stop; returns each successful request's latency.
async fn browse(
    client: reqwest::Client,
    base: String,
    offset: usize,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) -> Vec<Duration> {
    let mut times = Vec::new();
    let mut i = offset;
    while !stop.load(Ordering::Relaxed) {
        let url = format!("{base}{}", PAGES[i % PAGES.len()]);
        i += 1;
        let t = Instant::now();
        let answer = match client.get(&url).send().await {
            Ok(res) => {
                let status = res.status();
                res.bytes().await.map(|_| status)
            }
            Err(e) => Err(e),
        };
        tally.requests.fetch_add(1, Ordering::Relaxed);
        match answer {
            Ok(status) if status.is_success() => times.push(t.elapsed()),
            Ok(_) => {
                tally.non_2xx.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                tally.transport.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    times
}

/// Holds the live-updates stream open and counts the events on it (not the keep-alive
/// comments); `up` says whether it is open.
async fn listen(client: reqwest::Client, url: String, up: Arc<AtomicBool>, tally: Arc<Tally>) {
    let res = match client.get(&url).send().await {
        Ok(res) if res.status().is_success() => res,
        _ => {
            tally.stream_failures.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    up.store(true, Ordering::Relaxed);
    let mut body = res.bytes_stream();
    let mut pending = Vec::new();
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else { break };
        pending.extend_from_slice(&chunk);
        // An event ends with a blank line; only whole ones are counted.
        while let Some(end) = pending.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = pending.drain(..end + 2).collect();
            if event.split(|b| *b == b'\n').any(|line| line.starts_with(b"event:")) {
                tally.events.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    up.store(false, Ordering::Relaxed);
    tally.stream_failures.fetch_add(1, Ordering::Relaxed);
}

/// Once a second: a task added and then completed through the JSON API (each announces
/// itself to open pages: two events). Returns how many events that made.
async fn make_events(
    client: reqwest::Client,
    base: String,
    token: String,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<u64> {
    let mut made = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let created: serde_json::Value = client
            .post(format!("{base}/api/v1/tasks"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "text": format!("Drill task {made}") }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        made += 1;
        let id = created["id"].as_i64().ok_or_else(|| anyhow::anyhow!("no id in {created}"))?;
        client
            .post(format!("{base}/api/v1/tasks/{id}/complete"))
            .bearer_auth(&token)
            .send()
            .await?
            .error_for_status()?;
        made += 1;
    }
    Ok(made)
}

/// A CA made at run time and the server certificate it signed for 127.0.0.1.
struct Ca {
    pem: String,
    server_cert: String,
    server_key: String,
}

impl Ca {
    fn new() -> anyhow::Result<Ca> {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, "Steward drill CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let ca_key = KeyPair::generate()?;
        let pem = params.self_signed(&ca_key)?.pem();
        let issuer = Issuer::new(params, ca_key);
        let server_key = KeyPair::generate()?;
        let server_cert =
            CertificateParams::new(vec!["127.0.0.1".to_string()])?.signed_by(&server_key, &issuer)?;
        Ok(Ca { pem, server_cert: server_cert.pem(), server_key: server_key.serialize_pem() })
    }

    /// A client with its own cookie jar and connections, trusting only this CA.
    fn client(&self) -> anyhow::Result<reqwest::Client> {
        Ok(reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.pem.as_bytes())?)
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()?)
    }
}

/// The password, 300 tasks, 40 events this week, 20 schedules; returns an admin API token.
fn seed(db_path: &Path) -> anyhow::Result<String> {
    let db = Db::open(db_path)?;
    let mut conn = db.conn()?;
    let now = Utc::now();
    let ctx = Ctx { now, tz: chrono_tz::Europe::Berlin, actor: Actor::Person };
    let today = ctx.today();
    let mut file = String::new();
    for i in 0..300 {
        let due = match i % 4 {
            0 => String::new(),
            1 => format!(" due:{}", today - chrono::Duration::days(i % 9 + 1)),
            2 => format!(" due:{today}"),
            _ => format!(" due:{}", today + chrono::Duration::days(i % 30 + 1)),
        };
        writeln!(file, "{today} Drill task number {i} +p{} @c{}{due}", i % 7, i % 3)?;
    }
    steward::tasks::service::import_todotxt(&mut conn, &ctx, file.as_bytes())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut ics = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//drill//EN\r\n");
    for i in 0..40 {
        let day = today + chrono::Duration::days(i % 7 - 3);
        write!(
            ics,
            "BEGIN:VEVENT\r\nUID:drill-{i}@example.com\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID={ZONE}:{d}T{h:02}0000\r\nDURATION:PT45M\r\nSUMMARY:Drill event {i}\r\nEND:VEVENT\r\n",
            d = day.format("%Y%m%d"),
            h = 8 + i % 10,
        )?;
    }
    ics.push_str("END:VCALENDAR\r\n");
    steward::calendar::ics::import(&mut conn, &ctx, 1, &ics).map_err(|e| anyhow::anyhow!("{e}"))?;
    let config = steward::config::Config::default();
    for i in 0..20 {
        let input = steward::schedules::ScheduleInput {
            name: Some(format!("Drill schedule {i}")),
            prompt: Some(format!("Prompt number {i}")),
            agent: Some("notify".into()),
            cron: Some(format!("{} {} * * *", i % 60, 6 + i % 12)),
            tz: Some(ZONE.into()),
            ..Default::default()
        };
        steward::schedules::service::create(&mut conn, &ctx, &config, &input)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let (_, api) = child::credentials(&mut conn, now)?;
    Ok(api)
}
