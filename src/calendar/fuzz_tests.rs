//! A deterministic randomized test in place of a fuzzer: mutated real-world ICS files and
//! random RRULE strings must never panic and never hang (each input is timed).

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDateTime, Utc};

use super::ics;
use super::ics_tests::MESSY;
use super::recur::{self, Floating, Rule};
use super::service;
use super::service::tests::{ctx, db};

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const TOKENS: [&str; 40] = [
    "\r\n",
    "\n",
    "\r",
    " ",
    "\t",
    ":",
    ";",
    ",",
    "=",
    "\"",
    "\\",
    "\\,",
    "\\n",
    "BEGIN:VEVENT\r\n",
    "END:VEVENT\r\n",
    "BEGIN:VCALENDAR\r\n",
    "END:VCALENDAR\r\n",
    "BEGIN:VALARM\r\n",
    "RRULE:FREQ=SECONDLY\r\n",
    "RRULE:FREQ=YEARLY;BYSETPOS=-1;BYDAY=MO\r\n",
    "RRULE:FREQ=MONTHLY;BYMONTHDAY=31;COUNT=99999\r\n",
    "EXDATE:20260229T000000Z\r\n",
    "RDATE;VALUE=PERIOD:20260301T000000Z/PT1H\r\n",
    "DTSTART:99991231T235959Z\r\n",
    "DTSTART;VALUE=DATE:00000101\r\n",
    "TZID=W. Europe Standard Time",
    "TZID=\"Nowhere\"",
    "20260329T023000",
    "DURATION:P99999999W\r\n",
    "DURATION:-PT1H\r\n",
    "RECURRENCE-ID:20260302T093000\r\n",
    "SEQUENCE:-5\r\n",
    "é",
    "😀",
    "\u{feff}",
    "\u{0}",
    "UID:\r\n",
    "CATEGORIES:a\\,b,,c\r\n",
    "TZOFFSETTO:+9999\r\n",
    "X-Y;A=\"b:c\":d\r\n",
];

fn mutate(rng: &mut Rng, base: &str) -> String {
    let mut chars: Vec<char> = base.chars().collect();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(chars.len() + 1);
        match rng.below(4) {
            0 => {
                let len = rng.below(40).min(chars.len().saturating_sub(at));
                chars.drain(at..at + len);
            }
            1 => {
                let len = rng.below(200).min(chars.len().saturating_sub(at));
                let copy: Vec<char> = chars[at..at + len].to_vec();
                let to = rng.below(chars.len() + 1);
                chars.splice(to..to, copy);
            }
            _ => {
                let token: Vec<char> = rng.pick(&TOKENS).chars().collect();
                chars.splice(at..at, token);
            }
        }
    }
    chars.into_iter().collect()
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

#[test]
fn mutated_ics_files_never_panic_or_hang() {
    let (_dir, mut conn) = db();
    let ctx = ctx("2026-03-01T00:00:00Z", "Europe/Berlin");
    let mut bases = vec![MESSY.to_string()];
    {
        let (_d, mut c) = db();
        super::ics_tests::mixed_calendar(&mut c);
        bases.push(ics::export(&mut c, &ctx, None, &ics::WriteOptions::default()).unwrap());
    }
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let started = Instant::now();
    let mut runs = 0;
    while runs < 400 && started.elapsed() < Duration::from_secs(8) {
        let base = bases[rng.below(bases.len())].clone();
        let text = mutate(&mut rng, &base);
        let one = Instant::now();
        let _ = ics::read_events(&text, 1, ctx.tz);
        if runs % 8 == 0 {
            // Through the database too, then an expansion of whatever came in.
            if ics::import(&mut conn, &ctx, 1, &text).is_ok() {
                let (occ, _) = service::occurrences(
                    &mut conn,
                    &ctx,
                    at("2026-01-01T00:00:00Z"),
                    at("2027-01-01T00:00:00Z"),
                    None,
                )
                .unwrap();
                assert!(occ.len() <= crate::calendar::MAX_OCCURRENCES);
            }
        }
        assert!(one.elapsed() < Duration::from_secs(5), "input {runs} took {:?}:\n{text}", one.elapsed());
        runs += 1;
    }
    eprintln!("{runs} ics inputs");
    assert!(runs >= 30, "only {runs} inputs in the time bound");
}

#[test]
fn random_rules_never_panic_or_hang() {
    let parts = [
        "FREQ=SECONDLY",
        "FREQ=MINUTELY",
        "FREQ=HOURLY",
        "FREQ=DAILY",
        "FREQ=WEEKLY",
        "FREQ=MONTHLY",
        "FREQ=YEARLY",
        "FREQ=SOMETIMES",
        "INTERVAL=1",
        "INTERVAL=7",
        "INTERVAL=100000",
        "INTERVAL=0",
        "COUNT=1",
        "COUNT=50",
        "COUNT=4294967295",
        "UNTIL=20261231T235959Z",
        "UNTIL=20260101",
        "UNTIL=99991231T000000",
        "BYDAY=MO,TU,WE,TH,FR",
        "BYDAY=-1FR",
        "BYDAY=53SU",
        "BYDAY=-53MO",
        "BYDAY=+2WE",
        "BYMONTHDAY=31",
        "BYMONTHDAY=-1",
        "BYMONTHDAY=30",
        "BYMONTH=2",
        "BYMONTH=2,4,6",
        "BYYEARDAY=366",
        "BYYEARDAY=-366",
        "BYWEEKNO=53",
        "BYWEEKNO=-1",
        "BYSETPOS=1",
        "BYSETPOS=-1",
        "BYSETPOS=366",
        "BYHOUR=0,23",
        "BYMINUTE=0,30",
        "BYSECOND=60",
        "WKST=SU",
        "WKST=XX",
        "",
        "=",
        "BYDAY=",
        "RRULE:",
        ";;",
    ];
    let mut rng = Rng(0xfeed_beef_0bad_cafe);
    let started = Instant::now();
    let mut runs = 0;
    let start = NaiveDateTime::parse_from_str("2026-01-31T09:30:00", "%Y-%m-%dT%H:%M:%S").unwrap();
    let end = Some(NaiveDateTime::parse_from_str("2036-01-01T00:00:00", "%Y-%m-%dT%H:%M:%S").unwrap());
    while runs < 3000 && started.elapsed() < Duration::from_secs(8) {
        let n = 1 + rng.below(5);
        let text: Vec<&str> = (0..n).map(|_| rng.pick(&parts)).collect();
        let text = text.join(";");
        runs += 1;
        let Ok(rule) = Rule::parse(&text) else { continue };
        assert_eq!(Rule::parse(&rule.to_string()).as_ref(), Ok(&rule), "{text}");
        let one = Instant::now();
        let x = recur::expand_window(&rule, start, None, end, 10_001, &Floating);
        assert!(x.starts.len() <= 10_001);
        assert!(x.starts.windows(2).all(|w| w[0] < w[1]), "{text}: not ascending");
        assert!(one.elapsed() < Duration::from_secs(5), "{text} took {:?}", one.elapsed());
    }
    eprintln!("{runs} rules");
    assert!(runs >= 200, "only {runs} rules in the time bound");
}
