//! `GET /events`: live updates for open pages, as server-sent events. Each [`Event`] from the
//! in-process hub goes out named by [`Event::name`] (`run`, `notification`) with its JSON as
//! data. A subscriber too slow for the hub gets a `lagged` event and reloads its lists.
//!
//! A stream lives at most [`MAX_LIFE`]; the browser then reconnects on its own, through the
//! session check, so a signed-out or expired session stops receiving events.

use std::convert::Infallible;
use std::time::Duration;

use actix_web::web;
use actix_web_lab::sse::{self, Sse};
use futures_util::stream::{self, Stream};
use tokio::sync::broadcast::error::RecvError;

use crate::events::Event;
use crate::web::AppState;

/// A comment this often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long a browser waits before reconnecting.
const RETRY: Duration = Duration::from_secs(3);
/// The longest a stream stays open before the browser is made to reconnect.
pub const MAX_LIFE: Duration = Duration::from_secs(30 * 60);

pub async fn stream(state: web::Data<AppState>) -> Sse<impl Stream<Item = Result<sse::Event, Infallible>>> {
    let rx = state.events.subscribe();
    let deadline = tokio::time::Instant::now() + MAX_LIFE;
    let closed = Box::pin(state.events.closed());
    let events = stream::unfold((rx, closed), move |(mut rx, mut closed)| async move {
        loop {
            let received = tokio::select! {
                r = tokio::time::timeout_at(deadline, rx.recv()) => r,
                () = &mut closed => return None,
            };
            let next = match received {
                Err(_) | Ok(Err(RecvError::Closed)) => return None,
                Ok(Err(RecvError::Lagged(missed))) => sse::Data::new(missed.to_string()).event("lagged"),
                Ok(Ok(event)) => match encode(&event) {
                    Some(data) => data,
                    None => continue,
                },
            };
            return Some((Ok(sse::Event::Data(next)), (rx, closed)));
        }
    });
    Sse::from_stream(events).with_keep_alive(KEEP_ALIVE).with_retry_duration(RETRY)
}

fn encode(event: &Event) -> Option<sse::Data> {
    match sse::Data::new_json(event) {
        Ok(data) => Some(data.event(event.name())),
        Err(e) => {
            tracing::warn!(error = %e, "an event could not be encoded");
            None
        }
    }
}
