//! The calendar: events, recurrence, ICS, and the quick-add grammar.

pub mod quickadd;
