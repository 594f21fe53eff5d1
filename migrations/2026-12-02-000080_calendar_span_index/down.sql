DROP INDEX events_by_span;
