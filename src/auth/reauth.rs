//! Re-authentication before sensitive actions (create an API token, export everything): when
//! the session's password was typed more than [`FRESH_FOR`] ago, the action asks for it again,
//! and goes on once it is right. Changing the password always asks for the current one, which
//! counts the same way. The check runs under the login throttle of the browser's device and is
//! noted in the login history, so a stolen session cannot guess the password faster than a
//! login could.

use chrono::{DateTime, Duration, Utc};

use super::devices::{self, Attempt};
use super::login_history::Outcome;
use super::sessions::{self, Session};
use super::throttle::Throttle;
use crate::db::Conn;
use crate::error::AppError;

/// How long after typing the password sensitive actions go ahead without asking again.
pub const FRESH_FOR: Duration = Duration::minutes(10);

/// The form field the confirm step sends the password in.
pub const FIELD: &str = "reauth_password";

/// Whether the session's password entry is recent enough for a sensitive action.
pub fn is_fresh(session: &Session, now: DateTime<Utc>) -> bool {
    now.naive_utc() - session.authenticated_at < FRESH_FOR
}

/// The gate of a sensitive action: passes when the session is fresh; otherwise `given` must
/// be the password, and the session counts as fresh from now. The error names [`FIELD`], so
/// the form shows it next to the password box.
pub fn require(
    conn: &mut Conn,
    throttle: &Throttle,
    session: &Session,
    given: Option<&str>,
    attempt: &Attempt,
) -> Result<(), AppError> {
    if is_fresh(session, attempt.now) {
        return Ok(());
    }
    let Some(given) = given.filter(|g| !g.is_empty()) else {
        return Err(AppError::invalid(
            FIELD,
            "you signed in more than 10 minutes ago: type your password to confirm it is you",
        ));
    };
    confirm(conn, throttle, session, given, attempt, FIELD)
}

/// Checks the password typed for this session (in `field`) and marks the session freshly
/// authenticated.
pub fn confirm(
    conn: &mut Conn,
    throttle: &Throttle,
    session: &Session,
    given: &str,
    attempt: &Attempt,
    field: &str,
) -> Result<(), AppError> {
    if !devices::check_password(conn, throttle, given, attempt, (Outcome::Reauth, Outcome::ReauthFailed))? {
        return Err(AppError::invalid(field, "that is not your password"));
    }
    sessions::mark_authenticated(conn, session.id, attempt.now)?;
    Ok(())
}
