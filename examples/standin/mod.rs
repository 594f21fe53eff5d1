//! The receiving end the delivery benchmarks share: a minimal HTTP/1.1 server (keep-alive,
//! Content-Length bodies) on its own thread and runtime that answers `200` at once and keeps
//! every POST body with the wall-clock time it arrived, to be read after the run.
//! (Declared with `mod standin;` by `bench_scheduler` and `bench_reminders`.)
#![allow(dead_code)] // each benchmark uses a part

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One POST: when it arrived (µs since the epoch, the machine's clock) and its body.
pub struct Post {
    pub wall_us: i64,
    pub body: Vec<u8>,
}

#[derive(Default)]
struct Log {
    posts: Mutex<Vec<Post>>,
    count: AtomicUsize,
}

pub struct StandIn {
    pub port: u16,
    log: Arc<Log>,
}

impl StandIn {
    pub fn start() -> anyhow::Result<StandIn> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let log = Arc::new(Log::default());
        let shared = log.clone();
        std::thread::Builder::new().name("stand-in".into()).spawn(move || {
            let served = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .and_then(|rt| rt.block_on(accept(listener, shared)));
            if let Err(e) = served {
                eprintln!("stand-in stopped: {e}");
            }
        })?;
        Ok(StandIn { port, log })
    }

    /// How many POSTs arrived since the last [`StandIn::take`].
    pub fn count(&self) -> usize {
        self.log.count.load(Ordering::Acquire)
    }

    /// Waits (polling, without blocking the runtime) until `n` POSTs arrived or `timeout` passed.
    pub async fn wait_for(&self, n: usize, timeout: Duration) {
        let end = Instant::now() + timeout;
        while self.count() < n && Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The POSTs so far, in order of arrival (and forgets them).
    pub fn take(&self) -> Vec<Post> {
        let mut list = self.log.posts.lock().map(|mut l| std::mem::take(&mut *l)).unwrap_or_default();
        self.log.count.fetch_sub(list.len(), Ordering::AcqRel);
        list.sort_by_key(|p| p.wall_us);
        list
    }
}

async fn accept(listener: std::net::TcpListener, log: Arc<Log>) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    loop {
        let (stream, _) = listener.accept().await?;
        let log = log.clone();
        tokio::spawn(async move {
            if let Err(e) = serve(stream, &log).await {
                eprintln!("stand-in: {e}");
            }
        });
    }
}

async fn serve(mut stream: tokio::net::TcpStream, log: &Log) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    loop {
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let length: usize = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        }
        let wall_us = Utc::now().timestamp_micros();
        if head.starts_with("POST ") {
            let body = buf[head_end..head_end + length].to_vec();
            if let Ok(mut list) = log.posts.lock() {
                list.push(Post { wall_us, body });
            }
            log.count.fetch_add(1, Ordering::Release);
        }
        buf.drain(..head_end + length);
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok")
            .await?;
    }
}
