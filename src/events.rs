//! Live events for open pages (runs starting and finishing, new notifications), fanned out to
//! every SSE subscriber. Slow subscribers miss events rather than slow the scheduler: a page
//! that lagged reloads its lists.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{broadcast, watch};

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A run changed state.
    Run { id: i32, schedule_id: Option<i32>, state: &'static str },
    /// A new notification.
    Notification { id: i32, title: String, body: String, level: String },
    /// Events or calendars changed (one calendar's, or several when `None`): calendar pages
    /// reload what they show.
    CalendarChanged { calendar_id: Option<i32> },
}

impl Event {
    pub fn name(&self) -> &'static str {
        match self {
            Event::Run { .. } => "run",
            Event::Notification { .. } => "notification",
            Event::CalendarChanged { .. } => "calendar",
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
        Events { hub: broadcast::channel(1024).0, closing: Arc::new(watch::channel(false).0) }
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
