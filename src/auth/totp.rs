//! The second factor: time-based one-time codes (TOTP, RFC 6238: HMAC-SHA-1, 6 digits, 30-second
//! steps) from any authenticator app, and ten single-use recovery codes.
//!
//! - Setup: [`begin_setup`] makes a secret (kept server-side, not yet on); the person adds it to
//!   an app and [`confirm_setup`] turns it on once a current code proves the app has it, and
//!   hands out the recovery codes (shown once; only their SHA-256 is kept).
//! - Login: a right password with the second factor on opens a challenge ([`begin_challenge`],
//!   5 minutes, its token in an HttpOnly cookie); [`complete_login`] takes a code or a recovery
//!   code and only then starts the session. Wrong codes count against the login throttle like
//!   wrong passwords, and a challenge takes at most [`CHALLENGE_FAILURES`] of them.
//! - A code is accepted once: the step of the last accepted code is kept and only a later step
//!   is taken (RFC 6238 §5.2), so a code seen over someone's shoulder is useless once used.
//! - The way back in without the phone: a recovery code, or `steward passwd --reset-2fa`
//!   ([`reset`]) on the machine.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha1::Sha1;

use super::login_history::{self, Outcome};
use super::sessions::{self, Session};
use super::throttle::Throttle;
use super::{SessionStart, constant_time_eq, devices, password, random_token, sha256_hex};
use crate::db::schema::{login_challenges, recovery_codes, two_factor};
use crate::db::{Conn, settings};
use crate::error::AppError;

/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Seconds a code is valid for (one step).
pub const STEP_SECS: i64 = 30;
/// Steps either side of now that are still accepted: a phone's clock a little off, a code typed
/// as it changed.
pub const SKEW_STEPS: i64 = 1;
pub const RECOVERY_CODES: usize = 10;
/// How long the second step of a login may take.
pub const CHALLENGE_MINUTES: i64 = 5;
/// Wrong codes one challenge takes before the password is asked again.
pub const CHALLENGE_FAILURES: i32 = 5;
/// The issuer shown in authenticator apps.
pub const ISSUER: &str = "Steward";

/// 160-bit secrets, the length RFC 4226 recommends for HMAC-SHA-1.
const SECRET_BYTES: usize = 20;
/// 80 random bits per recovery code: far beyond guessing online, and beyond brute-forcing its
/// SHA-256 offline, so a fast hash is enough (argon2 is for passwords people choose).
const RECOVERY_BYTES: usize = 10;

type HmacSha1 = Hmac<Sha1>;

/// HOTP (RFC 4226 §5.3): HMAC-SHA-1 of the big-endian counter, dynamically truncated to
/// `digits` decimal digits.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    // HMAC takes keys of any length: new_from_slice cannot fail.
    #[allow(clippy::expect_used)]
    let mut mac = HmacSha1::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let bin = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    bin % 10u32.pow(digits)
}

/// The 30-second step an instant (Unix seconds) falls in.
pub fn step_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// The code for an instant, as an app shows it (leading zeros kept).
pub fn code_at(key: &[u8], unix_secs: i64, digits: u32) -> String {
    let counter = u64::try_from(step_of(unix_secs)).unwrap_or(0);
    format!("{:0width$}", hotp(key, counter, digits), width = digits as usize)
}

/// The step whose code `given` is, within [`SKEW_STEPS`] of `now` and later than `after` (the
/// last step accepted), if any.
pub fn matching_step(key: &[u8], given: &str, now_secs: i64, after: i64) -> Option<i64> {
    if given.len() != DIGITS as usize || !given.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_of(now_secs);
    (now - SKEW_STEPS..=now + SKEW_STEPS).filter(|step| *step > after && *step >= 0).find(|step| {
        let code = format!("{:0width$}", hotp(key, *step as u64, DIGITS), width = DIGITS as usize);
        constant_time_eq(&code, given)
    })
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding, the form authenticator apps take secrets in.
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The bytes of a base32 text (case, spaces and padding ignored); `None` if it is not base32.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| !matches!(c, b' ' | b'=')) {
        let value = BASE32.iter().position(|x| *x == c.to_ascii_uppercase())? as u32;
        buffer = ((buffer << 5) | value) & 0xffff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

/// The `otpauth://` URI an authenticator app reads from the QR code (Google's Key Uri Format).
/// `account` tells several Steward instances apart in the app (the host it is reached on).
pub fn otpauth_uri(secret: &str, account: &str) -> String {
    let label = format!("{}:{}", percent_encode(ISSUER), percent_encode(account));
    format!(
        "otpauth://totp/{label}?secret={secret}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}"
    )
}

/// Percent-encodes all but RFC 3986's unreserved characters (a `:` too: in the label it may only
/// separate issuer and account).
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// What Settings and the API show: whether it is on, since when, how many recovery codes are
/// left. Never the secret.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    pub enabled: bool,
    pub enabled_at: Option<DateTime<Utc>>,
    pub recovery_codes_left: i64,
}

pub fn status(conn: &mut Conn) -> Result<Status, AppError> {
    let enabled_at: Option<Option<i64>> =
        two_factor::table.find(1).select(two_factor::enabled_at).first(conn).optional()?;
    let Some(Some(at)) = enabled_at else {
        return Ok(Status::default());
    };
    Ok(Status {
        enabled: true,
        enabled_at: DateTime::from_timestamp(at, 0),
        recovery_codes_left: recovery_left(conn)?,
    })
}

pub fn is_enabled(conn: &mut Conn) -> Result<bool, AppError> {
    Ok(status(conn)?.enabled)
}

fn recovery_left(conn: &mut Conn) -> QueryResult<i64> {
    recovery_codes::table.filter(recovery_codes::used_at.is_null()).count().get_result(conn)
}

/// The secret of a setup begun and not yet confirmed (for its QR code), if any.
pub fn pending_secret(conn: &mut Conn) -> Result<Option<String>, AppError> {
    Ok(two_factor::table
        .find(1)
        .filter(two_factor::enabled_at.is_null())
        .select(two_factor::secret)
        .first(conn)
        .optional()?)
}

/// Makes a new secret for the person to add to an authenticator app. The second factor is not
/// on until [`confirm_setup`]. Beginning again replaces an unconfirmed secret.
pub fn begin_setup(conn: &mut Conn, now: DateTime<Utc>) -> Result<String, AppError> {
    crate::db::write(conn, |conn| {
        if is_enabled(conn)? {
            return Err(AppError::Conflict(
                "two-factor authentication is on already; turn it off first to move it to another app".into(),
            ));
        }
        let mut key = [0u8; SECRET_BYTES];
        // The OS random source failing is unrecoverable for a secret.
        #[allow(clippy::expect_used)]
        getrandom::fill(&mut key).expect("the operating system's random source failed");
        let secret = base32_encode(&key);
        diesel::replace_into(two_factor::table)
            .values((
                two_factor::id.eq(1),
                two_factor::secret.eq(&secret),
                two_factor::enabled_at.eq(None::<i64>),
                two_factor::last_step.eq(0),
                two_factor::created_at.eq(now.timestamp()),
            ))
            .execute(conn)?;
        Ok(secret)
    })
}

/// Drops a setup that was begun and not confirmed.
pub fn cancel_setup(conn: &mut Conn) -> Result<(), AppError> {
    diesel::delete(two_factor::table.filter(two_factor::enabled_at.is_null())).execute(conn)?;
    Ok(())
}

const WRONG_CODE: &str =
    "that code is not right, or it was used already: type the 6 digits your authenticator app shows now";

/// Turns the second factor on when `code` is a current code of the secret being set up; returns
/// the new recovery codes (shown this once).
pub fn confirm_setup(conn: &mut Conn, code: &str, now: DateTime<Utc>) -> Result<Vec<String>, AppError> {
    crate::db::write(conn, |conn| {
        let Some(secret) = pending_secret(conn)? else {
            return Err(AppError::Conflict(
                "there is no setup waiting for a code (it was finished or cancelled): start again".into(),
            ));
        };
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let key = base32_decode(&secret).unwrap_or_default();
        let Some(step) = matching_step(&key, &code, now.timestamp(), 0) else {
            return Err(AppError::invalid("code", WRONG_CODE));
        };
        diesel::update(two_factor::table.find(1))
            .set((two_factor::enabled_at.eq(now.timestamp()), two_factor::last_step.eq(step)))
            .execute(conn)?;
        replace_recovery_codes(conn, now)
    })
}

/// New recovery codes in place of the old ones (which stop working); asks for the password.
pub fn regenerate_recovery_codes(
    conn: &mut Conn,
    given_password: &str,
    now: DateTime<Utc>,
) -> Result<Vec<String>, AppError> {
    check_password(conn, given_password)?;
    crate::db::write(conn, |conn| {
        if !is_enabled(conn)? {
            return Err(AppError::Conflict(
                "two-factor authentication is off: there are no recovery codes".into(),
            ));
        }
        replace_recovery_codes(conn, now)
    })
}

fn replace_recovery_codes(conn: &mut Conn, now: DateTime<Utc>) -> Result<Vec<String>, AppError> {
    diesel::delete(recovery_codes::table).execute(conn)?;
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let mut bytes = [0u8; RECOVERY_BYTES];
        #[allow(clippy::expect_used)]
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        let plain = base32_encode(&bytes).to_ascii_lowercase();
        diesel::insert_into(recovery_codes::table)
            .values((
                recovery_codes::code_hash.eq(sha256_hex(&plain)),
                recovery_codes::created_at.eq(now.timestamp()),
            ))
            .execute(conn)?;
        // Shown in groups of four: easier to copy by hand.
        let grouped: Vec<&str> = (0..plain.len()).step_by(4).map(|i| &plain[i..i + 4]).collect();
        codes.push(grouped.join("-"));
    }
    Ok(codes)
}

fn check_password(conn: &mut Conn, given: &str) -> Result<(), AppError> {
    let stored = settings::get(conn, settings::PASSWORD_HASH)?.unwrap_or_default();
    if given.is_empty() || !password::verify(given, &stored) {
        return Err(AppError::invalid("password", "the password is wrong"));
    }
    Ok(())
}

/// Turns the second factor off from Settings; the password is always asked.
pub fn disable(conn: &mut Conn, given_password: &str) -> Result<(), AppError> {
    check_password(conn, given_password)?;
    if !is_enabled(conn)? {
        return Err(AppError::Conflict("two-factor authentication is off already".into()));
    }
    reset(conn).map(|_| ())
}

/// What [`reset`] found and removed.
#[derive(Debug, Clone, Serialize)]
pub struct Reset {
    /// It was on (a setup that was never confirmed does not count).
    pub was_enabled: bool,
    pub enabled_at: Option<DateTime<Utc>>,
    /// Unused recovery codes that stopped working.
    pub recovery_codes_removed: i64,
    /// Logins that were waiting for a code and now must start again.
    pub pending_logins_removed: usize,
}

/// Turns the second factor off without any check: the terminal's way back in
/// (`steward passwd --reset-2fa`), and what [`disable`] does after the password.
pub fn reset(conn: &mut Conn) -> Result<Reset, AppError> {
    crate::db::write(conn, |conn| {
        let before = status(conn)?;
        diesel::delete(two_factor::table).execute(conn)?;
        diesel::delete(recovery_codes::table).execute(conn)?;
        let pending = diesel::delete(login_challenges::table).execute(conn)?;
        Ok(Reset {
            was_enabled: before.enabled,
            enabled_at: before.enabled_at,
            recovery_codes_removed: before.recovery_codes_left,
            pending_logins_removed: pending,
        })
    })
}

/// Opens the second step of a login whose password was right: returns the challenge's token
/// (for an HttpOnly cookie; only its hash is kept). Expired challenges are cleared here.
pub fn begin_challenge(conn: &mut Conn, now: DateTime<Utc>) -> Result<String, AppError> {
    diesel::delete(login_challenges::table.filter(login_challenges::expires_at.le(now.timestamp())))
        .execute(conn)?;
    let token = random_token(16);
    diesel::insert_into(login_challenges::table)
        .values((
            login_challenges::token_hash.eq(sha256_hex(&token)),
            login_challenges::expires_at.eq((now + Duration::minutes(CHALLENGE_MINUTES)).timestamp()),
        ))
        .execute(conn)?;
    Ok(token)
}

/// Whether `token` is a challenge still waiting for its code.
pub fn challenge_is_open(conn: &mut Conn, token: &str, now: DateTime<Utc>) -> Result<bool, AppError> {
    Ok(open_challenge(conn, token, now)?.is_some())
}

fn open_challenge(conn: &mut Conn, token: &str, now: DateTime<Utc>) -> QueryResult<Option<(i32, i32)>> {
    login_challenges::table
        .filter(login_challenges::token_hash.eq(sha256_hex(token)))
        .filter(login_challenges::expires_at.gt(now.timestamp()))
        .select((login_challenges::id, login_challenges::failures))
        .first(conn)
        .optional()
}

/// The error when the challenge is gone (expired, used, too many wrong codes, 2FA turned off):
/// its field is `challenge`, and the login form is where to go.
fn challenge_gone(why: &str) -> AppError {
    AppError::invalid("challenge", format!("{why}: enter your password again"))
}

/// The second step of a login: a current code or an unused recovery code for the challenge
/// `token` starts the session. Wrong codes count against the throttle of the browser's device
/// ([`super::devices`]) like wrong passwords, and go into the login history.
pub fn complete_login(
    conn: &mut Conn,
    throttle: &Throttle,
    token: &str,
    given: &str,
    start: SessionStart,
) -> Result<(String, Session), AppError> {
    let SessionStart { client, now, life, device, remember } = start;
    if let Err(retry_after) = devices::check(throttle, &device, &client.ip, now) {
        login_history::record(conn, client, &device, Outcome::Locked, now)?;
        return Err(AppError::Throttled { retry_after });
    }
    let Some((id, failures)) = open_challenge(conn, token, now)? else {
        return Err(challenge_gone(&format!(
            "this sign-in waited more than {CHALLENGE_MINUTES} minutes for its code"
        )));
    };
    let right = crate::db::write(conn, |conn| check_second_factor(conn, given, now))?;
    let challenge = login_challenges::table.find(id);
    if !right {
        devices::record_failure(throttle, &device, &client.ip, now);
        login_history::record(conn, client, &device, Outcome::WrongCode, now)?;
        if failures + 1 >= CHALLENGE_FAILURES {
            diesel::delete(challenge).execute(conn)?;
            return Err(challenge_gone("too many wrong codes for this sign-in"));
        }
        diesel::update(challenge).set(login_challenges::failures.eq(failures + 1)).execute(conn)?;
        return Err(AppError::invalid(
            "code",
            "that code is not right, or it was used already: type the 6 digits your authenticator app shows now, or one of your recovery codes",
        ));
    }
    // Deleting it is what claims it: of two tabs sending right codes, one gets the session.
    if diesel::delete(challenge).execute(conn)? == 0 {
        return Err(challenge_gone("this sign-in was finished in another tab"));
    }
    devices::record_success(throttle, &device, &client.ip);
    login_history::record(conn, client, &device, Outcome::Success, now)?;
    Ok(sessions::create(conn, client, now, life, remember)?)
}

/// Whether `given` is a current, unused code or an unused recovery code; a right one is used up.
fn check_second_factor(conn: &mut Conn, given: &str, now: DateTime<Utc>) -> Result<bool, AppError> {
    let row: Option<(String, Option<i64>, i64)> = two_factor::table
        .find(1)
        .select((two_factor::secret, two_factor::enabled_at, two_factor::last_step))
        .first(conn)
        .optional()?;
    let Some((secret, Some(_), last_step)) = row else {
        return Err(challenge_gone("two-factor authentication was turned off meanwhile"));
    };
    let plain: String =
        given.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase();
    if plain.len() == DIGITS as usize && plain.bytes().all(|b| b.is_ascii_digit()) {
        let key = base32_decode(&secret).unwrap_or_default();
        let Some(step) = matching_step(&key, &plain, now.timestamp(), last_step) else {
            return Ok(false);
        };
        diesel::update(two_factor::table.find(1)).set(two_factor::last_step.eq(step)).execute(conn)?;
        return Ok(true);
    }
    let used = diesel::update(
        recovery_codes::table
            .filter(recovery_codes::code_hash.eq(sha256_hex(&plain)))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(now.timestamp()))
    .execute(conn)?;
    if used > 0 {
        tracing::warn!(left = recovery_left(conn)?, "a recovery code was used to sign in");
    }
    Ok(used > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, the SHA-1 rows: the 20-byte ASCII seed, 8 digits.
    #[test]
    fn rfc6238_test_vectors() {
        let key = b"12345678901234567890";
        for (time, code) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_at(key, time, 8), code, "T = {time}");
        }
    }

    /// RFC 4226 Appendix D: HOTP of the same seed, counters 0 to 9, 6 digits.
    #[test]
    fn rfc4226_test_vectors() {
        let key = b"12345678901234567890";
        let codes = [755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489];
        for (counter, code) in codes.iter().enumerate() {
            assert_eq!(hotp(key, counter as u64, 6), *code, "counter {counter}");
        }
    }

    #[test]
    fn window_is_one_step_either_side() {
        let key = b"12345678901234567890";
        let now = 1_800_000_015; // step 60_000_000, 15 s into it
        let step = step_of(now);
        for (offset, accepted) in [(-2, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = code_at(key, now + offset * STEP_SECS, DIGITS);
            let found = matching_step(key, &code, now, 0);
            assert_eq!(found.is_some(), accepted, "offset {offset}");
            if accepted {
                assert_eq!(found, Some(step + offset));
            }
        }
        assert_eq!(matching_step(key, "12345", now, 0), None, "too short");
        assert_eq!(matching_step(key, "12a456", now, 0), None, "not digits");
    }

    #[test]
    fn a_code_is_not_accepted_twice() {
        let key = b"12345678901234567890";
        let now = 1_800_000_015;
        let code = code_at(key, now, DIGITS);
        let step = matching_step(key, &code, now, 0).unwrap();
        // The verifier keeps `step` as the last one used: the same code is refused after.
        assert_eq!(matching_step(key, &code, now, step), None);
        assert_eq!(matching_step(key, &code, now + 20, step), None, "still in its window");
        // ...and so is an older one still inside the window.
        let older = code_at(key, now - STEP_SECS, DIGITS);
        assert_eq!(matching_step(key, &older, now, step), None);
        // The next step's code is taken.
        let next = code_at(key, now + STEP_SECS, DIGITS);
        assert_eq!(matching_step(key, &next, now + STEP_SECS, step), Some(step + 1));
    }

    fn db() -> (tempfile::TempDir, crate::db::PooledConn) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open(&dir.path().join("t.db")).unwrap();
        let conn = db.conn().unwrap();
        (dir, conn)
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    /// A 6-digit code that is none of the three the window accepts at `now`.
    fn wrong_code(key: &[u8], now: DateTime<Utc>) -> String {
        let taken: Vec<String> =
            (-1..=1).map(|o| code_at(key, now.timestamp() + o * STEP_SECS, DIGITS)).collect();
        (0..4u32).map(|n| format!("{:06}", n * 271_828)).find(|c| !taken.contains(c)).unwrap()
    }

    fn field_of(e: AppError) -> String {
        match e {
            AppError::Invalid { field, .. } => field,
            other => panic!("expected a form error, got {other:?}"),
        }
    }

    #[test]
    fn setup_then_login_codes_are_used_once() {
        let (_dir, mut conn) = db();
        let conn = &mut *conn;
        crate::auth::set_password(conn, "correct horse battery", "correct horse battery", None).unwrap();
        let now = at(0);
        let secret = begin_setup(conn, now).unwrap();
        assert_eq!(pending_secret(conn).unwrap().as_deref(), Some(secret.as_str()));
        assert!(!is_enabled(conn).unwrap(), "not on before a code confirms it");
        let key = base32_decode(&secret).unwrap();
        assert_eq!(key.len(), 20);
        assert_eq!(field_of(confirm_setup(conn, &wrong_code(&key, now), now).unwrap_err()), "code");
        let first = code_at(&key, now.timestamp(), DIGITS);
        let codes = confirm_setup(conn, &first, now).unwrap();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert!(codes.iter().all(|c| c.len() == 19 && c.matches('-').count() == 3), "{codes:?}");
        let on = status(conn).unwrap();
        assert!(on.enabled);
        assert_eq!(on.recovery_codes_left, 10);
        assert_eq!(pending_secret(conn).unwrap(), None);
        assert!(matches!(begin_setup(conn, now), Err(AppError::Conflict(_))));

        let throttle = Throttle::default();
        let client = sessions::Client { ip: "192.0.2.7".into(), user_agent: String::new() };
        let life = sessions::Lifetimes { idle: Duration::hours(1), absolute: Duration::days(1) };
        let start = |now| SessionStart {
            client: &client,
            now,
            life,
            device: devices::Device::Unknown,
            remember: false,
        };
        // The code that confirmed the setup was used: the same code at login is refused.
        let token = begin_challenge(conn, now).unwrap();
        let replay = complete_login(conn, &throttle, &token, &first, start(now)).unwrap_err();
        assert_eq!(field_of(replay), "code");
        // A recovery code, typed in capitals and without its dashes, works once.
        let typed = codes[0].replace('-', " ").to_uppercase();
        complete_login(conn, &throttle, &token, &typed, start(now)).unwrap();
        assert_eq!(status(conn).unwrap().recovery_codes_left, 9);
        assert!(!challenge_is_open(conn, &token, now).unwrap(), "a challenge starts one session");
        let token = begin_challenge(conn, now).unwrap();
        let again = complete_login(conn, &throttle, &token, &codes[0], start(now)).unwrap_err();
        assert_eq!(field_of(again), "code");
        // The next step's code is taken, once.
        let later = now + Duration::seconds(STEP_SECS);
        let next = code_at(&key, later.timestamp(), DIGITS);
        complete_login(conn, &throttle, &token, &next, start(later)).unwrap();
        let token = begin_challenge(conn, later).unwrap();
        assert_eq!(
            field_of(complete_login(conn, &throttle, &token, &next, start(later)).unwrap_err()),
            "code"
        );
        // A challenge lasts five minutes.
        let late = later + Duration::minutes(CHALLENGE_MINUTES);
        let code = code_at(&key, late.timestamp(), DIGITS);
        let expired = complete_login(conn, &throttle, &token, &code, start(late)).unwrap_err();
        assert_eq!(field_of(expired), "challenge");

        let gone = reset(conn).unwrap();
        assert!(gone.was_enabled);
        assert_eq!(gone.recovery_codes_removed, 9);
        assert!(!is_enabled(conn).unwrap());
        assert_eq!(status(conn).unwrap().recovery_codes_left, 0);
    }

    /// Wrong codes count against the login throttle, and a challenge takes five of them.
    #[test]
    fn wrong_codes_are_throttled() {
        let (_dir, mut conn) = db();
        let conn = &mut *conn;
        let now = at(0);
        let key = base32_decode(&begin_setup(conn, now).unwrap()).unwrap();
        confirm_setup(conn, &code_at(&key, now.timestamp(), DIGITS), now).unwrap();
        let throttle = Throttle::default();
        let client = sessions::Client { ip: "192.0.2.8".into(), user_agent: String::new() };
        let life = sessions::Lifetimes { idle: Duration::hours(1), absolute: Duration::days(1) };
        let start =
            || SessionStart { client: &client, now, life, device: devices::Device::Unknown, remember: false };
        let token = begin_challenge(conn, now).unwrap();
        let wrong = wrong_code(&key, now);
        for _ in 1..CHALLENGE_FAILURES {
            assert_eq!(
                field_of(complete_login(conn, &throttle, &token, &wrong, start()).unwrap_err()),
                "code"
            );
        }
        let last = complete_login(conn, &throttle, &token, &wrong, start()).unwrap_err();
        assert_eq!(field_of(last), "challenge");
        // Five failures from this client: it waits, like after five wrong passwords.
        let right = code_at(&key, now.timestamp() + STEP_SECS, DIGITS);
        let token = begin_challenge(conn, now).unwrap();
        assert!(matches!(
            complete_login(conn, &throttle, &token, &right, start()),
            Err(AppError::Throttled { .. })
        ));
    }

    /// RFC 4648 §10 (without padding), and a round trip.
    #[test]
    fn base32_round_trips() {
        for (plain, coded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32_encode(plain.as_bytes()), coded);
            assert_eq!(base32_decode(coded).unwrap(), plain.as_bytes());
            assert_eq!(base32_decode(&coded.to_lowercase()).unwrap(), plain.as_bytes());
        }
        assert_eq!(base32_decode("MZXW6YTBOI======").unwrap(), b"foobar");
        assert_eq!(base32_decode("MZ1W"), None, "1 is not base32");
        let key: Vec<u8> = (0..20).collect();
        assert_eq!(base32_decode(&base32_encode(&key)).unwrap(), key);
    }

    #[test]
    fn otpauth_uri_names_issuer_and_parameters() {
        assert_eq!(
            otpauth_uri("JBSWY3DPEHPK3PXP", "home.example:8443"),
            "otpauth://totp/Steward:home.example%3A8443?secret=JBSWY3DPEHPK3PXP&issuer=Steward&algorithm=SHA1&digits=6&period=30"
        );
        assert!(otpauth_uri("A", "a b/c").contains("/Steward:a%20b%2Fc?"));
    }
}
