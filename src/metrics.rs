//! What `GET /metrics` shows, in the Prometheus text format 0.0.4: one [`Metrics`] per running
//! app owns the registry, and each place that measures something records it with a one-line
//! call (`services.metrics.run_ended("succeeded")`).
//!
//! | series                                         | recorded by                                 |
//! |------------------------------------------------|---------------------------------------------|
//! | `steward_http_requests_total{method,route,status}` and `steward_http_request_duration_seconds{method,route}` | the request log ([`crate::web::middleware::request_log`]) |
//! | `steward_scheduler_lateness_seconds`            | the scheduler, as it starts a run's first attempt |
//! | `steward_runs_total{outcome}`                   | the scheduler, as it records a delivery      |
//! | `steward_queue_depth{queue}`, `steward_runs_running` | read from the database at each scrape  |
//! | `steward_sse_clients`                           | the live-update stream (`GET /events`)       |
//! | `steward_notification_deliveries_total{channel,kind,outcome}` | [`crate::notify::deliver`]      |
//! | `steward_db_pool_wait_seconds`                  | [`crate::db::Db`], around each pool checkout |
//! | `process_resident_memory_bytes`, `process_start_time_seconds` | `/proc/self` (Linux)         |
//!
//! `route` is the pattern the router matched (`/api/v1/tasks/{id}`), never the path: ids, a
//! feed's token and an action link's token never become label values, and the number of series
//! stays bounded by the routes. A path no route matches is `unmatched`; a method outside the
//! standard ones is `other`.
//!
//! The registry lives in the app's [`crate::services::Services`], not in a global: tests start
//! many apps in one process, and each app's page shows its own traffic. Counters and gauges
//! are atomics; a histogram takes a short lock of its own (the crate's), which is uncontended
//! in practice.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use diesel::prelude::*;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use chrono::{DateTime, Utc};

use crate::clock::to_ms;
use crate::db::Db;
use crate::db::schema::{deliveries, runs};
use crate::error::AppError;

/// The `Content-Type` of what [`Metrics::scrape`] returns: Prometheus text, version 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Pages and API answers take about a millisecond; a slow one, seconds.
const HTTP_BUCKETS: [f64; 13] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// The scheduler is precise to the millisecond; a run after downtime can be minutes late.
const LATENESS_BUCKETS: [f64; 16] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];
/// A free connection is handed out in microseconds; a full pool makes callers wait, up to the
/// pool's 10 s timeout.
const POOL_BUCKETS: [f64; 12] = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];

/// The histogram of waits for a database connection ([`crate::db::Db`] owns it, since it is
/// opened before the rest of the services).
pub fn pool_wait_histogram() -> Histogram {
    Histogram::new(POOL_BUCKETS)
}

fn http_histogram() -> Histogram {
    Histogram::new(HTTP_BUCKETS)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    queue: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    channel: String,
    kind: String,
    outcome: &'static str,
}

/// Cheap to clone: a handle to one app's registry.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram, fn() -> Histogram>,
    lateness: Histogram,
    runs: Family<OutcomeLabels, Counter>,
    queue: Family<QueueLabels, Gauge>,
    running: Gauge,
    sse_clients: Gauge,
    deliveries: Family<DeliveryLabels, Counter>,
    resident: Option<Gauge>,
}

impl Metrics {
    /// A registry with every series, `pool_waits` being the database's ([`crate::db::Db::pool_waits`]).
    pub fn new(pool_waits: Histogram) -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "steward_http_requests",
            "HTTP requests answered, by method, route pattern and status",
            requests.clone(),
        );
        let durations =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(http_histogram);
        registry.register_with_unit(
            "steward_http_request_duration",
            "Time from a request's arrival to its response's head (a stream's first byte), by method and route pattern",
            Unit::Seconds,
            durations.clone(),
        );
        let lateness = Histogram::new(LATENESS_BUCKETS);
        registry.register_with_unit(
            "steward_scheduler_lateness",
            "How late each run's first attempt started after the instant it was scheduled for",
            Unit::Seconds,
            lateness.clone(),
        );
        let runs = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "steward_runs",
            "Run deliveries recorded, by outcome: succeeded, failed (for good), retrying (an attempt failed and another is scheduled)",
            runs.clone(),
        );
        let queue = Family::<QueueLabels, Gauge>::default();
        registry.register(
            "steward_queue_depth",
            "Work that is due but not started: runs (queue=\"runs\") and notification deliveries to channels (queue=\"notifications\")",
            queue.clone(),
        );
        let running = Gauge::default();
        registry.register("steward_runs_running", "Runs being delivered now", running.clone());
        let sse_clients = Gauge::default();
        registry.register(
            "steward_sse_clients",
            "Open live-update streams (GET /events) of pages",
            sse_clients.clone(),
        );
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "steward_notification_deliveries",
            "Notification sends to channels, by channel name, kind and outcome: sent, failed (for good), retrying",
            deliveries.clone(),
        );
        registry.register_with_unit(
            "steward_db_pool_wait",
            "Time spent waiting for a database connection from the pool",
            Unit::Seconds,
            pool_waits,
        );
        let resident = process::resident_bytes().map(|bytes| {
            let gauge = Gauge::default();
            gauge.set(bytes);
            registry.register(
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                gauge.clone(),
            );
            gauge
        });
        if let Some(start) = process::start_time_seconds() {
            let gauge = Gauge::<f64, AtomicU64>::default();
            gauge.set(start);
            registry.register(
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch in seconds",
                gauge,
            );
        }
        Metrics(Arc::new(Inner {
            registry,
            requests,
            durations,
            lateness,
            runs,
            queue,
            running,
            sse_clients,
            deliveries,
            resident,
        }))
    }

    /// A request answered: `route` is the matched pattern (`None`: no route matched).
    pub fn request(
        &self,
        method: &actix_web::http::Method,
        route: Option<String>,
        status: u16,
        took: Duration,
    ) {
        let method = method_label(method);
        let route = route.unwrap_or_else(|| "unmatched".to_string());
        self.0
            .durations
            .get_or_create(&RouteLabels { method, route: route.clone() })
            .observe(took.as_secs_f64());
        self.0.requests.get_or_create(&RequestLabels { method, route, status }).inc();
    }

    /// A run's first attempt started `late_ms` after its instant.
    pub fn lateness(&self, late_ms: i64) {
        self.0.lateness.observe(late_ms.max(0) as f64 / 1000.0);
    }

    /// `n` run deliveries ended with `outcome` (`succeeded`, `failed`, `retrying`).
    pub fn runs_ended(&self, outcome: &'static str, n: u64) {
        self.0.runs.get_or_create(&OutcomeLabels { outcome }).inc_by(n);
    }

    /// A send to a channel ended with `outcome` (`sent`, `failed`, `retrying`).
    pub fn delivery(&self, channel: &str, kind: &str, outcome: &'static str) {
        let labels = DeliveryLabels { channel: channel.to_string(), kind: kind.to_string(), outcome };
        self.0.deliveries.get_or_create(&labels).inc();
    }

    /// Counts an open live-update stream for as long as the returned guard lives.
    pub fn sse_client(&self) -> SseClient {
        self.0.sse_clients.inc();
        SseClient(self.0.sse_clients.clone())
    }

    /// `GET /metrics`: the queues as the database has them `now` (a few index range counts),
    /// then every series as text.
    pub async fn scrape(&self, db: &Db, now: DateTime<Utc>) -> Result<String, AppError> {
        let now = to_ms(now);
        let snapshot = db
            .run(move |conn| {
                let due_runs = runs::table
                    .filter(runs::state.eq("queued"))
                    .filter(runs::not_before.le(now))
                    .count()
                    .get_result(conn)?;
                let running = runs::table.filter(runs::state.eq("running")).count().get_result(conn)?;
                let due_sends = deliveries::table
                    .filter(deliveries::state.eq("queued"))
                    .filter(deliveries::not_before.le(now))
                    .count()
                    .get_result(conn)?;
                Ok(Snapshot { due_runs, due_sends, running })
            })
            .await?;
        self.encode(snapshot)
    }

    /// Open live-update streams now.
    #[cfg(test)]
    pub(crate) fn sse_clients(&self) -> i64 {
        self.0.sse_clients.get()
    }

    /// The registry as Prometheus text, with what is read at scrape time set first.
    fn encode(&self, now: Snapshot) -> Result<String, AppError> {
        let inner = &self.0;
        inner.queue.get_or_create(&QueueLabels { queue: "runs" }).set(now.due_runs);
        inner.queue.get_or_create(&QueueLabels { queue: "notifications" }).set(now.due_sends);
        inner.running.set(now.running);
        if let (Some(gauge), Some(bytes)) = (&inner.resident, process::resident_bytes()) {
            gauge.set(bytes);
        }
        let mut text = String::with_capacity(16 * 1024);
        prometheus_client::encoding::prometheus_text::encode(&mut text, &inner.registry)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("encoding the metrics: {e}")))?;
        Ok(text)
    }
}

/// A registry whose pool waits are its own (for code and tests without a database).
impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new(pool_wait_histogram())
    }
}

/// One open live-update stream (see [`Metrics::sse_client`]).
pub struct SseClient(Gauge);

impl Drop for SseClient {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// What the database says at scrape time.
struct Snapshot {
    due_runs: i64,
    due_sends: i64,
    running: i64,
}

/// Standard methods by name; anything else (a client may send any token) is `other`, so that
/// the number of series stays bounded.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The process's own figures, from Linux's `/proc` (elsewhere they are left out).
mod process {
    /// `VmRSS` of `/proc/self/status`, which Linux gives in KiB.
    pub fn resident_bytes() -> Option<i64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
        let kib: i64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
        Some(kib * 1024)
    }

    /// Linux reports process times to user space in ticks of 1/100 s (`USER_HZ`, fixed by
    /// the ABI; Prometheus's Go collector assumes the same).
    const USER_HZ: f64 = 100.0;

    /// The boot time (`btime` of `/proc/stat`) plus the process's start after boot (the 22nd
    /// field of `/proc/self/stat`, in ticks).
    pub fn start_time_seconds() -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        start_time(&stat, &boot)
    }

    pub(super) fn start_time(stat: &str, boot: &str) -> Option<f64> {
        // The command name (field 2) is in parentheses and may hold spaces or ')': the fields
        // after the last ')' start with field 3.
        let after = &stat[stat.rfind(')')? + 1..];
        let ticks: f64 = after.split_whitespace().nth(22 - 3)?.parse().ok()?;
        let btime: f64 = boot.lines().find_map(|l| l.strip_prefix("btime "))?.trim().parse().ok()?;
        Some(btime + ticks / USER_HZ)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_time_is_read_after_the_command_name() {
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 12345 1000 50";
        let boot = "cpu  1 2 3\nbtime 1764000000\nprocesses 9\n";
        assert_eq!(process::start_time(stat, boot), Some(1_764_000_123.45));
        assert_eq!(process::start_time("4242 (x) S 1", boot), None);
    }

    #[test]
    fn this_process_has_a_start_time_and_memory_on_linux() {
        let start = process::start_time_seconds().unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        assert!(start <= now + 1.0 && start > now - 86_400.0 * 30.0, "{start} vs {now}");
        assert!(process::resident_bytes().unwrap() > 1 << 20);
    }

    #[test]
    fn routes_and_methods_stay_bounded_and_streams_are_counted_while_open() {
        let m = Metrics::default();
        let odd = actix_web::http::Method::from_bytes(b"BREW").unwrap();
        m.request(&odd, None, 404, Duration::from_millis(2));
        m.request(&actix_web::http::Method::GET, Some("/tasks/{id}".into()), 200, Duration::from_millis(2));
        let stream = m.sse_client();
        let second = m.sse_client();
        drop(second);
        let text = m.encode(Snapshot { due_runs: 3, due_sends: 0, running: 1 }).unwrap();
        assert!(
            text.contains(
                "steward_http_requests_total{method=\"other\",route=\"unmatched\",status=\"404\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("route=\"/tasks/{id}\""), "{text}");
        assert!(text.contains("steward_sse_clients 1\n"), "{text}");
        assert!(text.contains("steward_queue_depth{queue=\"runs\"} 3\n"), "{text}");
        drop(stream);
        let text = m.encode(Snapshot { due_runs: 0, due_sends: 0, running: 0 }).unwrap();
        assert!(text.contains("steward_sse_clients 0\n"), "{text}");
    }
}
