//! Integration tests: each test starts Steward on port 0 with its own database file and drives
//! it over HTTP (or runs the real `steward` binary), as a browser, API client or person would.
// Tests run against the real clock where the app does (timeouts, live runs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod activity;
mod api;
mod auth;
mod browser;
mod calendar_activity;
mod calendar_api;
mod calendar_check;
mod calendar_cli;
mod calendar_corpus;
mod calendar_feeds;
mod calendar_page;
mod calendar_tools;
mod channels;
mod chat;
mod cli;
mod e2e;
mod fakes;
mod helpers;
// Issue 12's holes: login redirects, bounded notifications and events, slow bodies, search caps.
mod holes;
mod letta;
mod logs;
mod mcp;
mod privilege;
mod schedule_pages;
mod scheduler;
mod tasks;
mod today;
mod todotxt;
