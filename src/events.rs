//! Live events for open pages (runs starting and finishing, new notifications), fanned out to
//! every SSE subscriber. Slow subscribers miss events rather than slow the scheduler: a page
//! that lagged reloads its lists.
//!
//! Memory stays bounded however many subscribers stop reading: the hub keeps at most
//! [`CAPACITY`] events (a subscriber that falls further behind is told it lagged), and an
//! event is small: a notification carries its title and the start of its body
//! ([`PREVIEW_CHARS`], what a toast shows), never the whole body.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{broadcast, watch};

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A run changed state.
    Run { id: i32, schedule_id: Option<i32>, state: &'static str },
    /// A new notification. `subject` (`task:12`) decides the buttons its toast offers.
    Notification { id: i32, title: String, body: String, level: String, subject: Option<String> },
    /// Events or calendars changed (one calendar's, or several when `None`): calendar pages
    /// reload what they show.
    CalendarChanged { calendar_id: Option<i32> },
    /// Tasks were added, changed or completed (one task's id, or several when `None`): Today
    /// reads its task lists again.
    TasksChanged { id: Option<i32> },
}

/// The most events the hub holds for subscribers that have not read them yet.
pub const CAPACITY: usize = 256;
/// How much of a notification's body its event carries.
pub const PREVIEW_CHARS: usize = 300;

impl Event {
    /// A new notification, for toasts: the title and the start of the body.
    pub fn notification(n: &crate::notifications::Notification) -> Event {
        let body = match n.body.char_indices().nth(PREVIEW_CHARS) {
            Some((end, _)) => format!("{}…", &n.body[..end]),
            None => n.body.clone(),
        };
        Event::Notification {
            id: n.id,
            title: n.title.clone(),
            body,
            level: n.level.clone(),
            subject: n.subject.clone(),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Event::Run { .. } => "run",
            Event::Notification { .. } => "notification",
            Event::CalendarChanged { .. } => "calendar",
            Event::TasksChanged { .. } => "tasks",
        }
    }
}

#[derive(Clone)]
pub struct Events {
    hub: broadcast::Sender<Event>,
    /// Set when Steward stops: open streams end at once instead of holding up the shutdown.
    closing: Arc<watch::Sender<bool>>,
}

impl Default for Events {
    fn default() -> Events {
        Events { hub: broadcast::channel(CAPACITY).0, closing: Arc::new(watch::channel(false).0) }
    }
}

impl Events {
    /// Sends to whoever listens; nobody listening is fine.
    pub fn send(&self, event: Event) {
        let _ = self.hub.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.hub.subscribe()
    }

    /// Ends every open stream (Steward is stopping).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`Events::close`] was called.
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + use<> {
        let mut rx = self.closing.subscribe();
        async move {
            let _ = rx.wait_for(|closing| *closing).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifications::Notification;

    #[test]
    fn a_notification_event_carries_only_the_start_of_the_body() {
        let mut n = Notification {
            id: 1,
            title: "Report".into(),
            body: "ä".repeat(10_000),
            level: "info".into(),
            run_id: None,
            schedule_id: None,
            created_at: 0,
            read_at: None,
            subject: None,
            urgent: false,
        };
        let Event::Notification { body, .. } = Event::notification(&n) else { panic!("a notification") };
        assert_eq!(body.chars().count(), PREVIEW_CHARS + 1);
        assert!(body.ends_with('…'));
        n.body = "Short".into();
        let Event::Notification { body, .. } = Event::notification(&n) else { panic!("a notification") };
        assert_eq!(body, "Short");
    }
}
