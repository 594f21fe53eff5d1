//! The scheduler: one tokio task that fires schedules and delivers runs.
//!
//! 1. **Wake.** It sleeps until the earliest due instant (a schedule's next firing or a retry),
//!    capped at 30 s so a suspended machine or a changed clock is noticed, and wakes at once when
//!    schedules change ([`SchedulerHandle::poke`]; the CLI pokes through a socket next to the
//!    database). No fixed polling period.
//! 2. **Claim and start**, in one immediate transaction: each due schedule gets its run row
//!    (unique on `(schedule, scheduled_for)`, the idempotency key) and its next firing advances;
//!    then ready runs, by priority then due time, are marked running within the worker pool and
//!    each agent's concurrency limit. A crash can neither lose nor double a firing.
//! 3. **Deliver** on tokio tasks; record success, a retry (exponential backoff with jitter) or a
//!    failure; pause a schedule after N failed runs in a row and tell the person why.
//! 4. **Crash and shutdown.** Only the holder of an OS lock on `<db>.scheduler-lock` delivers, so
//!    when a process gets the lock, runs still marked running belong to a dead process: they are
//!    queued again at once, at start-up. A graceful stop lets deliveries finish (10 s at most) and
//!    releases the rest the same way.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::agents::deliver::{self, Delivery, Failure};
use crate::agents::{self, Agent, AgentKind};
use crate::clock::{Clock, from_ms, to_ms};
use crate::config::Config;
use crate::db::schema::{run_attempts, runs, schedules};
use crate::db::{Conn, Db};
use crate::error::AppError;
use crate::events::{Event, Events};
use crate::notifications::{self, NewNotification};
use crate::runs::{NewRun, Run};
use crate::schedules::{Guards, Schedule};

/// The longest sleep: a suspended machine or a changed wall clock is noticed within this.
const MAX_SLEEP: StdDuration = StdDuration::from_secs(30);
/// A firing later than this (after downtime) is a misfire and follows the schedule's policy.
const MISFIRE_GRACE: Duration = Duration::seconds(60);
/// Misfire policy `all` catches up at most this many firings per schedule.
const CATCH_UP_CAP: usize = 100;
/// Schedules claimed per transaction; more are claimed on the next turn, straight away.
const CLAIM_BATCH: i64 = 1000;
/// How long a graceful stop waits for deliveries in flight.
const SHUTDOWN_GRACE: StdDuration = StdDuration::from_secs(10);

/// What the rest of the app holds: wakes the scheduler and stops it.
#[derive(Clone)]
pub struct SchedulerHandle {
    wake: Arc<Notify>,
    stop: Arc<watch::Sender<bool>>,
    done: Arc<tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl SchedulerHandle {
    /// Schedules or runs changed: look again now.
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    /// Stops claiming, lets deliveries in flight finish (bounded), releases the rest, and waits.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.done.lock().await.take() {
            let _ = task.await;
        }
    }
}

pub struct Scheduler {
    db: Db,
    config: Config,
    clock: Arc<dyn Clock>,
    events: Events,
    http: reqwest::Client,
    /// Who holds leases: this process.
    instance: String,
    /// Deliveries at once, across agents.
    workers: usize,
    wake: Arc<Notify>,
}

/// What one turn did.
#[derive(Debug, Default)]
struct Turn {
    started: Vec<(Run, Agent, Option<String>)>,
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
fn try_lock(db: &Path) -> Result<Option<std::fs::File>, AppError> {
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
    pub fn new(
        db: Db,
        config: Config,
        clock: Arc<dyn Clock>,
        events: Events,
    ) -> (Scheduler, SchedulerHandle) {
        let wake = Arc::new(Notify::new());
        let (stop, _) = watch::channel(false);
        let handle = SchedulerHandle {
            wake: wake.clone(),
            stop: Arc::new(stop),
            done: Arc::new(tokio::sync::Mutex::new(None)),
        };
        let scheduler = Scheduler {
            db,
            config,
            clock,
            events,
            http: deliver::http_client(),
            instance: format!("{}-{}", std::process::id(), crate::auth::random_token(6)),
            workers: 32,
            wake,
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
            match try_lock(&self.config.db) {
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
                    tracing::error!(error = %e, "the scheduler cannot start");
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
            tracing::error!(error = %e.public_message(), "recovering interrupted runs");
        }
        let mut inflight: JoinSet<String> = JoinSet::new();
        let mut busy: HashMap<String, usize> = HashMap::new();
        let mut buf = [0u8; 16];
        loop {
            if *stop.borrow() {
                break;
            }
            let turn = match self.turn(&busy, self.workers.saturating_sub(inflight.len())).await {
                Ok(turn) => turn,
                Err(e) => {
                    tracing::error!(error = %e.public_message(), "scheduler turn failed");
                    Turn { next_wake: Some(self.clock.now() + Duration::seconds(1)), ..Turn::default() }
                }
            };
            for (run, agent, schedule_name) in turn.started {
                *busy.entry(agent.name.clone()).or_default() += 1;
                let me = self.clone();
                inflight.spawn(async move {
                    let name = agent.name.clone();
                    me.deliver_and_record(run, agent, schedule_name).await;
                    name
                });
            }
            let sleep = if turn.more_due {
                StdDuration::ZERO
            } else {
                let now = self.clock.now();
                turn.next_wake
                    .map(|w| (w - now).to_std().unwrap_or(StdDuration::ZERO))
                    .unwrap_or(MAX_SLEEP)
                    .min(MAX_SLEEP)
            };
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = self.wake.notified() => {}
                Some(done) = inflight.join_next(), if !inflight.is_empty() => {
                    if let Ok(agent) = done && let Some(n) = busy.get_mut(&agent) {
                        *n = n.saturating_sub(1);
                    }
                }
                _ = recv(&socket, &mut buf) => {}
                _ = stop.changed() => {}
            }
            // Collect every other finished delivery without waiting.
            while let Some(done) = inflight.try_join_next() {
                if let Ok(agent) = done
                    && let Some(n) = busy.get_mut(&agent)
                {
                    *n = n.saturating_sub(1);
                }
            }
        }
        // Graceful stop: let deliveries finish, then release what is still running.
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, async { while inflight.join_next().await.is_some() {} })
            .await;
        inflight.shutdown().await;
        if let Err(e) = self.release("Steward stopped during this delivery").await {
            tracing::error!(error = %e.public_message(), "releasing runs at shutdown");
        }
        if socket.is_some() {
            let _ = std::fs::remove_file(socket_path(&self.config.db));
        }
    }

    fn bind_wake_socket(&self) -> Option<tokio::net::UnixDatagram> {
        let path = socket_path(&self.config.db);
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
        let n = self.release("the process delivering this run stopped (crash or kill)").await?;
        if n > 0 {
            tracing::warn!(runs = n, "queued again runs interrupted by a stop");
        }
        Ok(())
    }

    /// Puts every running run back in the queue, now, recording why its attempt ended.
    async fn release(&self, why: &'static str) -> Result<usize, AppError> {
        let now = to_ms(self.clock.now());
        self.db
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

    /// One turn: claim what is due, start what is ready, and say when to look again.
    async fn turn(&self, busy: &HashMap<String, usize>, free: usize) -> Result<Turn, AppError> {
        let now = self.clock.now();
        let config = self.config.clone();
        let busy = busy.clone();
        let instance = self.instance.clone();
        let events = self.events.clone();
        self.db
            .run(move |conn| {
                let turn = crate::db::write(conn, |conn| {
                    let more_due = claim_due(conn, now)?;
                    let started = start_ready(conn, &config, now, &busy, free, &instance)?;
                    Ok(Turn { started, more_due, next_wake: None })
                })?;
                for (run, _, _) in &turn.started {
                    events.send(Event::Run { id: run.id, schedule_id: run.schedule_id, state: "running" });
                }
                Ok(Turn { next_wake: next_wake(conn, now)?, ..turn })
            })
            .await
    }

    async fn deliver_and_record(&self, run: Run, agent: Agent, schedule_name: Option<String>) {
        let delivery = Delivery {
            schedule_id: run.schedule_id,
            run_id: run.id,
            idempotency_key: run.idempotency_key.clone(),
            prompt: run.prompt.clone(),
            scheduled_for: from_ms(run.scheduled_for),
            attempt: run.attempt,
        };
        let result = deliver::deliver(&self.http, &agent, &delivery).await;
        let now = self.clock.now();
        let events = self.events.clone();
        let recorded = self
            .db
            .run(move |conn| {
                let guards = Guards::load(conn)?;
                let (state, notes) = crate::db::write(conn, |conn| {
                    record(conn, &run, &agent, schedule_name.as_deref(), result, now, guards)
                })?;
                events.send(Event::Run { id: run.id, schedule_id: run.schedule_id, state });
                for n in notes {
                    events.send(Event::Notification {
                        id: n.id,
                        title: n.title,
                        body: n.body,
                        level: n.level,
                    });
                }
                Ok(())
            })
            .await;
        if let Err(e) = recorded {
            tracing::error!(error = %e.public_message(), "recording a delivery");
        }
    }

    /// `steward schedule run-due`: delivers what is due now, waits for it, and returns.
    /// Runs whose retry falls later are left for the next call (or the server).
    pub async fn run_due_once(self) -> Result<RunDueSummary, AppError> {
        let Some(_lock) = try_lock(&self.config.db)? else {
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
            let turn = me.turn(&HashMap::new(), me.workers).await?;
            if turn.started.is_empty() && !turn.more_due {
                break;
            }
            // Per-agent limits hold here too: deliver one agent's runs one after another.
            let mut by_agent: HashMap<String, Vec<(Run, Agent, Option<String>)>> = HashMap::new();
            for s in turn.started {
                by_agent.entry(s.1.name.clone()).or_default().push(s);
            }
            let mut tasks = JoinSet::new();
            for (_, list) in by_agent {
                let me = me.clone();
                tasks.spawn(async move {
                    let mut ids = Vec::new();
                    for (run, agent, name) in list {
                        ids.push(run.id);
                        me.deliver_and_record(run, agent, name).await;
                    }
                    ids
                });
            }
            while let Some(Ok(ids)) = tasks.join_next().await {
                seen.extend(ids);
            }
        }
        let ids: Vec<i32> = seen.into_iter().collect();
        let states: Vec<(String, i32)> = me
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

async fn recv(socket: &Option<tokio::net::UnixDatagram>, buf: &mut [u8]) {
    match socket {
        Some(s) => {
            let _ = s.recv(buf).await;
        }
        None => std::future::pending().await,
    }
}

/// The earliest instant something becomes due: a schedule's firing or a retry.
fn next_wake(conn: &mut Conn, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, AppError> {
    // A bare `active` (not `active = ?`): only then can SQLite prove the query matches the
    // partial index `schedules_due`; otherwise it scans the table on every turn.
    let fire: Option<i64> = schedules::table
        .filter(schedules::active)
        .filter(schedules::deleted_at.is_null())
        .filter(schedules::next_fire_at.is_not_null())
        .select(diesel::dsl::min(schedules::next_fire_at))
        .first(conn)?;
    let retry: Option<i64> = runs::table
        .filter(runs::state.eq("queued"))
        .filter(runs::not_before.gt(to_ms(now)))
        .select(diesel::dsl::min(runs::not_before))
        .first(conn)?;
    Ok([fire, retry].into_iter().flatten().min().map(from_ms))
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
    // Bare `active`, so that `schedules_due` is used (see `next_wake`).
    let due: Vec<Schedule> = schedules::table
        .filter(schedules::active)
        .filter(schedules::deleted_at.is_null())
        .filter(schedules::next_fire_at.le(to_ms(now)))
        .order(schedules::next_fire_at.asc())
        .limit(CLAIM_BATCH)
        .select(Schedule::as_select())
        .load(conn)?;
    let more = due.len() as i64 == CLAIM_BATCH;
    for s in due {
        let Some(first) = s.next_fire() else { continue };
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
        for at in &fire {
            crate::runs::insert(conn, &NewRun::for_schedule(&s, *at, trigger), now)?;
        }
        let fired = s.fired_count + fire.len() as i32;
        let next = if behind { next_for(&s, &spec, now, fired) } else { second };
        diesel::update(schedules::table.find(s.id))
            .set((
                schedules::next_fire_at.eq(next.map(to_ms)),
                schedules::fired_count.eq(fired),
                schedules::note.eq(note.or(s.note.clone())),
            ))
            .execute(conn)?;
    }
    Ok(more)
}

/// Marks ready runs running, by priority then due time, within the free worker slots and each
/// agent's concurrency. Runs for agents that no longer exist fail here, with that reason.
fn start_ready(
    conn: &mut Conn,
    config: &Config,
    now: DateTime<Utc>,
    busy: &HashMap<String, usize>,
    mut free: usize,
    instance: &str,
) -> Result<Vec<(Run, Agent, Option<String>)>, AppError> {
    let mut started = Vec::new();
    if free == 0 {
        return Ok(started);
    }
    let agents: HashMap<String, Agent> =
        agents::list(conn, config)?.into_iter().map(|a| (a.name.clone(), a)).collect();
    let mut busy = busy.clone();
    let mut full: Vec<String> = agents
        .values()
        .filter(|a| busy.get(&a.name).copied().unwrap_or(0) >= a.concurrency as usize)
        .map(|a| a.name.clone())
        .collect();
    while free > 0 {
        let ready: Vec<Run> = runs::table
            .filter(runs::state.eq("queued"))
            .filter(runs::not_before.le(to_ms(now)))
            .filter(runs::agent.ne_all(&full))
            .order((runs::priority.asc(), runs::scheduled_for.asc(), runs::id.asc()))
            .limit(free as i64)
            .select(Run::as_select())
            .load(conn)?;
        if ready.is_empty() {
            break;
        }
        for run in ready {
            let Some(agent) = agents.get(&run.agent) else {
                diesel::update(runs::table.find(run.id))
                    .set((
                        runs::state.eq("failed"),
                        runs::finished_at.eq(to_ms(now)),
                        runs::error.eq(format!("no agent named {:?} exists any more", run.agent)),
                    ))
                    .execute(conn)?;
                continue;
            };
            let n = busy.entry(agent.name.clone()).or_default();
            if *n >= agent.concurrency as usize {
                if !full.contains(&agent.name) {
                    full.push(agent.name.clone());
                }
                continue;
            }
            *n += 1;
            if *n >= agent.concurrency as usize {
                full.push(agent.name.clone());
            }
            free -= 1;
            let attempt = run.attempt + 1;
            let lease = to_ms(now) + agent.timeout().as_millis() as i64 + 60_000;
            diesel::update(runs::table.find(run.id))
                .set((
                    runs::state.eq("running"),
                    runs::attempt.eq(attempt),
                    runs::lease_owner.eq(instance),
                    runs::lease_until.eq(lease),
                    runs::started_at.eq(run.started_at.unwrap_or(to_ms(now))),
                ))
                .execute(conn)?;
            diesel::insert_into(run_attempts::table)
                .values((
                    run_attempts::run_id.eq(run.id),
                    run_attempts::attempt.eq(attempt),
                    run_attempts::started_at.eq(to_ms(now)),
                ))
                .on_conflict((run_attempts::run_id, run_attempts::attempt))
                .do_update()
                .set((run_attempts::started_at.eq(to_ms(now)), run_attempts::finished_at.eq(None::<i64>)))
                .execute(conn)?;
            let name = match run.schedule_id {
                Some(id) => schedules::table.find(id).select(schedules::name).first(conn).optional()?,
                None => None,
            };
            let run = Run {
                state: "running".into(),
                attempt,
                started_at: Some(run.started_at.unwrap_or(to_ms(now))),
                ..run
            };
            started.push((run, agent.clone(), name));
            if free == 0 {
                break;
            }
        }
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

/// Records one delivery's result, in the caller's transaction. Returns the run's new state and
/// the notifications it raised.
fn record(
    conn: &mut Conn,
    run: &Run,
    agent: &Agent,
    schedule_name: Option<&str>,
    result: Result<String, Failure>,
    now: DateTime<Utc>,
    guards: Guards,
) -> Result<(&'static str, Vec<notifications::Notification>), AppError> {
    let now_ms = to_ms(now);
    let title = schedule_name.map(str::to_string).unwrap_or_else(|| format!("Run {}", run.id));
    let mut notes = Vec::new();
    let error = result.as_ref().err().map(|f| f.message.clone());
    diesel::update(run_attempts::table.find((run.id, run.attempt)))
        .set((run_attempts::finished_at.eq(now_ms), run_attempts::error.eq(&error)))
        .execute(conn)?;
    let state = match result {
        Ok(output) => {
            diesel::update(runs::table.find(run.id))
                .set((
                    runs::state.eq("succeeded"),
                    runs::finished_at.eq(now_ms),
                    runs::output.eq(&output),
                    runs::error.eq(None::<String>),
                    runs::lease_owner.eq(None::<String>),
                    runs::lease_until.eq(None::<i64>),
                ))
                .execute(conn)?;
            if let Some(id) = run.schedule_id {
                diesel::update(schedules::table.find(id))
                    .set(schedules::failure_streak.eq(0))
                    .execute(conn)?;
            }
            if agent.kind == AgentKind::Notify {
                notes.push(notifications::add(
                    conn,
                    &NewNotification {
                        title,
                        body: output,
                        level: "info",
                        run_id: Some(run.id),
                        schedule_id: run.schedule_id,
                    },
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
                    runs::not_before.eq(to_ms(at)),
                    runs::error.eq(&f.message),
                    runs::lease_owner.eq(None::<String>),
                    runs::lease_until.eq(None::<i64>),
                ))
                .execute(conn)?;
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
            let tries =
                if run.attempt == 1 { "1 attempt".to_string() } else { format!("{} attempts", run.attempt) };
            notes.push(notifications::add(
                conn,
                &NewNotification {
                    title: format!("{title} failed"),
                    body: format!("After {tries} to {}: {}", agent.name, f.message),
                    level: "error",
                    run_id: Some(run.id),
                    schedule_id: run.schedule_id,
                },
                now,
            )?);
            if let Some(id) = run.schedule_id {
                notes.extend(count_failure(conn, id, &title, &f.message, now, guards)?);
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
    guards: Guards,
) -> Result<Option<notifications::Notification>, AppError> {
    let streak: i32 = diesel::update(schedules::table.find(id))
        .set(schedules::failure_streak.eq(schedules::failure_streak + 1))
        .returning(schedules::failure_streak)
        .get_result(conn)?;
    if streak < guards.pause_after_failures {
        return Ok(None);
    }
    let why = format!("Paused itself after {streak} failed runs in a row. Last error: {error}");
    let paused = diesel::update(schedules::table.find(id).filter(schedules::active.eq(true)))
        .set((schedules::active.eq(false), schedules::note.eq(&why), schedules::updated_at.eq(to_ms(now))))
        .execute(conn)?;
    if paused == 0 {
        return Ok(None);
    }
    Ok(Some(notifications::add(
        conn,
        &NewNotification {
            title: format!("{title} paused"),
            body: why,
            level: "error",
            run_id: None,
            schedule_id: Some(id),
        },
        now,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

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
