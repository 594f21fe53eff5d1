#!/usr/bin/env python3
"""Write the committed seed corpora in fuzz/seeds/<target>/.

Every input is a 5-byte header and UTF-8 text (see fuzz_targets/common/mod.rs):
byte 0 picks the zone (index into ZONES below), bytes 1..5 are a big-endian
u32 of seconds since 1970-01-01T00:00Z (taken mod 1970..2100). Re-run after
editing the lists: `python3 fuzz/gen_seeds.py` (it replaces the seed dirs).
"""

import hashlib
import shutil
import struct
from datetime import datetime, timezone
from pathlib import Path

# Same order as ZONES in fuzz_targets/common/mod.rs.
ZONES = [
    "UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Pacific/Chatham",
    "Pacific/Apia", "Pacific/Kiritimati", "Asia/Kathmandu", "America/St_Johns", "Africa/Casablanca",
]


def header(zone, utc):
    ts = int(datetime.fromisoformat(utc).replace(tzinfo=timezone.utc).timestamp())
    return bytes([ZONES.index(zone)]) + struct.pack(">I", ts)


# (zone, now in UTC): ordinary days, DST edges, skipped days, range ends.
NOWS = [
    header("Europe/Berlin", "2026-11-22T09:00:00"),       # Sun 10:00 local
    header("Europe/Berlin", "2026-03-29T00:30:00"),       # 30 min before spring forward
    header("Europe/Berlin", "2026-10-25T00:30:00"),       # 02:30 CEST, before fall back
    header("America/New_York", "2026-03-08T06:30:00"),    # 01:30 EST, gap at 02:00
    header("America/New_York", "2026-11-01T05:30:00"),    # 01:30 EDT, repeated hour
    header("Australia/Lord_Howe", "2026-10-03T15:00:00"), # 30-minute DST shift
    header("Pacific/Chatham", "2026-04-04T13:00:00"),     # +13:45 -> +12:45
    header("UTC", "2024-02-29T23:59:59"),                 # leap day
    header("UTC", "2026-01-31T12:00:00"),                 # month end
    header("Pacific/Apia", "2011-12-29T09:00:00"),        # the day before Samoa skipped Dec 30
    header("Pacific/Kiritimati", "1994-12-31T09:00:00"),  # skipped Dec 31
    header("Asia/Kathmandu", "2026-06-15T06:15:00"),      # +05:45
    header("America/St_Johns", "2026-07-04T15:30:00"),    # -02:30
    header("Africa/Casablanca", "2026-02-20T12:00:00"),   # Ramadan DST (negative)
    header("UTC", "1970-01-01T00:00:00"),                 # range start
    header("Pacific/Chatham", "2099-12-31T23:59:59"),     # range end
]

TODOTXT = [
    "Buy milk",
    "(A) Call mom +family @phone",
    "(B) 2026-11-20 Pay rent due:2026-12-01 +home",
    "x 2026-11-22 2026-11-20 Done thing +proj @ctx",
    "x (A) 2026-11-22 Done with priority",
    "x 2026-11-22 Just completed",
    "x Done without dates",
    "2026-11-20 Created only",
    "(A)  two spaces after priority",
    "x  two spaces after x",
    "(a) lowercase priority",
    "(AB) not a priority",
    "2026-02-30 impossible date prefix",
    "2026-1-5 short date",
    "x 2026-11-22 2026-11-20 ",
    "(A) ",
    "x ",
    "",
    " leading space",
    "trailing space ",
    "tabs\there\tand there",
    "Water plants rec:+1w due:2026-11-23 t:2026-11-21",
    "Meeting due:2026-12-01T09:00",
    "Meeting due:2026-12-01T09:00:30Z",
    "Meeting due:2026-12-01T09:00-05:00",
    "Meeting due:2026-03-29T02:30",
    "Meeting due:1800-01-01T10:00",
    "Meeting due:0000-01-01T00:00+23:59",
    "Meeting due:9999-12-31T23:59-23:59",
    "Read https://example.com/a:b note:foo key:/path 10:30",
    "email bob@example.com 2+2 + @ :x x: a:b:c",
    "Äpfel kaufen +Einkauf @Läden ключ:значение",
    "日本語のタスク +プロジェクト @場所",
    "emoji 🎉 +🎉 @🎉 tag:🎉",
    "zero\u200bwidth\u00a0nbsp\u2028line sep\u3000ideographic",
    "first line\nsecond line\r\nthird\rfourth",
    "x 2026-11-22 2026-11-20 (A) priority after dates",
    "(A) x not done",
    "due:2026-02-29 t:2025-02-29 rec:0d",
]

QUICKADD = [
    "Call mom tomorrow 5pm +family @phone p1",
    "Buy milk",
    "  Buy   milk  ",
    "(A) Buy milk p2",
    "Buy milk (A)",
    "Buy milk due:2026-12-01T09:00:00-05:00",
    "Buy milk t:2026-11-30 due:2026-12-01",
    "Water plants rec:+1w due:2026-11-23",
    "Gym every monday rec:+2w",
    "Pay rent every month on the 1st",
    "Pay rent every month on the 31st at 9am",
    "Standup every weekday at 9:30",
    "Review every! 2 weeks",
    "Backup every other day",
    "Taxes every year",
    "Tea in 20m",
    "Tea in 1h30m",
    "Tea in an hour",
    "Call fri 17:30",
    "Call on sat 10am",
    "Meet wed",
    "Party dec 24 2027",
    "Party 24th december",
    "Party feb 29",
    "Call mom feb 30",
    "Dinner tonight at 9",
    "Lunch noon tomorrow",
    "At 5pm call mom tomorrow",
    "Call tomorrow about taxes at 5pm",
    "Flight 2026-03-29 2:30am",
    "Flight 2026-11-01 1:30am",
    "Flight 2026-12-24T17:00Z",
    "Flight 9999-12-31T23:00Z",
    "Report end of the month",
    "Plan next year",
    "Sleep 13pm",
    "Sleep 25:00",
    "every day",
    "p1",
    "tomorrow",
    "Buy Äpfel morgen +Einkauf",
    "Ring 🎉 in 3 days @home",
    "Call 5 p.m. today",
    "Fix it in 99999999 years",
    "x 2026-11-22 done already",
]

DATES = [
    "tomorrow 9am",
    "in 20m",
    "in 1h30m",
    "in a week",
    "in 3 months",
    "fri 17:30",
    "on friday",
    "sat 10am",
    "tonight",
    "tonight at 11:30",
    "noon",
    "midnight tomorrow",
    "at 17",
    "5 pm",
    "12am",
    "next week",
    "next month",
    "end of month",
    "dec 24",
    "24 dec 2027",
    "feb 29",
    "feb 30",
    "2026-12-24",
    "2026-12-24 17:00",
    "2026-03-29 2:30am",
    "2026-11-01 1:30am",
    "2026-10-04 2:15",
    "2011-12-30 12:00",
    "2026-12-24T17:00:00+01:00",
    "2026-12-24T17:00Z",
    "9999-12-31T23:59Z",
    "0000-01-01T00:00-23:59",
    "1w",
    "+2m",
    "rec:1b",
    "+1000y",
    "0d",
    "every month on the 1st",
    "Water plants rec:+1w due:2026-11-23 t:2026-11-21",
    "Pay rent rec:1m due:2026-01-31",
    "Standup rec:+1b due:2026-11-20T09:00",
    "(A) Gym rec:+2w t:2026-11-20",
    "x 2026-11-22 Bills rec:1y",
    "Call rec:+1d due:2026-03-28T02:30",
    "Far away rec:+1000y due:9999-01-01",
    "Old rec:1d due:1800-01-01T10:00",
    "Bad rec:1d due:2026-02-30 t:2026-11-20",
    "Twice rec:1w rec:2d due:2026-11-23 due:2026-11-24",
]


def write(target, texts):
    out = Path(__file__).resolve().parent / "seeds" / target
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for i, text in enumerate(texts):
        data = NOWS[i % len(NOWS)] + text.encode("utf-8")
        name = f"{i:02d}-{hashlib.sha1(data).hexdigest()[:8]}"
        (out / name).write_bytes(data)


write("todotxt", TODOTXT)
write("quickadd", QUICKADD)
write("dates", DATES)
