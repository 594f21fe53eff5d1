-- The calendar. Instants are whole milliseconds since the Unix epoch (UTC), like the scheduler's
-- tables; an event also keeps its start and end as written (local wall-clock text) and its zone,
-- so that a recurring event keeps its wall-clock time across DST and across zone-data updates.

-- Calendars: the person's own (Personal, Work, ...) and subscribed ones. A subscribed calendar
-- has a `source_url` and is read-only; the refresh columns are the subscription's state.
CREATE TABLE calendars (
    id              INTEGER PRIMARY KEY NOT NULL,
    name            TEXT NOT NULL UNIQUE,
    -- A CSS colour (`#RRGGBB`).
    colour          TEXT NOT NULL DEFAULT '#3b82f6',
    -- Shown on the page (the show/hide toggle, kept).
    visible         BOOLEAN NOT NULL DEFAULT 1,
    -- Subscriptions: the feed's address (secret: never shown in a log or an API answer whole),
    -- how often to fetch it, the validators of the last good copy, and the last attempt.
    source_url      TEXT,
    refresh_minutes INTEGER,
    etag            TEXT,
    last_modified   TEXT,
    last_refresh_at BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

INSERT INTO calendars (id, name, colour, visible, created_at, updated_at)
VALUES (1, 'Personal', '#3b82f6', 1, 0, 0);

-- Events. A recurring series is one row (its master, with `rrule`/`rdates`/`exdates`); an
-- overridden occurrence is a row of its own with the same `uid` and the occurrence it replaces
-- in `recurrence_id`.
CREATE TABLE events (
    id            INTEGER PRIMARY KEY NOT NULL,
    calendar_id   INTEGER NOT NULL REFERENCES calendars (id) ON DELETE CASCADE,
    uid           TEXT NOT NULL,
    -- Override rows: the original start of the occurrence they replace, as local text in the
    -- master's frame (`2026-03-02T09:30:00`, or `2026-03-02` for all-day); NULL for masters
    -- and single events.
    recurrence_id TEXT,
    -- RFC 5545 SEQUENCE: raised on every edit.
    sequence      INTEGER NOT NULL DEFAULT 0,
    title         TEXT NOT NULL,
    all_day       BOOLEAN NOT NULL DEFAULT 0,
    -- The IANA zone the event was written in; NULL = floating (or all-day).
    zone          TEXT,
    -- Start and end as written: `YYYY-MM-DDTHH:MM:SS` local in `zone`, or `YYYY-MM-DD` for
    -- all-day events (end exclusive, as DTEND).
    start_local   TEXT NOT NULL,
    end_local     TEXT NOT NULL,
    -- The first occurrence's start and end (floating and all-day ones read as if in UTC; range
    -- queries widen their bounds by a day for them).
    start_at      BIGINT NOT NULL,
    end_at        BIGINT NOT NULL,
    -- The end of the last occurrence; NULL when the series has no end.
    last_end_at   BIGINT,
    -- RRULE value without the `RRULE:` prefix.
    rrule         TEXT,
    -- JSON arrays of local texts in the event's frame; rdates may hold periods (`start/end`).
    exdates       TEXT NOT NULL DEFAULT '[]',
    rdates        TEXT NOT NULL DEFAULT '[]',
    location      TEXT,
    notes         TEXT,
    -- JSON array of strings.
    categories    TEXT NOT NULL DEFAULT '[]',
    -- JSON array of the VALARM blocks as received or written ({"action","trigger","raw"}), kept
    -- for reminders.
    alarms        TEXT NOT NULL DEFAULT '[]',
    -- CONFIRMED, TENTATIVE, CANCELLED (a cancelled override removes its occurrence).
    status        TEXT,
    -- Properties Steward does not interpret, verbatim (unfolded lines), written back on export.
    extra         TEXT,
    -- person, agent, api, import, subscription.
    created_by    TEXT NOT NULL DEFAULT 'person',
    created_in    INTEGER,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    deleted_at    BIGINT
);
-- One live row per (calendar, UID, occurrence): re-imports update, never duplicate.
CREATE UNIQUE INDEX events_uid ON events (calendar_id, uid, coalesce(recurrence_id, '')) WHERE deleted_at IS NULL;
-- Range queries: what starts before the range's end (and ends after its start).
CREATE INDEX events_by_start ON events (start_at) WHERE deleted_at IS NULL;
