//! A whole request body must arrive in time. actix-web cuts a request whose head is slow
//! (`client_request_timeout`), but not one whose body trickles in: 200 connections sending a
//! byte every 10 s stayed open for good. This middleware gives every request with a body a
//! deadline, counted from its head: [`Config::body_timeout_public_secs`] (10 s) for the forms
//! anyone may send (`/login`, `/login/2fa`, `/setup`), [`Config::body_timeout_secs`] (60 s) elsewhere, where
//! a session or token is checked first.
//!
//! The body is wrapped in a stream that fails once the deadline passes, so whatever reads it
//! (an extractor, the CSRF check) stops waiting; the answer is then a 408 in the route's usual
//! form (JSON under `/api` and `/mcp`, a page elsewhere) and the connection is closed. A body
//! that was not read to its end (refused before it was read, or too slow) also closes its
//! connection, rather than being drained however slowly it comes.
//!
//! [`Config::body_timeout_public_secs`]: crate::config::Config::body_timeout_public_secs
//! [`Config::body_timeout_secs`]: crate::config::Config::body_timeout_secs

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web::{Bytes, Data};
use actix_web::{Error, HttpMessage, ResponseError};
use futures_util::Stream;
use tokio::time::Sleep;

use crate::error::{ApiError, AppError, PageError};
use crate::web::AppState;

/// The routes anyone may post to, before any session exists.
const PUBLIC: [&str; 3] = ["/login", "/login/2fa", "/setup"];

/// The middleware (see the module's doc).
pub async fn limit(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(limit) = deadline_of(&req) else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let payload = Rc::new(RefCell::new(req.take_payload()));
    let state = Rc::new(Cell::new(Read::Partly));
    let body = Deadline {
        inner: payload.clone(),
        sleep: Box::pin(tokio::time::sleep(limit)),
        limit,
        state: state.clone(),
    };
    req.set_payload(Payload::from(Box::pin(body) as Pin<Box<dyn Stream<Item = _>>>));
    let res = next.call(req).await?;
    let res = match state.get() {
        Read::Whole => return Ok(res.map_into_boxed_body()),
        Read::Partly => res.map_into_boxed_body(),
        Read::TooSlow => {
            // Whatever the reader made of the failed body (a 400, a CSRF refusal), it is a 408.
            let (req, _) = res.into_parts();
            let error = AppError::RequestTimeout(format!(
                "the request's body did not arrive within {} s; send it again",
                limit.as_secs()
            ));
            let path = req.path();
            let answer = if path.starts_with("/api/") || path == "/mcp" || path.starts_with("/mcp/") {
                ApiError(error).error_response()
            } else {
                PageError(error).error_response()
            };
            ServiceResponse::new(req, answer)
        }
    };
    // The body was not read to its end. Dropped, actix would read (drain) the rest of a chunked
    // body before the next request, however slowly it comes: kept until the answer is sent,
    // it makes actix close the connection instead.
    Ok(res.map_body(|_, body| BoxBody::new(Holding { body, _payload: payload })))
}

/// The time this request's body may take, if it has one.
fn deadline_of(req: &ServiceRequest) -> Option<Duration> {
    let headers = req.headers();
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() != "0");
    if !has_body {
        return None;
    }
    let config = &req.app_data::<Data<AppState>>()?.config;
    let secs =
        // One-click action links (`/a/<token>`) are public too.
        if PUBLIC.contains(&req.path()) || req.path().starts_with("/a/") {
            config.body_timeout_public_secs
        } else {
            config.body_timeout_secs
        };
    Some(Duration::from_secs(secs))
}

#[derive(Clone, Copy)]
enum Read {
    Partly,
    Whole,
    TooSlow,
}

/// The body, failing once `sleep` ends before the body does.
struct Deadline {
    inner: Rc<RefCell<Payload>>,
    sleep: Pin<Box<Sleep>>,
    limit: Duration,
    state: Rc<Cell<Read>>,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.state.get() {
            Read::Whole | Read::TooSlow => return Poll::Ready(None),
            Read::Partly => {}
        }
        let polled = Pin::new(&mut *self.inner.borrow_mut()).poll_next(cx);
        match polled {
            Poll::Ready(None) => {
                self.state.set(Read::Whole);
                Poll::Ready(None)
            }
            Poll::Ready(Some(item)) => Poll::Ready(Some(item)),
            Poll::Pending => match self.sleep.as_mut().poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(()) => {
                    self.state.set(Read::TooSlow);
                    let secs = self.limit.as_secs();
                    Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("the body did not arrive within {secs} s"),
                    )))))
                }
            },
        }
    }
}

/// An answer that keeps its request's unread body alive until it is sent (see [`limit`]).
struct Holding {
    body: BoxBody,
    _payload: Rc<RefCell<Payload>>,
}

impl MessageBody for Holding {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.body).poll_next(cx)
    }
}
