//! The one account: its password, the first-run setup, login with throttling, sessions, CSRF
//! tokens and API tokens. Web handlers and the CLI call these functions; none of them keep state
//! outside the database except the login throttle.

pub mod devices;
pub mod login_history;
pub mod password;
pub mod reauth;
pub mod scopes;
pub mod sessions;
pub mod signed;
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
    constant_time_eq_bytes(a.as_bytes(), b.as_bytes())
}

pub fn constant_time_eq_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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

/// Changes the password of a logged-in person: the current one must be right (checked as a
/// re-authentication, under the login throttle, noted in the login history); every other
/// session ends.
pub fn change_password(
    conn: &mut Conn,
    throttle: &Throttle,
    (session, attempt): (&Session, &devices::Attempt),
    current: &str,
    new: &str,
    confirm: &str,
) -> Result<(), AppError> {
    reauth::confirm(conn, throttle, session, current, attempt, "current").map_err(|e| match e {
        AppError::Invalid { field, .. } => AppError::invalid(field, "the current password is wrong"),
        other => other,
    })?;
    set_password(conn, new, confirm, Some(session.id))
}

/// Who starts a session, when, and for how long.
pub struct SessionStart<'a> {
    pub client: &'a Client,
    pub now: DateTime<Utc>,
    pub life: Lifetimes,
    /// The browser's device cookie, checked ([`devices::recognise`]).
    pub device: devices::Device,
    /// "Remember this device": the session has no idle timeout and a persistent cookie.
    pub remember: bool,
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
    login_history::record(conn, start.client, &start.device, login_history::Outcome::Success, start.now)?;
    Ok(sessions::create(conn, start.client, start.now, start.life, start.remember)?)
}

/// Where a right password leads.
pub enum LoginStep {
    /// The session's cookie token, and the session.
    Session(String, Session),
    /// The second factor is on: the token of the challenge that waits for a code ([`totp`]).
    SecondFactor(String),
}

/// Checks the password under the throttle of the browser's device ([`devices`]), notes the
/// attempt in the login history, and starts a session (or, with the second factor on, its
/// second step).
pub fn login(
    conn: &mut Conn,
    throttle: &Throttle,
    given: &str,
    start: SessionStart,
) -> Result<LoginStep, AppError> {
    let SessionStart { client, now, life, device, remember } = start;
    let attempt = devices::Attempt { client, device: &device, now };
    let second_factor = totp::is_enabled(conn)?;
    let right =
        if second_factor { login_history::Outcome::PasswordRight } else { login_history::Outcome::Success };
    if !devices::check_password(
        conn,
        throttle,
        given,
        &attempt,
        (right, login_history::Outcome::WrongPassword),
    )? {
        return Err(AppError::invalid("password", "wrong password"));
    }
    if second_factor {
        return Ok(LoginStep::SecondFactor(totp::begin_challenge(conn, now)?));
    }
    let (token, session) = sessions::create(conn, client, now, life, remember)?;
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
