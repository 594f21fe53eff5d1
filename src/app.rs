//! Building and running the server: [`Application::build`] opens the store, binds the socket
//! (port 0 in tests) and wires the routes; [`Application::run_until_stopped`] serves until
//! SIGINT/SIGTERM, letting requests in flight finish.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use chrono_tz::Tz;

use crate::auth::sessions::Lifetimes;
use crate::auth::throttle::Throttle;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db::{Conn, Db};
use crate::error::AppError;
use crate::events::Events;
use crate::scheduler::{Scheduler, SchedulerHandle};
use crate::tasks::Ctx;

/// What every handler can reach.
pub struct AppState {
    pub db: Db,
    pub config: Config,
    pub clock: Arc<dyn Clock>,
    pub throttle: Throttle,
    /// The one-time token of the first-run setup link, when no password was set at start-up.
    pub setup_token: Option<String>,
    pub events: Events,
    pub scheduler: SchedulerHandle,
    /// For agent checks from the pages and the API.
    pub http: reqwest::Client,
    /// Conversations with the agent and the replies being written.
    pub chat: crate::chat::engine::Chat,
}

impl AppState {
    pub fn lifetimes(&self) -> Lifetimes {
        Lifetimes {
            idle: chrono::Duration::minutes(self.config.session_idle_minutes),
            absolute: chrono::Duration::days(self.config.session_max_days),
        }
    }

    /// Who starts a session now, for how long.
    pub fn session_start<'a>(
        &self,
        client: &'a crate::auth::sessions::Client,
    ) -> crate::auth::SessionStart<'a> {
        crate::auth::SessionStart { client, now: self.clock.now(), life: self.lifetimes() }
    }

    /// The session cookie's name: `__Host-` prefixed (which requires `Secure`) under https.
    pub fn cookie_name(&self) -> &'static str {
        if self.config.is_https() { "__Host-steward_session" } else { "steward_session" }
    }

    pub fn zone(&self, conn: &mut Conn) -> Result<Tz, AppError> {
        crate::settings::person_zone(conn, &self.config)
    }

    /// The service context for an actor, read inside a blocking database closure.
    pub fn ctx(&self, conn: &mut Conn, by: &'static str) -> Result<Ctx, AppError> {
        Ok(Ctx { now: self.clock.now(), tz: self.zone(conn)?, by, conversation: None })
    }
}

/// Runs service work on the blocking pool as `by` (`person`, `api`, `agent`), with the
/// service context (now, the person's zone) read in the same trip.
pub async fn run_as<T, F>(state: &web::Data<AppState>, by: &'static str, f: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce(&mut Conn, &Ctx) -> Result<T, AppError> + Send + 'static,
{
    let st = state.clone();
    state
        .db
        .run(move |conn| {
            let ctx = st.ctx(conn, by)?;
            f(conn, &ctx)
        })
        .await
}

/// Stops a running [`Application`] gracefully.
#[derive(Clone)]
pub struct Stopper {
    server: actix_web::dev::ServerHandle,
    scheduler: SchedulerHandle,
    events: Events,
    checkpoints: tokio::task::AbortHandle,
}

impl Stopper {
    pub async fn stop(&self) {
        // Live streams never finish by themselves: end them so the server's drain is short.
        self.events.close();
        tokio::join!(self.server.stop(true), self.scheduler.shutdown());
        self.checkpoints.abort();
    }
}

pub struct Application {
    server: Server,
    scheduler: SchedulerHandle,
    events: Events,
    /// The WAL checkpoints in the background (see [`Db::open_for_server`]).
    checkpoints: tokio::task::AbortHandle,
    port: u16,
    setup_url: Option<String>,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        Application::build_with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Application> {
        let db = {
            let path = config.db.clone();
            tokio::task::spawn_blocking(move || Db::open_for_server(&path)).await??
        };
        let needs_setup = {
            let db = db.clone();
            db.run(|conn| Ok(!crate::auth::password_is_set(conn)?))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
        };
        let listener = TcpListener::bind(&config.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.bind))?;
        let addr = listener.local_addr()?;
        let setup_token = needs_setup.then(|| crate::auth::random_token(24));
        let base = config
            .public_url
            .clone()
            .map(|u| u.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("http://{addr}"));
        let setup_url = setup_token.as_ref().map(|t| format!("{base}/setup?token={t}"));
        let https = config.is_https();
        let events = Events::default();
        let (scheduler, handle) = Scheduler::new(db.clone(), config.clone(), clock.clone(), events.clone());
        let chat = scheduler.chat();
        if config.scheduler {
            scheduler.spawn(&handle);
        }
        let http = crate::agents::deliver::http_client();
        chat.recover().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let state = web::Data::new(AppState {
            db: db.clone(),
            config,
            clock,
            throttle: Throttle::default(),
            setup_token,
            events: events.clone(),
            scheduler: handle.clone(),
            http,
            chat,
        });
        let server = HttpServer::new(move || {
            App::new().app_data(state.clone()).configure(|cfg| crate::web::routes::configure(cfg, https))
        })
        .listen(listener)?
        .shutdown_timeout(10)
        // Signals are handled by `stop_on_signals`, so that the handlers exist before the
        // setup link is printed and tests (which never call it) keep the default Ctrl-C.
        .disable_signals()
        .run();
        let checkpoints = tokio::spawn(db.checkpoint_every(crate::db::CHECKPOINT_PERIOD)).abort_handle();
        Ok(Application { server, scheduler: handle, events, checkpoints, port: addr.port(), setup_url })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops this app like a signal would (for tests that restart Steward on one database).
    pub fn stopper(&self) -> Stopper {
        Stopper {
            server: self.server.handle(),
            scheduler: self.scheduler.clone(),
            events: self.events.clone(),
            checkpoints: self.checkpoints.clone(),
        }
    }

    /// The first-run link that lets the person choose a password (None once one is set).
    pub fn setup_url(&self) -> Option<&str> {
        self.setup_url.as_deref()
    }

    /// Stops gracefully on SIGINT or SIGTERM: requests and deliveries in flight finish (up to
    /// 10 s); runs still being delivered then are released for the next start.
    pub fn stop_on_signals(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let stopper = self.stopper();
        tokio::spawn(async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
            tracing::info!("shutting down");
            stopper.stop().await;
        });
        Ok(())
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.scheduler.shutdown().await;
        // The last connection to close then checkpoints what is left.
        self.checkpoints.abort();
        served
    }
}
