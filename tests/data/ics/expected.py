#!/usr/bin/env python3
"""Writes expected.json: the facts an independent reader gives for every file in this folder.

The reader is Python's `icalendar` with `recurring-ical-events` (and `x-wr-timezone`, which
recurring-ical-events brings along), not Steward. Run it again after adding a file:

    pip install icalendar recurring-ical-events
    python3 tests/data/ics/expected.py

Per file: `vevents` (VEVENT components in the file), `series` (events Steward should hold after
import: distinct UIDs among VEVENTs whose DTSTART reads, overrides merged into their series),
and for a window [from, to) the number of occurrences and the first few starts. A timed start is
UTC (`...Z`); an all-day one is a date; a floating one is a local date-time without offset (read
in the person's zone). `overrides.json` beside this file holds facts decided by hand where the
reader is known to be wrong; the test uses those instead and the README says why.
"""
import datetime as dt
import json
import pathlib
import sys

import icalendar
import recurring_ical_events
import x_wr_timezone

HERE = pathlib.Path(__file__).resolve().parent
FIRST = 6  # starts listed per file
DAYS = 400  # window length after the earliest DTSTART


def start_key(value):
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.strftime("%Y-%m-%dT%H:%M:%S")
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat()


def as_utc_day(value):
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.date()
        return value.astimezone(dt.timezone.utc).date()
    return value


def facts(path):
    raw = path.read_bytes()
    try:
        cal = icalendar.Calendar.from_ical(raw)
    except Exception as error:  # noqa: BLE001 - any failure is a fact worth recording
        return {"reader_error": type(error).__name__}
    cal = x_wr_timezone.to_standard(cal)
    vevents = list(cal.walk("VEVENT"))
    zones = list(cal.walk("VTIMEZONE"))
    # One series per UID (overrides join their master); a VEVENT without UID is its own.
    groups = {}
    for n, event in enumerate(vevents):
        groups.setdefault(str(event.get("UID", f"#no-uid-{n}")), []).append(event)
    good, skipped, starts = {}, [], []
    for uid, parts in groups.items():
        try:
            first = min(as_utc_day(p.decoded("DTSTART")) for p in parts)
            one = icalendar.Calendar()
            for part in zones + parts:
                one.add_component(part)
            probe = dt.datetime.combine(first, dt.time(), dt.timezone.utc)
            recurring_ical_events.of(one).between(probe, probe + dt.timedelta(days=3))
        except Exception as error:  # noqa: BLE001 - the event is skipped, the rest imported
            skipped.append({"uid": uid, "reader_error": type(error).__name__})
            continue
        good[uid] = one
        starts.append(first)
    out = {"vevents": len(vevents), "series": len(good)}
    if skipped:
        out["skipped"] = skipped
    if not starts:
        return out
    first = min(starts) - dt.timedelta(days=1)
    last = first + dt.timedelta(days=DAYS)
    out["from"] = first.isoformat()
    out["to"] = last.isoformat()
    lo = dt.datetime.combine(first, dt.time(), dt.timezone.utc)
    hi = dt.datetime.combine(last, dt.time(), dt.timezone.utc)
    found = []
    for one in good.values():
        found += recurring_ical_events.of(one).between(lo, hi)
    keys = sorted(
        (start_key(o.decoded("DTSTART")) for o in found),
        key=lambda k: k if len(k) > 10 else k + "T00:00:00",
    )
    out["occurrences"] = len(keys)
    out["starts"] = keys[:FIRST]
    return out


def main():
    result = {}
    for path in sorted(HERE.glob("*.ics")):
        result[path.name] = facts(path)
    text = json.dumps(result, indent=1, sort_keys=True) + "\n"
    (HERE / "expected.json").write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
