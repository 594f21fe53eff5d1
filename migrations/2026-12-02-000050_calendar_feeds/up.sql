-- Subscription feeds: read-only ICS addresses for phone and desktop calendars. The address
-- carries a secret token; only its SHA-256 is kept (like API tokens), so the address is shown
-- once, when the feed is made. Revoking deletes the row: the address then answers 404.
CREATE TABLE calendar_feeds (
    id                INTEGER PRIMARY KEY NOT NULL,
    name              TEXT NOT NULL UNIQUE,
    token_hash        TEXT NOT NULL UNIQUE,
    -- The first characters of the token, to tell feeds apart in lists.
    hint              TEXT NOT NULL,
    -- Also publish tasks with a due date, as events on their due day or time.
    include_tasks     BOOLEAN NOT NULL DEFAULT 0,
    -- Also publish the firings of scheduled prompts in the next `schedule_days` days.
    include_schedules BOOLEAN NOT NULL DEFAULT 0,
    schedule_days     INTEGER NOT NULL DEFAULT 14,
    created_at        BIGINT NOT NULL,
    -- The last time a calendar fetched it (written at most once a minute).
    last_used_at      BIGINT
);
