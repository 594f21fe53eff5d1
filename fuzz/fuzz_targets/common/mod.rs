//! The input layout shared by every target: a 5-byte header, then the text.
//!
//! - byte 0: the zone, `ZONES[b % ZONES.len()]`;
//! - bytes 1..5: a big-endian `u32`, taken modulo `SPAN` as seconds after
//!   1970-01-01T00:00Z, so `now` falls in 1970..2100;
//! - the rest: the text, which must be UTF-8 (other inputs are skipped).
//!
//! `fuzz/gen_seeds.py` writes seeds in this layout.

use chrono::{DateTime, TimeZone};
use chrono_tz::Tz;

pub const ZONES: [Tz; 10] = [
    chrono_tz::UTC,
    chrono_tz::Europe::Berlin,
    chrono_tz::America::New_York,
    chrono_tz::Australia::Lord_Howe,
    chrono_tz::Pacific::Chatham,
    chrono_tz::Pacific::Apia,
    chrono_tz::Pacific::Kiritimati,
    chrono_tz::Asia::Kathmandu,
    chrono_tz::America::St_Johns,
    chrono_tz::Africa::Casablanca,
];

/// Seconds from 1970-01-01 to 2100-01-01.
pub const SPAN: u32 = 4_102_444_800;

pub struct Input<'a> {
    pub tz: Tz,
    #[allow(dead_code)] // `todotxt` only needs the zone
    pub now: DateTime<Tz>,
    pub text: &'a str,
}

pub fn split(data: &[u8]) -> Option<Input<'_>> {
    let (&[zone, a, b, c, d], rest) = data.split_first_chunk::<5>()?;
    let tz = ZONES[usize::from(zone) % ZONES.len()];
    let secs = u32::from_be_bytes([a, b, c, d]) % SPAN;
    let now = tz.timestamp_opt(i64::from(secs), 0).single()?;
    let text = std::str::from_utf8(rest).ok()?;
    Some(Input { tz, now, text })
}
