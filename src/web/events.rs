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
use crate::metrics::SseClient;
use crate::web::AppState;

/// A comment this often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long a browser waits before reconnecting.
const RETRY: Duration = Duration::from_secs(3);
/// The longest a stream stays open before the browser is made to reconnect.
pub const MAX_LIFE: Duration = Duration::from_secs(30 * 60);

pub async fn stream(state: web::Data<AppState>) -> Sse<impl Stream<Item = Result<sse::Event, Infallible>>> {
    let events = live(&state.events, tokio::time::Instant::now() + MAX_LIFE, state.metrics.sse_client());
    Sse::from_stream(events).with_keep_alive(KEEP_ALIVE).with_retry_duration(RETRY)
}

/// The hub's events as SSE events until `deadline` (or until Steward stops). A subscriber that
/// fell more than [`crate::events::CAPACITY`] events behind gets one `lagged` event (data: how
/// many it missed) in their place: the hub never holds more for it. `client` counts the
/// stream in the metrics until it ends or its client goes away (the stream is dropped).
fn live(
    hub: &crate::events::Events,
    deadline: tokio::time::Instant,
    client: SseClient,
) -> impl Stream<Item = Result<sse::Event, Infallible>> + use<> {
    let rx = hub.subscribe();
    let closed = Box::pin(hub.closed());
    stream::unfold((rx, closed, client), move |(mut rx, mut closed, client)| async move {
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
            return Some((Ok(sse::Event::Data(next)), (rx, closed, client)));
        }
    })
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

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;
    use crate::events::{CAPACITY, Events};
    use crate::notifications::{BODY_MAX_BYTES, Notification, TITLE_MAX_CHARS};

    /// The largest notification [`crate::notifications::add`] stores: four-byte characters.
    fn largest() -> Notification {
        Notification {
            id: i32::MAX,
            title: "𝄞".repeat(TITLE_MAX_CHARS),
            body: "𝄞".repeat(BODY_MAX_BYTES / 4),
            level: "error".into(),
            run_id: Some(i32::MAX),
            schedule_id: Some(i32::MAX),
            created_at: i64::MAX,
            read_at: None,
            subject: Some("event:2147483647@9223372036854775807".into()),
            urgent: true,
        }
    }

    async fn next(stream: &mut (impl Stream<Item = Result<sse::Event, Infallible>> + Unpin)) -> String {
        // The event's fields are private to actix-web-lab; its Debug form shows them.
        let event = stream.next().await.expect("an event").unwrap_or_else(|never| match never {});
        format!("{event:?}")
    }

    #[tokio::test]
    async fn a_subscriber_that_stops_reading_costs_a_bounded_amount() {
        // Whatever subscribers do, the hub holds at most CAPACITY events of bounded size: with
        // the largest notifications, well under a megabyte (it was 1,024 whole bodies, 900 MB
        // for 900 KB bodies).
        let event = Event::notification(&largest());
        let bytes = serde_json::to_vec(&event).map(|v| v.len()).unwrap_or(usize::MAX);
        assert!(CAPACITY * bytes <= 1 << 20, "{CAPACITY} events of {bytes} bytes");

        // A subscriber that fell behind is told so once, then gets what is still held.
        let hub = Events::default();
        let metrics = crate::metrics::Metrics::default();
        let mut stream = Box::pin(live(&hub, tokio::time::Instant::now() + MAX_LIFE, metrics.sse_client()));
        let behind = 10;
        for _ in 0..CAPACITY + behind {
            hub.send(Event::notification(&largest()));
        }
        let first = next(&mut stream).await;
        assert!(first.contains(&format!("event: Some(\"lagged\"), data: \"{behind}\"")), "{first}");
        let second = next(&mut stream).await;
        assert!(second.contains("event: Some(\"notification\")"), "{second}");
        assert!(second.len() < 3 * 1024, "{} bytes", second.len());
    }

    #[tokio::test]
    async fn a_stream_counts_as_a_client_until_it_ends_or_is_dropped() {
        let (hub, metrics) = (Events::default(), crate::metrics::Metrics::default());
        let dropped = Box::pin(live(&hub, tokio::time::Instant::now() + MAX_LIFE, metrics.sse_client()));
        let mut ends = Box::pin(live(&hub, tokio::time::Instant::now(), metrics.sse_client()));
        assert_eq!(metrics.sse_clients(), 2);
        // Its page went away: actix drops the stream.
        drop(dropped);
        assert_eq!(metrics.sse_clients(), 1);
        // Its life is over: the browser is made to reconnect.
        assert!(ends.next().await.is_none());
        assert_eq!(metrics.sse_clients(), 0);
    }
}
