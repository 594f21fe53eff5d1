//! Login throttling. After [`FREE_FAILURES`] wrong passwords in a row from one client (or
//! [`ACCOUNT_FREE_FAILURES`] against the account from unknown devices), further attempts are refused
//! for a wait that doubles with each further failure, up to [`MAX_WAIT_SECS`]. Each lock is
//! logged (warn) with the client and the wait. A correct password after the wait clears the
//! record. Which keys a login attempt counts against (its address and the shared "unknown
//! devices" bucket, or only its known device) is decided in [`super::devices`]. Kept in memory: an attacker cannot restart the server, and a person locked out by
//! mistake can.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

pub const FREE_FAILURES: u32 = 5;
pub const ACCOUNT_FREE_FAILURES: u32 = 20;
pub const MAX_WAIT_SECS: i64 = 15 * 60;

const ACCOUNT: &str = "account";

#[derive(Default)]
pub struct Throttle {
    records: Mutex<HashMap<String, Record>>,
}

#[derive(Clone, Copy)]
struct Record {
    failures: u32,
    locked_until: Option<DateTime<Utc>>,
}

impl Throttle {
    /// `Err(seconds to wait)` while the client or the account is locked.
    pub fn check(&self, client: &str, now: DateTime<Utc>) -> Result<(), u64> {
        self.check_keys(&[client, ACCOUNT], now)
    }

    /// `Err(seconds to wait)` while any of `keys` is locked.
    pub fn check_keys(&self, keys: &[&str], now: DateTime<Utc>) -> Result<(), u64> {
        let records = self.lock();
        let wait = keys
            .iter()
            .filter_map(|key| records.get(*key).and_then(|r| r.locked_until))
            .filter(|until| *until > now)
            .map(|until| (until - now).num_milliseconds())
            .max();
        match wait {
            // Round up, so a client that waits exactly Retry-After seconds gets through.
            Some(ms) => Err(((ms + 999) / 1000).max(1) as u64),
            None => Ok(()),
        }
    }

    pub fn record_failure(&self, client: &str, now: DateTime<Utc>) {
        self.fail_key(client, FREE_FAILURES, now);
        self.fail_key(ACCOUNT, ACCOUNT_FREE_FAILURES, now);
    }

    /// One more failure against `key`; past `free` failures it locks, for longer each time.
    pub fn fail_key(&self, key: &str, free: u32, now: DateTime<Utc>) {
        let mut records = self.lock();
        let record = records.entry(key.to_string()).or_insert(Record { failures: 0, locked_until: None });
        record.failures += 1;
        if record.failures >= free {
            let doublings = (record.failures - free).min(20);
            let wait = (1i64 << doublings).min(MAX_WAIT_SECS);
            record.locked_until = Some(now + Duration::seconds(wait));
            let failures = record.failures;
            if key == ACCOUNT {
                tracing::warn!(
                    failures,
                    wait_secs = wait,
                    "too many wrong passwords; login locked for unknown devices"
                );
            } else {
                tracing::warn!(
                    client = key,
                    failures,
                    wait_secs = wait,
                    "too many wrong passwords; login locked"
                );
            }
        }
    }

    pub fn record_success(&self, client: &str) {
        self.clear_keys(&[client, ACCOUNT]);
    }

    /// Forgets the failures of `keys`.
    pub fn clear_keys(&self, keys: &[&str]) {
        let mut records = self.lock();
        for key in keys {
            records.remove(*key);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn locks_after_five_and_backs_off() {
        let t = Throttle::default();
        for _ in 0..4 {
            t.record_failure("1.2.3.4", at(0));
            assert!(t.check("1.2.3.4", at(0)).is_ok());
        }
        t.record_failure("1.2.3.4", at(0));
        assert_eq!(t.check("1.2.3.4", at(0)), Err(1));
        assert!(t.check("5.6.7.8", at(0)).is_ok(), "other clients are not locked yet");
        assert!(t.check("1.2.3.4", at(1)).is_ok());
        t.record_failure("1.2.3.4", at(1));
        assert_eq!(t.check("1.2.3.4", at(1)), Err(2));
        t.record_failure("1.2.3.4", at(3));
        assert_eq!(t.check("1.2.3.4", at(3)), Err(4));
        t.record_success("1.2.3.4");
        assert!(t.check("1.2.3.4", at(3)).is_ok());
    }

    #[test]
    fn account_lock_covers_every_client() {
        let t = Throttle::default();
        for i in 0..ACCOUNT_FREE_FAILURES {
            t.record_failure(&format!("10.0.0.{i}"), at(0));
        }
        assert!(t.check("192.0.2.1", at(0)).is_err());
        assert!(t.check("192.0.2.1", at(2)).is_ok());
    }

    #[test]
    fn wait_is_capped() {
        let t = Throttle::default();
        for _ in 0..100 {
            t.record_failure("c", at(0));
        }
        assert_eq!(t.check("c", at(0)), Err(MAX_WAIT_SECS as u64));
    }
}
