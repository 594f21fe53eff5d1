-- The scheduler's queue, read per agent: each turn asks, for every agent with a free slot, for
-- its first ready runs in priority order, and finds the agents that have queued runs by seeking
-- from one agent name to the next. `state` leads although the index only holds queued runs:
-- without statistics SQLite then prefers it to `runs_by_state (state, id)`, which would walk
-- every queued run. `not_before` is last so a waiting retry is passed over without a table read.
CREATE INDEX runs_queued ON runs (state, agent, priority, scheduled_for, id, not_before) WHERE state = 'queued';
-- The earliest retry still waiting: one seek instead of a walk over the queue.
CREATE INDEX runs_retry ON runs (state, not_before) WHERE state = 'queued';
-- Replaced by runs_queued (the queue is no longer read across agents).
DROP INDEX runs_ready;
