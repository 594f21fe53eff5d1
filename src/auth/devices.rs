//! Device cookies, so that a stranger's guessing cannot lock the owner out (OWASP, "Slow down
//! online guessing attacks with device cookies").
//!
//! A browser that logs in successfully gets a signed device cookie: `<payload>.<tag>` in
//! base64url, where the payload is `owner|<device id>|<issued at, ms>` and the tag an
//! HMAC-SHA256 of it under a server key made on first use and kept in the settings table. A
//! login attempt that carries a valid cookie comes from a *known device*; one without a cookie,
//! or with a forged, altered or expired one, from an *unknown device*.
//!
//! - An unknown device's wrong passwords count against its address and against the shared
//!   "unknown devices" bucket ([`Throttle::check`], [`Throttle::record_failure`]): 5 in a row
//!   from one address, or 20 from anywhere, lock every unknown device for a wait that doubles
//!   up to 15 minutes.
//! - A known device's wrong passwords count against that device only, and only its own lock
//!   stops it: neither the address (a proxy, a shared NAT) nor the unknown-devices lock apply.
//!   So a stranger's hundred guesses lock only unknown devices, and the owner's phone that has
//!   logged in before gets in at once.
//! - A success clears the record of what it was checked against, and the browser gets the
//!   cookie again (its id kept, so its own lock and history stay its own; a fresh issue date).
//!
//! The cookie only chooses a throttle bucket; it never stands in for the password.

use chrono::{DateTime, Duration, Utc};

use super::login_history::{self, Outcome};
use super::sessions::Client;
use super::throttle::{FREE_FAILURES, Throttle};
use crate::db::Conn;
use crate::error::AppError;

/// How long a device stays known after its last successful login (the cookie's Max-Age).
pub const COOKIE_DAYS: i64 = 400;
/// The one account's name in the cookie (Steward has one person; the name binds the cookie to
/// this use should accounts ever come).
const ACCOUNT: &str = "owner";
/// The settings key of the server's device-cookie key (32 random bytes, hex).
const KEY_SETTING: &str = "device_cookie_key";
/// What the MAC covers besides the payload, so no other HMAC in Steward can stand in for it.
const DOMAIN: &str = "steward-device-cookie-v1";

/// Where a login attempt comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Device {
    /// A browser with a valid device cookie: its id.
    Known(String),
    /// No cookie, or one that does not verify.
    #[default]
    Unknown,
}

impl Device {
    pub fn id(&self) -> Option<&str> {
        match self {
            Device::Known(id) => Some(id),
            Device::Unknown => None,
        }
    }

    /// The throttle key of a known device (never an address: those contain no `:` prefix).
    fn key(id: &str) -> String {
        format!("device:{id}")
    }
}

/// The device a request's cookie names, if the cookie is ours, unaltered and not expired.
pub fn recognise(conn: &mut Conn, cookie: Option<&str>, now: DateTime<Utc>) -> Result<Device, AppError> {
    let Some(cookie) = cookie.filter(|c| !c.is_empty()) else { return Ok(Device::Unknown) };
    let key = crate::db::settings::secret_key(conn, KEY_SETTING)?;
    Ok(verify(&key, cookie, now).map_or(Device::Unknown, Device::Known))
}

/// The cookie value to give a browser that just logged in: its own id again when it was known,
/// else a new one.
pub fn cookie_for(conn: &mut Conn, device: &Device, now: DateTime<Utc>) -> Result<String, AppError> {
    let id = device.id().map_or_else(|| super::random_token(12), str::to_string);
    Ok(sign(&crate::db::settings::secret_key(conn, KEY_SETTING)?, &id, now))
}

/// `Err(seconds to wait)` while this attempt's bucket is locked.
pub fn check(throttle: &Throttle, device: &Device, ip: &str, now: DateTime<Utc>) -> Result<(), u64> {
    match device {
        Device::Known(id) => throttle.check_keys(&[Device::key(id).as_str()], now),
        Device::Unknown => throttle.check(ip, now),
    }
}

/// A wrong password from this attempt.
pub fn record_failure(throttle: &Throttle, device: &Device, ip: &str, now: DateTime<Utc>) {
    match device {
        Device::Known(id) => throttle.fail_key(&Device::key(id), FREE_FAILURES, now),
        Device::Unknown => throttle.record_failure(ip, now),
    }
}

/// The right password from this attempt.
pub fn record_success(throttle: &Throttle, device: &Device, ip: &str) {
    match device {
        Device::Known(id) => throttle.clear_keys(&[Device::key(id).as_str()]),
        Device::Unknown => throttle.record_success(ip),
    }
}

/// Who types the password, from which device, when.
pub struct Attempt<'a> {
    pub client: &'a Client,
    pub device: &'a Device,
    pub now: DateTime<Utc>,
}

/// Checks `given` under the throttle of the attempt's device and notes the attempt in the
/// login history (as `outcomes.0` when right, `outcomes.1` when wrong, `locked` when refused
/// unchecked). `Ok(false)`: the password is wrong. The one check that login and
/// re-authentication share.
pub fn check_password(
    conn: &mut Conn,
    throttle: &Throttle,
    given: &str,
    attempt: &Attempt,
    outcomes: (Outcome, Outcome),
) -> Result<bool, AppError> {
    let Attempt { client, device, now } = *attempt;
    if let Err(retry_after) = check(throttle, device, &client.ip, now) {
        login_history::record(conn, client, device, Outcome::Locked, now)?;
        return Err(AppError::Throttled { retry_after });
    }
    let Some(stored) = crate::db::settings::get(conn, crate::db::settings::PASSWORD_HASH)? else {
        return Err(AppError::Forbidden(
            "no password is set yet: use the setup link printed at start-up, or `steward passwd`".into(),
        ));
    };
    let right = super::password::verify(given, &stored);
    // Half a login (the second factor comes next) clears nothing: knowing the password must not
    // reset the count of wrong codes.
    if !right {
        record_failure(throttle, device, &client.ip, now);
    } else if outcomes.0 != Outcome::PasswordRight {
        record_success(throttle, device, &client.ip);
    }
    login_history::record(conn, client, device, if right { outcomes.0 } else { outcomes.1 }, now)?;
    Ok(right)
}

/// A signed cookie value for device `id`, issued `now`.
pub fn sign(key: &[u8], id: &str, now: DateTime<Utc>) -> String {
    super::signed::sign(key, DOMAIN, &format!("{ACCOUNT}|{id}|{}", now.timestamp_millis()))
}

/// The device id a cookie value holds, if the server signed it for this account within
/// [`COOKIE_DAYS`].
pub fn verify(key: &[u8], value: &str, now: DateTime<Utc>) -> Option<String> {
    let payload = super::signed::open(key, DOMAIN, value)?;
    let mut parts = payload.splitn(3, '|');
    let (account, id, issued) = (parts.next()?, parts.next()?, parts.next()?);
    let issued = DateTime::from_timestamp_millis(issued.parse().ok()?)?;
    let fresh = issued <= now + Duration::minutes(5) && now - issued < Duration::days(COOKIE_DAYS);
    (account == ACCOUNT && !id.is_empty() && fresh).then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn a_signed_cookie_verifies_and_an_altered_one_does_not() {
        let key = [7u8; 32];
        let cookie = sign(&key, "dev1", at(0));
        assert_eq!(verify(&key, &cookie, at(60)).as_deref(), Some("dev1"));
        assert_eq!(verify(&[8u8; 32], &cookie, at(60)), None, "another server's key");
        let (payload, tag) = cookie.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode(format!("owner|dev2|{}", at(0).timestamp_millis()));
        assert_eq!(verify(&key, &format!("{forged}.{tag}"), at(60)), None, "another id, same tag");
        assert_eq!(verify(&key, payload, at(60)), None, "no tag");
        assert_eq!(verify(&key, "garbage", at(60)), None);
        assert_eq!(verify(&key, &cookie, at(COOKIE_DAYS * 86_400 + 1)), None, "expired");
    }

    #[test]
    fn a_strangers_guessing_locks_only_unknown_devices() {
        let t = Throttle::default();
        let owner = Device::Known("phone".into());
        for _ in 0..100 {
            record_failure(&t, &Device::Unknown, "203.0.113.9", at(0));
        }
        assert!(check(&t, &Device::Unknown, "203.0.113.9", at(0)).is_err());
        assert!(check(&t, &Device::Unknown, "198.51.100.1", at(0)).is_err(), "every unknown device");
        assert!(check(&t, &owner, "203.0.113.9", at(0)).is_ok(), "the known device, even from that address");
        for _ in 0..FREE_FAILURES {
            record_failure(&t, &owner, "203.0.113.9", at(0));
        }
        assert!(check(&t, &owner, "203.0.113.9", at(0)).is_err(), "its own failures lock it");
        assert!(check(&t, &Device::Known("laptop".into()), "203.0.113.9", at(0)).is_ok());
        record_success(&t, &owner, "203.0.113.9");
        assert!(check(&t, &owner, "203.0.113.9", at(0)).is_ok());
    }
}
