//! The one account: its password, the first-run setup, login with throttling, sessions, CSRF
//! tokens and API tokens. Web handlers and the CLI call these functions; none of them keep state
//! outside the database except the login throttle.

pub mod password;
pub mod scopes;
pub mod sessions;
pub mod throttle;
pub mod tokens;
pub mod totp;

use base64::Engine;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::db::{Conn, settings};
use crate::error::AppError;
use sessions::{Client, Lifetimes, Session};
use throttle::Throttle;

/// `bytes` random bytes, base64url-encoded (16 bytes = 128 bits).
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The OS random source failing is unrecoverable for a security token.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut buf).expect("the operating system's random source failed");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares secrets in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn password_is_set(conn: &mut Conn) -> Result<bool, AppError> {
    Ok(settings::get(conn, settings::PASSWORD_HASH)?.is_some())
}

/// Sets a new password (after the policy check) and ends every session but `keep`.
pub fn set_password(conn: &mut Conn, new: &str, confirm: &str, keep: Option<i32>) -> Result<(), AppError> {
    if new != confirm {
        return Err(AppError::invalid("confirm", "the two passwords differ"));
    }
    password::check_policy(new)?;
    let hash = password::hash(new)?;
    crate::db::write(conn, |conn| {
        settings::set(conn, settings::PASSWORD_HASH, &hash)?;
        sessions::revoke_all_except(conn, keep)?;
        Ok(())
    })
}

/// Changes the password of a logged-in person: the current one must be right; every other
/// session ends.
pub fn change_password(
    conn: &mut Conn,
    session_id: i32,
    current: &str,
    new: &str,
    confirm: &str,
) -> Result<(), AppError> {
    let stored = settings::get(conn, settings::PASSWORD_HASH)?.unwrap_or_default();
    if !password::verify(current, &stored) {
        return Err(AppError::invalid("current", "the current password is wrong"));
    }
    set_password(conn, new, confirm, Some(session_id))
}

/// Who starts a session, when, and for how long.
pub struct SessionStart<'a> {
    pub client: &'a Client,
    pub now: DateTime<Utc>,
    pub life: Lifetimes,
}

/// The setup link is valid while no password is set and its token is this start's.
pub fn check_setup_token(conn: &mut Conn, expected: Option<&str>, given: &str) -> Result<(), AppError> {
    let valid = expected.is_some_and(|t| constant_time_eq(t, given));
    if !valid || password_is_set(conn)? {
        return Err(AppError::Forbidden(
            "this setup link is not valid (a password is set already, or the link is from an earlier start)"
                .into(),
        ));
    }
    Ok(())
}

/// First run: the one-time setup token printed on the console lets the person choose a password.
pub fn complete_setup(
    conn: &mut Conn,
    (expected, given): (Option<&str>, &str),
    new: &str,
    confirm: &str,
    start: SessionStart,
) -> Result<(String, Session), AppError> {
    check_setup_token(conn, expected, given)?;
    set_password(conn, new, confirm, None)?;
    Ok(sessions::create(conn, start.client, start.now, start.life)?)
}

/// Where a right password leads.
pub enum LoginStep {
    /// The session's cookie token, and the session.
    Session(String, Session),
    /// The second factor is on: the token of the challenge that waits for a code ([`totp`]).
    SecondFactor(String),
}

/// Checks the password under the throttle and starts a session (or, with the second factor on,
/// its second step).
pub fn login(
    conn: &mut Conn,
    throttle: &Throttle,
    given: &str,
    start: SessionStart,
) -> Result<LoginStep, AppError> {
    let SessionStart { client, now, life } = start;
    throttle.check(&client.ip, now).map_err(|retry_after| AppError::Throttled { retry_after })?;
    let Some(stored) = settings::get(conn, settings::PASSWORD_HASH)? else {
        return Err(AppError::Forbidden(
            "no password is set yet: use the setup link printed at start-up, or `steward passwd`".into(),
        ));
    };
    if !password::verify(given, &stored) {
        throttle.record_failure(&client.ip, now);
        return Err(AppError::invalid("password", "wrong password"));
    }
    // The throttle is cleared only once the second factor is right too, so that knowing the
    // password does not reset the count of wrong codes.
    if totp::is_enabled(conn)? {
        return Ok(LoginStep::SecondFactor(totp::begin_challenge(conn, now)?));
    }
    throttle.record_success(&client.ip);
    let (token, session) = sessions::create(conn, client, now, life)?;
    Ok(LoginStep::Session(token, session))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_long_enough() {
        let a = random_token(16);
        assert_eq!(a.len(), 22);
        assert_ne!(a, random_token(16));
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
