//! Building and running the server: [`Application::build`] opens the store, binds the socket
//! (port 0 in tests) and wires the routes; [`Application::run_until_stopped`] serves until
//! SIGINT/SIGTERM, letting requests in flight finish.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};

use crate::auth::throttle::Throttle;
use crate::chat::engine::Chat;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db::Db;
use crate::events::Events;
use crate::scheduler::{Scheduler, SchedulerHandle};
use crate::services::Services;
use crate::web::AppState;
use crate::web::to_https::ToHttps;

/// The bound address as a browser on this machine reaches it (`0.0.0.0` is no address to open).
fn reachable(addr: std::net::SocketAddr) -> std::net::SocketAddr {
    match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            (std::net::Ipv4Addr::LOCALHOST, addr.port()).into()
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            (std::net::Ipv6Addr::LOCALHOST, addr.port()).into()
        }
        _ => addr,
    }
}

/// `scheme://host[:port]` of a URL (what a redirect keeps of the public URL).
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().filter(|a| !a.is_empty())?;
    Some(format!("{scheme}://{authority}"))
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
    http_port: Option<u16>,
    url: String,
    setup_url: Option<String>,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        Application::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// What Steward is made of, in the order it is wired: the store, the services every rule
    /// needs, the chat engine, the scheduler (given the chat to deliver conversation runs
    /// through), and the server.
    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Application> {
        let db = {
            let path = config.db.clone();
            tokio::task::spawn_blocking(move || Db::open_for_server(&path)).await??
        };
        let needs_setup = db.run(|conn| Ok(!crate::auth::password_is_set(conn)?)).await?;
        // Built-in TLS: the files are checked before anything listens, so a wrong one stops
        // the start with a sentence naming it.
        let certs = match config.tls() {
            Some((cert, key)) => {
                let (cert, key) = (cert.to_path_buf(), key.to_path_buf());
                Some(tokio::task::spawn_blocking(move || crate::tls::CertStore::load(&cert, &key)).await??)
            }
            None => None,
        };
        let listener = TcpListener::bind(&config.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.bind))?;
        let addr = listener.local_addr()?;
        let plain = match (&config.http_bind, &certs) {
            (Some(bind), Some(_)) => Some(
                TcpListener::bind(bind)
                    .map_err(|e| anyhow::anyhow!("cannot listen on {bind} (http_bind): {e}"))?,
            ),
            _ => None,
        };
        let http_port = plain.as_ref().map(|l| l.local_addr()).transpose()?.map(|a| a.port());
        let scheme = if certs.is_some() { "https" } else { "http" };
        let setup_token = needs_setup.then(|| crate::auth::random_token(24));
        let base = config
            .public_url
            .clone()
            .map(|u| u.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("{scheme}://{}", reachable(addr)));
        let setup_url = setup_token.as_ref().map(|t| format!("{base}/setup?token={t}"));
        let https = config.is_https();
        let run_scheduler = config.scheduler;
        let to_https = match (&certs, http_port) {
            (Some(certs), Some(_)) => Some(web::Data::new(ToHttps {
                public_origin: config.public_url.as_deref().and_then(origin),
                port: addr.port(),
                certs: certs.clone(),
            })),
            _ => None,
        };
        let tls_poll = config.tls_poll;

        let services = Services::new(db.clone(), config, clock);
        // The weekly waiting-for follow-up exists from the first start (Settings can turn it off).
        services.run_as(crate::services::Actor::Scheduler, crate::reminders::waiting::ensure_now).await?;
        // Action links in pushed messages fall back to the address Steward listens on.
        let listening = format!("{scheme}://{addr}");
        services.db.run(move |conn| crate::notify::actions::remember_listening(conn, &listening)).await?;
        let chat = Chat::new(services.clone());
        chat.recover().await?;
        let (scheduler, handle) = Scheduler::new(services.clone(), Arc::new(chat.clone()));
        if run_scheduler {
            scheduler.spawn(&handle);
        }
        let events = services.events.clone();
        let state = web::Data::new(AppState {
            services,
            chat,
            throttle: Throttle::default(),
            setup_token,
            flashes: Default::default(),
        });
        let server = HttpServer::new(move || {
            let mut app = App::new().app_data(state.clone());
            if let Some(to_https) = &to_https {
                app = app.app_data(to_https.clone());
            }
            app.configure(|cfg| crate::web::routes::configure(cfg, https))
        });
        let server = match &certs {
            Some(certs) => server.listen_rustls_0_23(listener, certs.server_config()?)?,
            None => server.listen(listener)?,
        };
        let server = match plain {
            Some(plain) => server.listen(plain)?,
            None => server,
        };
        let server = server
            .shutdown_timeout(10)
            // Signals are handled by `stop_on_signals`, so that the handlers exist before the
            // setup link is printed and tests (which never call it) keep the default Ctrl-C.
            .disable_signals()
            .run();
        if let Some(certs) = &certs {
            // New handshakes ask the store, which the watcher refreshes when a renewal replaces
            // the files; it ends with the event hub, when Steward stops.
            let watcher = crate::tls::watch(certs.clone(), tls_poll);
            let stopped = events.closed();
            tokio::spawn(async move {
                tokio::select! {
                    () = watcher => {}
                    () = stopped => {}
                }
            });
        }
        let checkpoints = tokio::spawn(db.checkpoint_every(crate::db::CHECKPOINT_PERIOD)).abort_handle();
        Ok(Application {
            server,
            scheduler: handle,
            events,
            checkpoints,
            port: addr.port(),
            http_port,
            url: base,
            setup_url,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the plain-HTTP listener that redirects to https (`http_bind`), if any.
    pub fn http_port(&self) -> Option<u16> {
        self.http_port
    }

    /// Where people reach Steward: the public URL, else `http(s)://` and the bound address.
    pub fn url(&self) -> &str {
        &self.url
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
