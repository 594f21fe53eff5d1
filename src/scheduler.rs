//! The scheduler: one tokio task that fires schedules and delivers runs.
//!
//! 1. **Wake.** It sleeps until the earliest due instant (a schedule's next firing or a retry),
//!    capped at 30 s so a suspended machine or a changed clock is noticed, and wakes at once when
//!    schedules change ([`SchedulerHandle::poke`]; the CLI pokes through a socket next to the
//!    database). No fixed polling period. Tokio's timer is late by up to 2 ms, so the task wakes
//!    2 ms early and the turn waits out the rest on its blocking thread.
//!
//!    **Never early.** Waking early is only waking: what fires is decided by the clock read
//!    after the wait. Due instants are whole milliseconds, rounded *up* from what was asked
//!    ([`crate::clock::due_ms`]: `12:00:00.0004` is kept as `12:00:00.001`, never `.000`), and
//!    "now" is rounded down ([`to_ms`]), so `due <= to_ms(now)` implies `due <= now`: no run
//!    starts, and no channel delivery leaves, before its instant. A run's `not_before` starts
//!    at its `scheduled_for` and only ever moves later (a retry, a release after a crash).
//! 2. **Claim and start**, in one immediate transaction: each due schedule gets its run row
//!    (unique on `(schedule, scheduled_for)`, the idempotency key) and its next firing advances;
//!    then ready runs, by priority then due time, are marked running within the worker pool and
//!    each agent's concurrency limit. A crash can neither lose nor double a firing.
//!    Each agent's queue is read on its own, at most as many runs as it has free slots, so a
//!    long queue behind a busy agent costs a turn nothing.
//! 3. **Deliver** on tokio tasks, which hand their results back to the scheduler task; the next
//!    turn records all that came in (success, a retry with exponential backoff and jitter, or a
//!    failure) in one transaction, before it starts anything, so a burst costs one turn per
//!    batch of deliveries rather than per delivery. A schedule pauses after N failed runs in a
//!    row and tells the person why.
//! 4. **History** is pruned by a task of its own beside the loop (see [`crate::retention`]):
//!    every few minutes, in small write transactions, and never when the loop has something due
//!    within a quarter of a second (the loop publishes its next wake-up in a [`NextDue`]).
//! 5. **Crash and shutdown.** Only the holder of an OS lock on `<db>.scheduler-lock` delivers, so
//!    when a process gets the lock, runs still marked running belong to a dead process: they are
//!    queued again at once, at start-up. A graceful stop lets deliveries finish (10 s at most) and
//!    releases the rest the same way.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::agents::deliver::{self, ConversationDelivery, Delivery, Failure};
use crate::agents::{self, Agent, AgentKind};
use crate::clock::{due_ms, from_ms, to_ms};
use crate::config::Config;
use crate::db::Conn;
use crate::db::schema::{run_attempts, runs, schedules};
use crate::error::AppError;
use crate::events::{Event, Events};
use crate::notifications::{self, NewNotification};
use crate::retention::NextDue;
use crate::runs::{NewRun, Queued, Run};
use crate::schedules::{Guards, Schedule};
use crate::services::Services;

#[diesel::declare_sql_function]
extern "SQL" {
    /// SQLite's hint that a condition is nearly always true (it then plans around it).
    fn likely(x: diesel::sql_types::Bool) -> diesel::sql_types::Bool;

    fn coalesce(
        x: diesel::sql_types::Nullable<diesel::sql_types::BigInt>,
        y: diesel::sql_types::Nullable<diesel::sql_types::BigInt>,
    ) -> diesel::sql_types::Nullable<diesel::sql_types::BigInt>;
}

/// The longest sleep: a suspended machine or a changed wall clock is noticed within this.
const MAX_SLEEP: StdDuration = StdDuration::from_secs(30);
/// Tokio's timer ticks in whole milliseconds and rounds up, so it wakes up to 2 ms late. The
/// scheduler wakes this much early and its turn waits out the rest on the blocking thread,
/// which is precise to a tenth of a millisecond.
const EARLY: StdDuration = StdDuration::from_millis(2);
/// A firing later than this (after downtime) is a misfire and follows the schedule's policy.
const MISFIRE_GRACE: Duration = Duration::seconds(60);
/// Misfire policy `all` catches up at most this many firings per schedule.
const CATCH_UP_CAP: usize = 100;
/// Schedules claimed per transaction; more are claimed on the next turn, straight away.
const CLAIM_BATCH: i64 = 1000;
/// Deliveries at once, across agents (each agent also has its own limit).
pub const WORKERS: usize = 32;
/// How long a graceful stop waits for deliveries in flight.
const SHUTDOWN_GRACE: StdDuration = StdDuration::from_secs(10);
/// History is pruned this long after the scheduler starts (the start-up rush has passed)...
const PRUNE_FIRST: StdDuration = StdDuration::from_secs(60);
/// ...and then this often.
const PRUNE_EVERY: StdDuration = StdDuration::from_secs(5 * 60);

/// What the app holds to stop the scheduler (waking it is [`Services::wake`]).
#[derive(Clone)]
pub struct SchedulerHandle {
    stop: Arc<watch::Sender<bool>>,
    done: Arc<tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl SchedulerHandle {
    /// Stops claiming, lets deliveries in flight finish (bounded), releases the rest, and waits.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.done.lock().await.take() {
            let _ = task.await;
        }
    }
}

pub struct Scheduler {
    services: Services,
    /// Runs of `llm` and `letta` schedules are replies in a conversation, tools and all.
    conversations: Arc<dyn ConversationDelivery>,
    /// Who holds leases: this process.
    instance: String,
    /// Deliveries at once, across agents.
    workers: usize,
}

/// A run a turn marked running, to deliver.
#[derive(Debug)]
struct Started {
    run: Run,
    agent: Agent,
    schedule_name: Option<String>,
    /// The channels the answer goes to (the schedule's `answer_to`).
    answer_to: Vec<String>,
}

/// A delivery that ended, for the next turn to record.
#[derive(Debug)]
struct Finished {
    started: Started,
    result: Result<String, Failure>,
    at: DateTime<Utc>,
}

/// What one turn did.
#[derive(Debug, Default)]
struct Turn {
    started: Vec<Started>,
    /// Notification deliveries to channels claimed this turn (see `crate::notify`).
    sends: Vec<crate::notify::Claimed>,
    /// More schedules are due than one batch claimed: go again at once.
    more_due: bool,
    next_wake: Option<DateTime<Utc>>,
}

/// What `steward schedule run-due` reports.
#[derive(Debug, Default, serde::Serialize)]
pub struct RunDueSummary {
    pub delivered: usize,
    pub succeeded: usize,
    pub retrying: usize,
    pub failed: usize,
}

pub fn lock_path(db: &Path) -> PathBuf {
    suffixed(db, ".scheduler-lock")
}

pub fn socket_path(db: &Path) -> PathBuf {
    suffixed(db, ".scheduler-wake")
}

fn suffixed(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Tells a running scheduler on this database that schedules changed (from another process,
/// like the CLI). Nothing listening is fine.
pub fn poke_from_outside(db: &Path) {
    if let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() {
        let _ = sock.send_to(b"!", socket_path(db));
    }
}

/// Takes the scheduler lock of this database, if no live process holds it.
pub(crate) fn try_lock(db: &Path) -> Result<Option<std::fs::File>, AppError> {
    let path = lock_path(db);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("opening {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(AppError::Internal(anyhow::anyhow!("locking {}: {e}", path.display())))
        }
    }
}

impl Scheduler {
    /// A scheduler over `services`, delivering conversation runs through `conversations`.
    pub fn new(
        services: Services,
        conversations: Arc<dyn ConversationDelivery>,
    ) -> (Scheduler, SchedulerHandle) {
        let (stop, _) = watch::channel(false);
        let handle = SchedulerHandle { stop: Arc::new(stop), done: Arc::new(tokio::sync::Mutex::new(None)) };
        let scheduler = Scheduler {
            services,
            conversations,
            instance: format!("{}-{}", std::process::id(), crate::auth::random_token(6)),
            workers: WORKERS,
        };
        (scheduler, handle)
    }

    /// Starts the scheduler task; the handle stops it.
    pub fn spawn(self, handle: &SchedulerHandle) {
        let stop = handle.stop.subscribe();
        let task = tokio::spawn(Arc::new(self).run(stop));
        if let Ok(mut slot) = handle.done.try_lock() {
            *slot = Some(task);
        }
    }

    async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        // Only one process delivers per database; a second one waits as a standby.
        let mut told = false;
        let _lock = loop {
            match try_lock(&self.services.config.db) {
                Ok(Some(file)) => break file,
                Ok(None) => {
                    if !told {
                        tracing::warn!(
                            "another Steward process runs the scheduler for this database; standing by"
                        );
                        told = true;
                    }
                }
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "the scheduler cannot start");
                    return;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(StdDuration::from_secs(5)) => {}
                _ = stop.changed() => return,
            }
        };
        let socket = self.bind_wake_socket();
        if let Err(e) = self.recover().await {
            tracing::error!(error = format!("{e:#}"), "recovering interrupted runs");
        }
        let next_due = NextDue::default();
        let pruner = tokio::spawn(prune_every(self.services.clone(), next_due.clone())).abort_handle();
        // Deliveries run as tasks and send their results back here; the next turn records all
        // that came in, in one transaction, before it starts anything new.
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Finished>();
        let mut inflight: JoinSet<()> = JoinSet::new();
        // Runs started and not yet recorded, per agent (their sum is the busy part of the pool).
        let mut busy: HashMap<String, usize> = HashMap::new();
        let mut finished: Vec<Finished> = Vec::new();
        let mut wake_at: Option<DateTime<Utc>> = None;
        let mut buf = [0u8; 16];
        loop {
            if *stop.borrow() {
                break;
            }
            while let Ok(f) = done_rx.try_recv() {
                finished.push(f);
            }
            // These slots are free for this turn: it records their runs before starting others.
            for f in &finished {
                if let Some(n) = busy.get_mut(&f.started.agent.name) {
                    *n = n.saturating_sub(1);
                }
            }
            let free = self.workers.saturating_sub(busy.values().sum());
            let turn = match self.turn(wake_at, std::mem::take(&mut finished), &busy, free).await {
                Ok(turn) => turn,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "scheduler turn failed");
                    Turn {
                        next_wake: Some(self.services.clock.now() + Duration::seconds(1)),
                        ..Turn::default()
                    }
                }
            };
            for claimed in turn.sends {
                let services = self.services.clone();
                inflight.spawn(async move { crate::notify::deliver(&services, claimed).await });
            }
            for started in turn.started {
                *busy.entry(started.agent.name.clone()).or_default() += 1;
                let me = self.clone();
                let done = done_tx.clone();
                inflight.spawn(async move {
                    let _ = done.send(me.deliver(started).await);
                });
            }
            // Ended tasks already sent their results; just let them go.
            while inflight.try_join_next().is_some() {}
            wake_at = turn.next_wake;
            next_due.set(if turn.more_due { Some(self.services.clock.now()) } else { turn.next_wake });
            let sleep = if turn.more_due {
                StdDuration::ZERO
            } else {
                let now = self.services.clock.now();
                turn.next_wake
                    .map(|w| (w - now).to_std().unwrap_or(StdDuration::ZERO).saturating_sub(EARLY))
                    .unwrap_or(MAX_SLEEP)
                    .min(MAX_SLEEP)
            };
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = self.services.wake.poked() => {}
                Some(f) = done_rx.recv() => finished.push(f),
                _ = recv(&socket, &mut buf) => {}
                _ = stop.changed() => {}
            }
        }
        // A batch under way finishes on its blocking thread; no new one starts.
        pruner.abort();
        // Graceful stop: let deliveries finish and record them, then release what still runs.
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, async { while inflight.join_next().await.is_some() {} })
            .await;
        inflight.shutdown().await;
        while let Ok(f) = done_rx.try_recv() {
            finished.push(f);
        }
        self.record(finished).await;
        if let Err(e) = self.release("Steward stopped during this delivery").await {
            tracing::error!(error = format!("{e:#}"), "releasing runs at shutdown");
        }
        if socket.is_some() {
            let _ = std::fs::remove_file(socket_path(&self.services.config.db));
        }
    }

    fn bind_wake_socket(&self) -> Option<tokio::net::UnixDatagram> {
        let path = socket_path(&self.services.config.db);
        // We hold the lock: a socket file left here is from a dead process.
        let _ = std::fs::remove_file(&path);
        match tokio::net::UnixDatagram::bind(&path) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "no wake-up socket; CLI changes are seen within 30 s");
                None
            }
        }
    }

    /// At start-up, with the lock held: runs marked running belong to a process that died.
    async fn recover(&self) -> Result<(), AppError> {
        let now = self.services.clock.now();
        let sends = self.services.db.run(move |conn| crate::notify::release(conn, now)).await?;
        if sends > 0 {
            tracing::warn!(deliveries = sends, "queued again notifications interrupted by a stop");
        }
        let n = self.release("the process delivering this run stopped (crash or kill)").await?;
        if n > 0 {
            tracing::warn!(runs = n, "queued again runs interrupted by a stop");
        }
        Ok(())
    }

    /// Puts every running run back in the queue, now, recording why its attempt ended.
    async fn release(&self, why: &'static str) -> Result<usize, AppError> {
        let now = to_ms(self.services.clock.now());
        self.services
            .db
            .run(move |conn| {
                crate::db::write(conn, |conn| {
                    let held: Vec<(i32, i32)> = runs::table
                        .filter(runs::state.eq("running"))
                        .select((runs::id, runs::attempt))
                        .load(conn)?;
                    for (id, attempt) in &held {
                        diesel::update(run_attempts::table.find((id, attempt)))
                            .set((run_attempts::finished_at.eq(now), run_attempts::error.eq(why)))
                            .execute(conn)?;
                    }
                    diesel::update(runs::table.filter(runs::state.eq("running")))
                        .set((
                            runs::state.eq("queued"),
                            runs::not_before.eq(now),
                            runs::lease_owner.eq(None::<String>),
                            runs::lease_until.eq(None::<i64>),
                            runs::error.eq(why),
                        ))
                        .execute(conn)?;
                    Ok(held.len())
                })
            })
            .await
    }

    /// One turn: record finished deliveries, claim what is due, start what is ready, and say
    /// when to look again. A turn that starts less than [`EARLY`] before `wake_at` (the
    /// instant the loop slept for) first waits for it.
    async fn turn(
        &self,
        wake_at: Option<DateTime<Utc>>,
        finished: Vec<Finished>,
        busy: &HashMap<String, usize>,
        free: usize,
    ) -> Result<Turn, AppError> {
        let clock = self.services.clock.clone();
        let config = self.services.config.clone();
        let busy = busy.clone();
        let instance = self.instance.clone();
        let events = self.services.events.clone();
        let metrics = self.services.metrics.clone();
        self.services
            .db
            .run(move |conn| {
                if let Some(wait) = wake_at.and_then(|at| (at - clock.now()).to_std().ok())
                    && wait <= EARLY
                {
                    std::thread::sleep(wait);
                }
                let now = clock.now();
                record_all(conn, finished, &events, &metrics);
                let turn = crate::db::write(conn, |conn| {
                    let more_due = claim_due(conn, now)?;
                    let started = start_ready(conn, &config, now, &busy, free, &instance, &metrics)?;
                    let sends = crate::notify::claim_due(conn, now, config.public_url.as_deref())?;
                    Ok(Turn { started, sends, more_due, next_wake: None })
                })?;
                for s in &turn.started {
                    // The run history's lateness: its first attempt's start minus its instant.
                    if s.run.attempt == 1 {
                        metrics.lateness(to_ms(now) - s.run.scheduled_for);
                    }
                    events.send(Event::Run {
                        id: s.run.id,
                        schedule_id: s.run.schedule_id,
                        state: "running",
                    });
                }
                Ok(Turn { next_wake: next_wake(conn, now)?, ..turn })
            })
            .await
    }

    /// Records finished deliveries (outside a turn).
    async fn record(&self, finished: Vec<Finished>) {
        if finished.is_empty() {
            return;
        }
        let (events, metrics) = (self.services.events.clone(), self.services.metrics.clone());
        let n = finished.len();
        let recorded = self
            .services
            .db
            .run(move |conn| {
                record_all(conn, finished, &events, &metrics);
                Ok(())
            })
            .await;
        if let Err(e) = recorded {
            tracing::error!(runs = n, error = format!("{e:#}"), "recording deliveries");
        }
    }

    async fn deliver(&self, started: Started) -> Finished {
        let run = &started.run;
        let delivery = Delivery {
            schedule_id: run.schedule_id,
            run_id: run.id,
            idempotency_key: run.idempotency_key.clone(),
            prompt: run.prompt.clone(),
            scheduled_for: from_ms(run.scheduled_for),
            attempt: run.attempt,
        };
        let result = match (started.agent.kind, run.schedule_id) {
            (AgentKind::Llm | AgentKind::Letta, Some(schedule)) => {
                self.conversations.deliver_run(schedule, &delivery).await
            }
            // Steward's own periodic work (calendar subscriptions): a run like any other, so it
            // is claimed crash-safely, retried, and shown in the run history.
            // Briefings are the system agent's too (`briefing <name>`).
            (AgentKind::System, _) if crate::briefings::is_job(&delivery.prompt) => {
                crate::briefings::system_job(&self.services, &delivery).await
            }
            (AgentKind::System, _) => {
                crate::calendar::subscriptions::system_job(&self.services, &delivery).await
            }
            _ => deliver::deliver(&self.services.http, &started.agent, &delivery).await,
        };
        Finished { started, result, at: self.services.clock.now() }
    }

    /// `steward schedule run-due`: delivers what is due now, waits for it, and returns.
    /// Runs whose retry falls later are left for the next call (or the server).
    pub async fn run_due_once(self) -> Result<RunDueSummary, AppError> {
        let Some(_lock) = try_lock(&self.services.config.db)? else {
            return Err(AppError::invalid(
                "run-due",
                "a steward server is running the scheduler for this database; it delivers due prompts itself",
            ));
        };
        let me = Arc::new(self);
        me.recover().await?;
        let mut summary = RunDueSummary::default();
        let mut seen = std::collections::HashSet::new();
        loop {
            let turn = me.turn(None, Vec::new(), &HashMap::new(), me.workers).await?;
            for claimed in turn.sends {
                crate::notify::deliver(&me.services, claimed).await;
            }
            if turn.started.is_empty() && !turn.more_due {
                break;
            }
            // Per-agent limits hold here too: deliver one agent's runs one after another.
            let mut by_agent: HashMap<String, Vec<Started>> = HashMap::new();
            for s in turn.started {
                by_agent.entry(s.agent.name.clone()).or_default().push(s);
            }
            let mut tasks = JoinSet::new();
            for (_, list) in by_agent {
                let me = me.clone();
                tasks.spawn(async move {
                    let mut done = Vec::new();
                    for s in list {
                        done.push(me.deliver(s).await);
                    }
                    done
                });
            }
            let mut finished = Vec::new();
            while let Some(Ok(done)) = tasks.join_next().await {
                seen.extend(done.iter().map(|f| f.started.run.id));
                finished.extend(done);
            }
            me.record(finished).await;
        }
        let ids: Vec<i32> = seen.into_iter().collect();
        let states: Vec<(String, i32)> = me
            .services
            .db
            .run(move |conn| {
                Ok(runs::table
                    .filter(runs::id.eq_any(ids))
                    .select((runs::state, runs::attempt))
                    .load(conn)?)
            })
            .await?;
        summary.delivered = states.len();
        for (state, _) in states {
            match state.as_str() {
                "succeeded" => summary.succeeded += 1,
                "queued" => summary.retrying += 1,
                _ => summary.failed += 1,
            }
        }
        Ok(summary)
    }
}

/// Prunes history by the person's retention settings, every [`PRUNE_EVERY`], for as long as
/// the scheduler runs (it aborts this task when it stops).
async fn prune_every(services: Services, next_due: NextDue) {
    let mut wait = PRUNE_FIRST;
    loop {
        tokio::time::sleep(wait).await;
        wait = PRUNE_EVERY;
        let config = services.config.clone();
        let pass = async {
            let keep = services.db.run(move |conn| crate::retention::load(conn, &config)).await?;
            crate::retention::prune(&services.db, &services.clock, &keep, &next_due).await
        };
        match pass.await {
            Ok(r) if r.runs + r.notifications > 0 => tracing::info!(
                runs = r.runs,
                notifications = r.notifications,
                freed_pages = r.vacuumed_pages,
                batches = r.batches,
                longest_batch_ms = r.longest_batch.as_secs_f64() * 1000.0,
                seconds = r.took.as_secs_f64(),
                "pruned history"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = format!("{e:#}"), "pruning history failed; trying again later"),
        }
    }
}

async fn recv(socket: &Option<tokio::net::UnixDatagram>, buf: &mut [u8]) {
    match socket {
        Some(s) => {
            let _ = s.recv(buf).await;
        }
        None => std::future::pending().await,
    }
}

// A note on the queries below, which run on every turn: `get_result` rather than `first`, and
// no `limit` where it can be helped, because SQLite plans a statement with a bound LIMIT again
// on every execution (as with `state = ?`, see `Queued`), and that costs more than the query.

/// The earliest firing of an active schedule.
fn next_fire(conn: &mut Conn) -> Result<Option<i64>, AppError> {
    // A bare `active` (not `active = ?`): only then can SQLite prove the query matches the
    // partial index `schedules_due`; otherwise it scans the table on every turn.
    Ok(schedules::table
        .filter(schedules::active)
        .filter(schedules::deleted_at.is_null())
        .filter(schedules::next_fire_at.is_not_null())
        .select(diesel::dsl::min(schedules::next_fire_at))
        .get_result(conn)?)
}

/// The earliest instant something becomes due: a schedule's firing or a retry.
fn next_wake(conn: &mut Conn, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, AppError> {
    let retry: Option<i64> = runs::table
        .filter(runs::state.eq(Queued))
        .filter(runs::not_before.gt(to_ms(now)))
        .select(diesel::dsl::min(runs::not_before))
        .get_result(conn)?;
    let send = crate::notify::next_due(conn)?;
    Ok([next_fire(conn)?, retry, send].into_iter().flatten().min().map(from_ms))
}

/// The first firing of `s` strictly after `after` that respects its `until` and `count`.
fn next_for(
    s: &Schedule,
    spec: &crate::schedules::spec::Spec,
    after: DateTime<Utc>,
    fired: i32,
) -> Option<DateTime<Utc>> {
    if s.max_count.is_some_and(|max| fired >= max) {
        return None;
    }
    spec.next_after(after, s.zone(), from_ms(s.anchor_at))
        .filter(|n| s.until_at.is_none_or(|u| to_ms(*n) <= u))
}

/// Claims every due schedule (up to a batch): queues its run(s) and advances its next firing.
/// Returns whether more are due than this batch took.
fn claim_due(conn: &mut Conn, now: DateTime<Utc>) -> Result<bool, AppError> {
    // Most turns (a delivery ended) find nothing due: the cheap question first.
    if next_fire(conn)?.is_none_or(|t| t > to_ms(now)) {
        return Ok(false);
    }
    // Bare `active`, so that `schedules_due` is used (see `next_fire`).
    let due: Vec<Schedule> = schedules::table
        .filter(schedules::active)
        .filter(schedules::deleted_at.is_null())
        .filter(schedules::next_fire_at.le(to_ms(now)))
        .order(schedules::next_fire_at.asc())
        .limit(CLAIM_BATCH)
        .select(Schedule::as_select())
        .load(conn)?;
    let more = due.len() as i64 == CLAIM_BATCH;
    let mut firings = Vec::with_capacity(due.len());
    for s in due {
        let Some(first) = s.next_fire() else { continue };
        if s.kind == crate::reminders::KIND {
            // A reminder's instants come from its task or event, not from a timing rule.
            let next = crate::reminders::next_after(conn, &s, first.max(now))?;
            firings.push(NewRun::for_schedule(&s, first, "schedule"));
            diesel::update(schedules::table.find(s.id))
                .set((
                    schedules::fired_count.eq(s.fired_count + 1),
                    schedules::next_fire_at.eq(next.map(due_ms)),
                ))
                .execute(conn)?;
            continue;
        }
        let spec = match s.parsed() {
            Ok(spec) => spec,
            Err(e) => {
                diesel::update(schedules::table.find(s.id))
                    .set((schedules::active.eq(false), schedules::note.eq(format!("Paused: {e}"))))
                    .execute(conn)?;
                continue;
            }
        };
        let second = next_for(&s, &spec, first, s.fired_count + 1);
        let behind = now - first > MISFIRE_GRACE || second.is_some_and(|t| t <= now);
        let (fire, trigger, note): (Vec<DateTime<Utc>>, &str, Option<String>) = if !behind {
            (vec![first], "schedule", None)
        } else {
            let mut missed = vec![first];
            let mut t = first;
            while missed.len() <= CATCH_UP_CAP {
                match next_for(&s, &spec, t, s.fired_count + missed.len() as i32) {
                    Some(n) if n <= now => {
                        missed.push(n);
                        t = n;
                    }
                    _ => break,
                }
            }
            let count = if missed.len() > CATCH_UP_CAP {
                format!("more than {CATCH_UP_CAP}")
            } else {
                missed.len().to_string()
            };
            match s.misfire.as_str() {
                "skip" => (vec![], "schedule", Some(format!("Skipped {count} firing(s) missed while Steward was not running (misfire policy: skip)."))),
                "all" => {
                    missed.truncate(CATCH_UP_CAP);
                    (missed, "catch-up", None)
                }
                _ => (vec![first], "catch-up", (missed.len() > 1).then(|| format!("Missed {count} firings while Steward was not running; ran once to catch up (misfire policy: once)."))),
            }
        };
        firings.extend(fire.iter().map(|at| NewRun::for_schedule(&s, *at, trigger)));
        let fired = s.fired_count + fire.len() as i32;
        let next = if behind { next_for(&s, &spec, now, fired) } else { second };
        diesel::update(schedules::table.find(s.id))
            .set((
                schedules::next_fire_at.eq(next.map(due_ms)),
                schedules::fired_count.eq(fired),
                schedules::note.eq(note.or(s.note.clone())),
            ))
            .execute(conn)?;
    }
    crate::runs::insert_many(conn, &firings, now)?;
    Ok(more)
}

/// The agents that have queued runs, found by seeking `runs_queued` from one name to the next
/// (a few index seeks, however long the queue).
fn queued_agents(conn: &mut Conn) -> Result<Vec<String>, AppError> {
    let mut found = Vec::new();
    let mut next: Option<String> =
        runs::table.filter(runs::state.eq(Queued)).select(diesel::dsl::min(runs::agent)).get_result(conn)?;
    while let Some(agent) = next {
        next = runs::table
            .filter(runs::state.eq(Queued))
            .filter(runs::agent.gt(&agent))
            .select(diesel::dsl::min(runs::agent))
            .get_result(conn)?;
        found.push(agent);
    }
    Ok(found)
}

/// Marks ready runs running, by priority then due time, within the free worker slots and each
/// agent's concurrency. Runs for agents that no longer exist fail here, with that reason.
fn start_ready(
    conn: &mut Conn,
    config: &Config,
    now: DateTime<Utc>,
    busy: &HashMap<String, usize>,
    free: usize,
    instance: &str,
    metrics: &crate::metrics::Metrics,
) -> Result<Vec<Started>, AppError> {
    if free == 0 {
        return Ok(Vec::new());
    }
    let now_ms = to_ms(now);
    let agents: HashMap<String, Agent> =
        agents::list(conn, config)?.into_iter().map(|a| (a.name.clone(), a)).collect();
    // Each agent's first ready runs, as many as it has free slots (and the pool has).
    let mut ready: Vec<(Run, Option<String>, Option<String>)> = Vec::new();
    for name in queued_agents(conn)? {
        let Some(agent) = agents.get(&name) else {
            let failed = diesel::update(
                runs::table
                    .filter(runs::state.eq(Queued))
                    .filter(runs::agent.eq(&name))
                    .filter(runs::not_before.le(now_ms)),
            )
            .set((
                runs::state.eq("failed"),
                runs::finished_at.eq(now_ms),
                runs::error.eq(format!("no agent named {name:?} exists any more")),
            ))
            .execute(conn)?;
            metrics.runs_ended("failed", failed as u64);
            continue;
        };
        let limit = usize::try_from(agent.concurrency).unwrap_or(0);
        let room = limit.saturating_sub(busy.get(&name).copied().unwrap_or(0)).min(free);
        if room == 0 {
            continue;
        }
        // Walks this agent's part of `runs_queued` in order and stops after `room` runs (an
        // iterator, not a LIMIT: see `next_fire`). Most queued runs are ready: without `likely`
        // SQLite would rather range over `runs_retry` and sort the whole queue.
        let runs = runs::table
            .left_join(schedules::table)
            .filter(runs::state.eq(Queued))
            .filter(runs::agent.eq(&name))
            .filter(likely(runs::not_before.le(now_ms)))
            .order((runs::priority.asc(), runs::scheduled_for.asc(), runs::id.asc()))
            .select((Run::as_select(), schedules::name.nullable(), schedules::answer_to.nullable()))
            .load_iter::<(Run, Option<String>, Option<String>), diesel::connection::DefaultLoadingMode>(conn)?
            .take(room)
            .collect::<QueryResult<Vec<_>>>()?;
        ready.extend(runs);
    }
    // Merged in queue order, these are the runs a walk of the whole queue would start, passing
    // over agents that are full, until the pool is full.
    ready.sort_by_key(|(r, _, _)| (r.priority, r.scheduled_for, r.id));
    ready.truncate(free);
    // A few statements for the whole batch, not a few per run: diesel prepares every UPDATE
    // afresh, which costs more than the update itself.
    let mut started = Vec::with_capacity(ready.len());
    for (run, schedule_name, answer_to) in ready {
        let Some(agent) = agents.get(&run.agent) else { continue };
        let attempt = run.attempt + 1;
        let started_at = run.started_at.unwrap_or(now_ms);
        let run = Run { state: "running".into(), attempt, started_at: Some(started_at), ..run };
        let answer_to = answer_to.as_deref().map(crate::schedules::parse_answer_to).unwrap_or_default();
        started.push(Started { run, agent: agent.clone(), schedule_name, answer_to });
    }
    let mut by_agent: HashMap<&str, (&Agent, Vec<i32>)> = HashMap::new();
    for s in &started {
        by_agent.entry(&s.agent.name).or_insert((&s.agent, Vec::new())).1.push(s.run.id);
    }
    for (agent, ids) in by_agent.into_values() {
        let lease = now_ms + agent.timeout().as_millis() as i64 + 60_000;
        diesel::update(runs::table.filter(runs::id.eq_any(&ids)))
            .set((
                runs::state.eq("running"),
                runs::attempt.eq(runs::attempt + 1),
                runs::lease_owner.eq(instance),
                runs::lease_until.eq(lease),
                // A retry keeps the start of its first attempt.
                runs::started_at.eq(coalesce(runs::started_at, Some(now_ms))),
            ))
            .execute(conn)?;
    }
    if !started.is_empty() {
        let attempts: Vec<_> = started
            .iter()
            .map(|s| {
                (
                    run_attempts::run_id.eq(s.run.id),
                    run_attempts::attempt.eq(s.run.attempt),
                    run_attempts::started_at.eq(now_ms),
                )
            })
            .collect();
        diesel::insert_into(run_attempts::table)
            .values(attempts)
            .on_conflict((run_attempts::run_id, run_attempts::attempt))
            .do_update()
            .set((
                run_attempts::started_at.eq(diesel::upsert::excluded(run_attempts::started_at)),
                run_attempts::finished_at.eq(None::<i64>),
            ))
            .execute(conn)?;
    }
    Ok(started)
}

/// The delay before retry `attempt + 1`: base × 2^(attempt-1), ±20 % jitter so that runs that
/// failed together do not retry together.
pub fn backoff(base_secs: i32, attempt: i32) -> Duration {
    let exp = (attempt - 1).clamp(0, 16) as u32;
    let ms = i64::from(base_secs) * 1000 * (1i64 << exp);
    let mut byte = [0u8; 2];
    let _ = getrandom::fill(&mut byte);
    let jitter = (i64::from(u16::from_le_bytes(byte)) % 401) - 200; // -200..=200 per mille
    Duration::milliseconds(ms + ms * jitter / 1000)
}

/// Records finished deliveries: all in one transaction or, should that fail, each in its own,
/// so that one bad record cannot hold back the rest. A record that still cannot be written is
/// logged; its run stays running until the next start-up queues it again, as after a crash.
fn record_all(conn: &mut Conn, finished: Vec<Finished>, events: &Events, metrics: &crate::metrics::Metrics) {
    if finished.is_empty() {
        return;
    }
    let together = crate::db::write(conn, |conn| {
        let mut streaks = Streaks::load(conn, &finished)?;
        finished.iter().map(|f| record(conn, f, &mut streaks)).collect::<Result<Vec<_>, AppError>>()
    });
    let outcomes: Vec<Option<Recorded>> = match together {
        Ok(all) => all.into_iter().map(Some).collect(),
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "recording deliveries together failed; one by one");
            finished
                .iter()
                .map(|f| {
                    let one = crate::db::write(conn, |conn| {
                        let mut streaks = Streaks::load(conn, std::slice::from_ref(f))?;
                        record(conn, f, &mut streaks)
                    });
                    if let Err(e) = &one {
                        let run = f.started.run.id;
                        tracing::error!(run, error = format!("{e:#}"), "recording a delivery");
                    }
                    one.ok()
                })
                .collect()
        }
    };
    for (f, outcome) in finished.iter().zip(outcomes) {
        let Some((state, notes)) = outcome else { continue };
        metrics.runs_ended(state, 1);
        let run = &f.started.run;
        events.send(Event::Run { id: run.id, schedule_id: run.schedule_id, state });
        for n in notes {
            events.send(Event::notification(&n));
        }
    }
}

/// A run's new state and the notifications its result raised.
type Recorded = (&'static str, Vec<notifications::Notification>);

/// The schedules, among a batch's, whose runs are failing in a row: read once per batch, so a
/// success writes to its schedule only when it ends a streak (most successes follow successes).
struct Streaks(std::collections::HashSet<i32>);

impl Streaks {
    fn load(conn: &mut Conn, finished: &[Finished]) -> Result<Streaks, AppError> {
        let ids: Vec<i32> = finished.iter().filter_map(|f| f.started.run.schedule_id).collect();
        let failing: Vec<i32> = schedules::table
            .filter(schedules::id.eq_any(ids))
            .filter(schedules::failure_streak.ne(0))
            .select(schedules::id)
            .load(conn)?;
        Ok(Streaks(failing.into_iter().collect()))
    }
}

/// Records one delivery's result, in the caller's transaction.
fn record(conn: &mut Conn, f: &Finished, streaks: &mut Streaks) -> Result<Recorded, AppError> {
    let Started { run, agent, schedule_name, answer_to } = &f.started;
    let now = f.at;
    let now_ms = to_ms(now);
    let title = schedule_name.clone().unwrap_or_else(|| format!("Run {}", run.id));
    let mut notes = Vec::new();
    let error = f.result.as_ref().err().map(|f| f.message.clone());
    diesel::update(run_attempts::table.find((run.id, run.attempt)))
        .set((run_attempts::finished_at.eq(now_ms), run_attempts::error.eq(&error)))
        .execute(conn)?;
    let state = match &f.result {
        Ok(output) => {
            diesel::update(runs::table.find(run.id))
                .set((
                    runs::state.eq("succeeded"),
                    runs::finished_at.eq(now_ms),
                    runs::output.eq(output),
                    runs::error.eq(None::<String>),
                    runs::lease_owner.eq(None::<String>),
                    runs::lease_until.eq(None::<i64>),
                ))
                .execute(conn)?;
            if let Some(id) = run.schedule_id
                && streaks.0.remove(&id)
            {
                diesel::update(schedules::table.find(id))
                    .set(schedules::failure_streak.eq(0))
                    .execute(conn)?;
            }
            let reminder = match run.schedule_id {
                Some(id) if agent.kind == AgentKind::Notify => crate::reminders::of_schedule(conn, id)?,
                _ => None,
            };
            if let Some(s) = reminder {
                // Written from the task or event as it is now; nothing when it was completed.
                let composed = crate::reminders::compose(conn, &s, from_ms(run.scheduled_for), now)?;
                let said = composed.as_ref().map_or("Nothing to remind of any more.", |n| n.body.as_str());
                diesel::update(runs::table.find(run.id)).set(runs::output.eq(said)).execute(conn)?;
                if let Some(n) = composed {
                    let n = NewNotification { run_id: Some(run.id), ..n };
                    notes.push(crate::notify::send(conn, &n, crate::notify::Topic::Reminders, now)?);
                }
            } else if agent.kind == AgentKind::Notify {
                let note = crate::notify::send(
                    conn,
                    &NewNotification {
                        title,
                        body: output.clone(),
                        level: "info",
                        run_id: Some(run.id),
                        schedule_id: run.schedule_id,
                        ..Default::default()
                    },
                    crate::notify::Topic::Notify,
                    now,
                )?;
                // Its message is the answer: the chosen channels get it too (once each).
                crate::notify::queue_to(conn, note.id, answer_to, now)?;
                notes.push(note);
            } else if !answer_to.is_empty() {
                // The answer to the person's chosen channels (and in-app, where it links from).
                notes.push(crate::notify::send_to(
                    conn,
                    &NewNotification {
                        title,
                        body: crate::notify::answer_body(output),
                        level: "info",
                        run_id: Some(run.id),
                        schedule_id: run.schedule_id,
                        ..Default::default()
                    },
                    answer_to,
                    now,
                )?);
            }
            "succeeded"
        }
        Err(f) if f.retryable && run.attempt < run.max_attempts => {
            let at = now + backoff(run.retry_base_secs, run.attempt);
            diesel::update(runs::table.find(run.id))
                .set((
                    runs::state.eq("queued"),
                    runs::not_before.eq(due_ms(at)),
                    runs::error.eq(&f.message),
                    runs::lease_owner.eq(None::<String>),
                    runs::lease_until.eq(None::<i64>),
                ))
                .execute(conn)?;
            tracing::warn!(
                run = run.id, schedule = %title, agent = %agent.name, attempt = run.attempt, of = run.max_attempts,
                retry_at = %at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                retry_in_secs = ((at - now).num_milliseconds() + 500) / 1000, error = %f.message,
                "delivery failed; will retry"
            );
            "retrying"
        }
        Err(f) => {
            diesel::update(runs::table.find(run.id))
                .set((
                    runs::state.eq("failed"),
                    runs::finished_at.eq(now_ms),
                    runs::error.eq(&f.message),
                    runs::lease_owner.eq(None::<String>),
                    runs::lease_until.eq(None::<i64>),
                ))
                .execute(conn)?;
            tracing::error!(
                run = run.id, schedule = %title, agent = %agent.name, attempts = run.attempt, error = %f.message,
                "run failed"
            );
            let tries =
                if run.attempt == 1 { "1 attempt".to_string() } else { format!("{} attempts", run.attempt) };
            notes.push(crate::notify::send(
                conn,
                &NewNotification {
                    title: format!("{title} failed"),
                    body: format!("After {tries} to {}: {}", agent.name, f.message),
                    level: "error",
                    run_id: Some(run.id),
                    schedule_id: run.schedule_id,
                    ..Default::default()
                },
                crate::notify::Topic::RunFailures,
                now,
            )?);
            if let Some(id) = run.schedule_id {
                streaks.0.insert(id);
                notes.extend(count_failure(conn, id, &title, &f.message, now)?);
            }
            "failed"
        }
    };
    Ok((state, notes))
}

/// One more failed run in a row; at the limit the schedule pauses itself and says why.
fn count_failure(
    conn: &mut Conn,
    id: i32,
    title: &str,
    error: &str,
    now: DateTime<Utc>,
) -> Result<Option<notifications::Notification>, AppError> {
    let streak: i32 = diesel::update(schedules::table.find(id))
        .set(schedules::failure_streak.eq(schedules::failure_streak + 1))
        .returning(schedules::failure_streak)
        .get_result(conn)?;
    if streak < Guards::load(conn)?.pause_after_failures {
        return Ok(None);
    }
    let why = format!("Paused itself after {streak} failed runs in a row. Last error: {error}");
    let paused = diesel::update(schedules::table.find(id).filter(schedules::active.eq(true)))
        .set((schedules::active.eq(false), schedules::note.eq(&why), schedules::updated_at.eq(to_ms(now))))
        .execute(conn)?;
    if paused == 0 {
        return Ok(None);
    }
    tracing::warn!(schedule = %title, schedule_id = id, failed_runs = streak, "schedule paused itself");
    Ok(Some(crate::notify::send(
        conn,
        &NewNotification {
            title: format!("{title} paused"),
            body: why,
            level: "error",
            run_id: None,
            schedule_id: Some(id),
            ..Default::default()
        },
        crate::notify::Topic::RunFailures,
        now,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::{AgentConfigPatch, AgentInput};
    use crate::clock::{Clock, SystemClock};
    use crate::db::Db;
    use crate::services::Actor;

    fn hook(conn: &mut Conn, name: &str, concurrency: i32) {
        let input = AgentInput {
            name: Some(name.into()),
            kind: Some("webhook".into()),
            concurrency: Some(concurrency),
            config: AgentConfigPatch {
                url: Some("http://127.0.0.1:9/hook".into()),
                secret: Some("s".into()),
                ..AgentConfigPatch::default()
            },
        };
        agents::add(conn, SystemClock.now(), input, Actor::Person).unwrap();
    }

    fn queue(conn: &mut Conn, key: &str, agent: &str, priority: i32, at: DateTime<Utc>) -> i32 {
        let run = NewRun {
            schedule_id: None,
            idempotency_key: key.into(),
            agent: agent.into(),
            prompt: key.into(),
            priority,
            scheduled_for: at,
            trigger: "test".into(),
            max_attempts: 3,
            retry_base_secs: 30,
        };
        crate::runs::insert(conn, &run, at).unwrap().unwrap().id
    }

    fn state(conn: &mut Conn, id: i32) -> String {
        crate::runs::get(conn, id).unwrap().state
    }

    #[test]
    fn ready_runs_start_in_priority_order_within_each_agents_limit() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        let mut conn = db.conn().unwrap();
        let config = Config::default();
        hook(&mut conn, "one", 1);
        hook(&mut conn, "two", 2);
        let now = SystemClock.now();
        let t = |s: i64| now - Duration::seconds(s);
        let one_low = queue(&mut conn, "one-low", "one", 3, t(50));
        let one_high = queue(&mut conn, "one-high", "one", 1, t(10));
        let two_old = queue(&mut conn, "two-old", "two", 2, t(40));
        let two_new = queue(&mut conn, "two-new", "two", 2, t(30));
        let two_newest = queue(&mut conn, "two-newest", "two", 2, t(20));
        let two_urgent = queue(&mut conn, "two-urgent", "two", 0, t(5));
        let later = queue(&mut conn, "later", "two", 0, now + Duration::seconds(60));
        let orphan = queue(&mut conn, "orphan", "gone", 2, t(60));

        // Three slots: "two" takes its urgent run, "one" its high one, then "two" its oldest.
        let started: Vec<i32> = crate::db::write(&mut conn, |c| {
            start_ready(c, &config, now, &HashMap::new(), 3, "test", &Default::default())
        })
        .unwrap()
        .into_iter()
        .map(|s| s.run.id)
        .collect();
        assert_eq!(started, [two_urgent, one_high, two_old]);
        for id in started {
            assert_eq!(state(&mut conn, id), "running");
            assert_eq!(crate::runs::attempts(&mut conn, id).unwrap().len(), 1);
        }
        for id in [one_low, two_new, two_newest, later] {
            assert_eq!(state(&mut conn, id), "queued");
        }
        let lost = crate::runs::get(&mut conn, orphan).unwrap();
        assert_eq!(lost.state, "failed");
        assert!(lost.error.unwrap().contains("no agent named \"gone\""));

        // "one" is busy (its limit is 1) and "two" has one slot left: only "two" starts one.
        let busy = HashMap::from([("one".to_string(), 1), ("two".to_string(), 1)]);
        let started: Vec<i32> = crate::db::write(&mut conn, |c| {
            start_ready(c, &config, now, &busy, 32, "test", &Default::default())
        })
        .unwrap()
        .into_iter()
        .map(|s| s.run.id)
        .collect();
        assert_eq!(started, [two_new]);
        assert_eq!(queued_agents(&mut conn).unwrap(), ["one", "two"]);
        assert_eq!(next_wake(&mut conn, now).unwrap(), Some(from_ms(to_ms(now + Duration::seconds(60)))));
    }

    #[test]
    fn nothing_is_claimed_or_started_before_its_instant() {
        use crate::schedules::{ScheduleInput, service};
        use crate::services::Ctx;
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        let mut conn = db.conn().unwrap();
        let config = Config::default();
        hook(&mut conn, "h", 4);
        let t0 = from_ms(to_ms(SystemClock.now()) / 86_400_000 * 86_400_000 + 86_400_000); // a UTC midnight ahead
        let ctx = Ctx { now: t0 - Duration::hours(1), tz: chrono_tz::UTC, actor: Actor::Person };
        let micros = |us: i64| t0 + Duration::microseconds(us);
        // Asked for 0.4 ms past midnight: kept as 1 ms past (rounded up, never down).
        let once = ScheduleInput {
            prompt: Some("once".into()),
            agent: Some("h".into()),
            at: Some(micros(400).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
            ..ScheduleInput::default()
        };
        service::create(&mut conn, &ctx, &config, &once).unwrap();
        // A midnight job.
        let midnight = ScheduleInput {
            prompt: Some("midnight".into()),
            agent: Some("h".into()),
            cron: Some("0 0 * * *".into()),
            tz: Some("UTC".into()),
            ..ScheduleInput::default()
        };
        service::create(&mut conn, &ctx, &config, &midnight).unwrap();
        let mut started = Vec::new();
        for (us, expected) in [(-2_000, 0), (-300, 0), (-1, 0), (0, 1), (400, 0), (999, 0), (1_000, 1)] {
            let now = micros(us);
            let batch = crate::db::write(&mut conn, |c| {
                claim_due(c, now)?;
                start_ready(c, &config, now, &HashMap::new(), 32, "test", &Default::default())
            })
            .unwrap();
            assert_eq!(batch.len(), expected, "at midnight {us:+} µs");
            for s in &batch {
                assert!(from_ms(s.run.scheduled_for) <= now, "started before its instant");
            }
            started.extend(batch.into_iter().map(|s| (us, s.run.prompt, from_ms(s.run.scheduled_for))));
        }
        assert_eq!(
            started,
            [(0, "midnight".to_string(), t0), (1_000, "once".to_string(), micros(1_000))],
            "the midnight job sees the new day; the 0.4 ms instant fires at 1 ms, not at 0"
        );
    }

    #[test]
    fn backoff_doubles_with_bounded_jitter() {
        for (attempt, base_ms) in [(1, 30_000), (2, 60_000), (3, 120_000), (4, 240_000)] {
            for _ in 0..50 {
                let d = backoff(30, attempt).num_milliseconds();
                assert!(d >= base_ms * 8 / 10 && d <= base_ms * 12 / 10, "attempt {attempt}: {d}");
            }
        }
    }
}
