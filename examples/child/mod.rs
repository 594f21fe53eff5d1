//! What the benchmarks that measure a running server share: this same binary re-executed as
//! `steward serve` in a child process (so its RSS and start-up are its own), a logged-in
//! session and an API token for it, and a raw `/healthz` probe with no client start-up cost.
//! (Declared with `mod child;` by `bench_tasks`, `bench_calendar`, `bench_reminders` and
//! `drill`.)
#![allow(dead_code)] // each benchmark uses a part

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Duration as Span, Utc};
use steward::auth::{self, sessions, tokens};
use steward::db::Conn;

const CHILD: &str = "STEWARD_BENCH_CHILD";

/// In the re-executed child: runs Steward's CLI and exits. Call first thing in `main`.
pub fn serve_if_child() {
    if std::env::var_os(CHILD).is_some() {
        std::process::exit(match steward::cli::main() {
            std::process::ExitCode::SUCCESS => 0,
            _ => 1,
        });
    }
}

/// Sets the password and returns a session token and an admin API token for the child server.
pub fn credentials(conn: &mut Conn, now: DateTime<Utc>) -> anyhow::Result<(String, String)> {
    auth::set_password(conn, "benchmark passphrase", "benchmark passphrase", None)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let life = sessions::Lifetimes { idle: Span::days(1), absolute: Span::days(1) };
    let (session, _) = sessions::create(conn, &sessions::Client::default(), now, life, false)?;
    let (api, _) =
        tokens::create(conn, &tokens::NewToken::admin("bench"), now).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((session, api))
}

/// Starts the server in `zone` and waits for `/healthz`; returns the child, the time it took,
/// its port.
pub fn start(db_path: &Path, zone: &str) -> anyhow::Result<(Child, Duration, u16)> {
    start_with(db_path, zone, &[], healthy)
}

/// Starts the server in `zone` with extra environment (`STEWARD_TLS_CERT`, ...) and waits
/// until `ready(port)`; returns the child, the time it took, its port.
pub fn start_with(
    db_path: &Path,
    zone: &str,
    env: &[(&str, &str)],
    ready: impl Fn(u16) -> bool,
) -> anyhow::Result<(Child, Duration, u16)> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let t = Instant::now();
    let mut child = Command::new(std::env::current_exe()?)
        .env(CHILD, "1")
        .env("STEWARD_TIMEZONE", zone)
        .env("STEWARD_LOG", "warn")
        .envs(env.iter().copied())
        .args(["--db", &db_path.to_string_lossy(), "serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if ready(port) {
            return Ok((child, t.elapsed(), port));
        }
        if Instant::now() > deadline {
            stop(&mut child);
            anyhow::bail!("the server did not become ready in 20 s");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A raw HTTP/1.1 health probe: no client start-up cost in the measured time.
pub fn healthy(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = String::new();
    s.read_to_string(&mut buf).is_ok() && buf.starts_with("HTTP/1.1 200") && buf.contains("\"ok\"")
}

pub fn stop(child: &mut Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
}
