DROP TABLE events;
DROP TABLE calendars;
