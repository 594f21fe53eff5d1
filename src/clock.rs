//! Time as a dependency: code that needs "now" asks a [`Clock`], so tests can fix it.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// An instant as whole milliseconds since the Unix epoch: how the scheduler's tables store time.
pub fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// An instant something becomes due, as whole milliseconds: rounded *up*, so that a due time
/// asked for with finer precision (`12:00:00.0004Z`) is never stored before itself and so can
/// never fire early. (`to_ms` floors, which is right for "now": `to_ms(now) >= t` then
/// implies `now >= t`.)
pub fn due_ms(t: DateTime<Utc>) -> i64 {
    let ms = t.timestamp_millis();
    if t.timestamp_subsec_nanos().is_multiple_of(1_000_000) { ms } else { ms + 1 }
}

/// `t` rounded up to a whole millisecond (see [`due_ms`]).
pub fn ceil_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    from_ms(due_ms(t))
}

/// The inverse of [`to_ms`]; out-of-range values (never written by Steward) clamp to the epoch.
pub fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The machine's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    // The one place that reads the machine's clock.
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stays where it is put, for tests.
#[derive(Clone)]
pub struct FixedClock(Arc<Mutex<DateTime<Utc>>>);

impl FixedClock {
    pub fn new(at: DateTime<Utc>) -> FixedClock {
        FixedClock(Arc::new(Mutex::new(at)))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        if let Ok(mut now) = self.0.lock() {
            *now = at;
        }
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().map(|now| *now).unwrap_or_else(|e| *e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_instants_round_up_and_now_rounds_down() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        for (t, floor, up) in [
            ("2026-12-02T00:00:00Z", "2026-12-02T00:00:00Z", "2026-12-02T00:00:00Z"),
            ("2026-12-02T00:00:00.250Z", "2026-12-02T00:00:00.250Z", "2026-12-02T00:00:00.250Z"),
            ("2026-12-02T00:00:00.000001Z", "2026-12-02T00:00:00Z", "2026-12-02T00:00:00.001Z"),
            ("2026-12-01T23:59:59.999700Z", "2026-12-01T23:59:59.999Z", "2026-12-02T00:00:00Z"),
            ("1969-12-31T23:59:59.9997Z", "1969-12-31T23:59:59.999Z", "1970-01-01T00:00:00Z"),
        ] {
            assert_eq!(from_ms(to_ms(at(t))), at(floor), "{t} floored");
            assert_eq!(ceil_ms(at(t)), at(up), "{t} rounded up");
            assert!(ceil_ms(at(t)) >= at(t) && from_ms(to_ms(at(t))) <= at(t));
        }
    }
}
