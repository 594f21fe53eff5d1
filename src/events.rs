//! Live events for open pages (runs starting and finishing, new notifications), fanned out to
//! every SSE subscriber. Slow subscribers miss events rather than slow the scheduler: a page
//! that lagged reloads its lists.

use serde::Serialize;
use tokio::sync::broadcast;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A run changed state.
    Run { id: i32, schedule_id: Option<i32>, state: &'static str },
    /// A new notification.
    Notification { id: i32, title: String, body: String, level: String },
}

impl Event {
    pub fn name(&self) -> &'static str {
        match self {
            Event::Run { .. } => "run",
            Event::Notification { .. } => "notification",
        }
    }
}

#[derive(Clone)]
pub struct Events(broadcast::Sender<Event>);

impl Default for Events {
    fn default() -> Events {
        Events(broadcast::channel(1024).0)
    }
}

impl Events {
    /// Sends to whoever listens; nobody listening is fine.
    pub fn send(&self, event: Event) {
        let _ = self.0.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.0.subscribe()
    }
}
