//! What the benchmark programs share: reading a process's memory and taking percentiles.
//! (Each `bench_*` example declares `mod measure;`; with no `main.rs` here, cargo does not take
//! this directory for an example of its own.)
#![allow(dead_code)] // each benchmark uses a part

use std::time::Duration;

/// A `kB` field of `/proc/<pid>/status` (`VmRSS:`, `VmHWM:`); `pid` `None` is this process.
pub fn status_kib(pid: Option<u32>, field: &str) -> u64 {
    let path = pid.map_or_else(|| "/proc/self/status".to_string(), |p| format!("/proc/{p}/status"));
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The value at percentile `p` of sorted values (nearest rank); `None` when there are none.
pub fn nearest_rank<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `n` timed GETs of `url` (after 20 untimed ones to warm up): each one's time, and the
/// size of the last body. Anything but a 2xx stops the benchmark.
pub async fn get_times(
    client: &reqwest::Client,
    url: &str,
    header: &(&str, String),
    n: usize,
) -> anyhow::Result<(Vec<std::time::Duration>, usize)> {
    let mut times = Vec::with_capacity(n);
    let mut bytes = 0;
    for i in 0..n + 20 {
        let t = std::time::Instant::now();
        let res = client.get(url).header(header.0, &header.1).send().await?;
        anyhow::ensure!(res.status().is_success(), "{url} answered {}", res.status());
        let body = res.bytes().await?;
        if i >= 20 {
            times.push(t.elapsed());
            bytes = body.len();
        }
    }
    Ok((times, bytes))
}

/// A number given on the command line as `--name N`, else `default`.
pub fn flag<T: std::str::FromStr>(name: &str, default: T) -> T {
    text_flag(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What follows `--name` on the command line.
pub fn text_flag(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}
