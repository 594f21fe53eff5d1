//! Re-authentication from a page's form: what a sensitive action needs to ask for the password
//! again ([`crate::auth::reauth`]). The handler takes a [`Reauth`] before going to the database
//! and calls [`Reauth::require`] in it, before acting. When the session's login is older than
//! 10 minutes and no (or a wrong) password came with the form, the action is refused with an
//! error on the form's `reauth_password` field; the Settings page then shows that box next to
//! the action's button, keeps what was typed, and the next submit goes on with the action.

use actix_web::HttpRequest;
use chrono::{DateTime, Utc};

use crate::auth::devices::{self, Attempt};
use crate::auth::reauth;
use crate::auth::sessions::{Client, Session};
use crate::auth::throttle::Throttle;
use crate::db::Conn;
use crate::error::AppError;
use crate::web::{AppState, client, device_cookie};

/// Who asks, from which device, with which password (if the form carried one).
pub struct Reauth {
    client: Client,
    cookie: Option<String>,
    session: Session,
    given: Option<String>,
}

impl Reauth {
    pub fn of(req: &HttpRequest, state: &AppState, session: &Session, given: Option<String>) -> Reauth {
        Reauth {
            client: client(req),
            cookie: device_cookie::read(req, state),
            session: session.clone(),
            given,
        }
    }

    /// Passes when the session is fresh or the password came right with the form.
    pub fn require(&self, conn: &mut Conn, throttle: &Throttle, now: DateTime<Utc>) -> Result<(), AppError> {
        self.attempt(conn, now, |conn, attempt| {
            reauth::require(conn, throttle, &self.session, self.given.as_deref(), attempt)
        })
    }

    /// Runs `f` with this request as a password attempt (for a check of its own, such as the
    /// password change's "current password").
    pub fn attempt<T>(
        &self,
        conn: &mut Conn,
        now: DateTime<Utc>,
        f: impl FnOnce(&mut Conn, &Attempt) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        let device = devices::recognise(conn, self.cookie.as_deref(), now)?;
        f(conn, &Attempt { client: &self.client, device: &device, now })
    }

    pub fn session(&self) -> &Session {
        &self.session
    }
}
