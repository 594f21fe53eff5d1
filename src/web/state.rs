//! What every handler can reach: [`AppState`], the services plus what only the web needs.

use std::ops::Deref;

use crate::auth::sessions::Lifetimes;
use crate::auth::throttle::Throttle;
use crate::chat::engine::Chat;
use crate::services::Services;
use crate::web::flash::Flashes;

/// What every handler can reach: the services, plus what only the web needs.
pub struct AppState {
    pub services: Services,
    /// Conversations with the agent and the replies being written.
    pub chat: Chat,
    pub throttle: Throttle,
    /// The one-time token of the first-run setup link, when no password was set at start-up.
    pub setup_token: Option<String>,
    /// Plain forms' outcomes, waiting for the page they redirect to.
    pub flashes: Flashes,
}

/// Handlers reach the services' parts directly (`state.db`, `state.run_as(...)`).
impl Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
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
        crate::auth::SessionStart {
            client,
            now: self.clock.now(),
            life: self.lifetimes(),
            device: crate::auth::devices::Device::Unknown,
            remember: false,
        }
    }

    /// Who starts a session from a sign-in form: the client, the device its device cookie names
    /// (if the server signed it), and whether the session is to outlive the browser.
    pub fn device_start<'a>(
        &self,
        conn: &mut crate::db::Conn,
        client: &'a crate::auth::sessions::Client,
        cookie: Option<&str>,
        remember: bool,
    ) -> Result<crate::auth::SessionStart<'a>, crate::error::AppError> {
        let start = self.session_start(client);
        let device = crate::auth::devices::recognise(conn, cookie, start.now)?;
        Ok(crate::auth::SessionStart { device, remember, ..start })
    }

    /// The session cookie's name: `__Host-` prefixed (which requires `Secure`) under https.
    pub fn cookie_name(&self) -> &'static str {
        if self.config.is_https() { "__Host-steward_session" } else { "steward_session" }
    }
}
