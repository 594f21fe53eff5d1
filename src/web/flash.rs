//! Post/redirect/get for what cannot ride in a URL: a plain form's outcome (a notice, an error
//! with what was typed, a new token's secret) waits here until the page it redirects to is
//! shown once. Kept in memory per session (keyed by its CSRF token, random and unique per
//! session) and per kind of flash; bounded, so a flash nobody came back for is dropped when
//! there are too many. Whatever may be seen again (an id to highlight) goes in the URL instead.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Mutex;

use crate::auth::sessions::Session;

const MOST: usize = 1000;

type Key = (String, TypeId);

#[derive(Default)]
pub struct Flashes(Mutex<HashMap<Key, Box<dyn Any + Send>>>);

impl Flashes {
    /// Keeps `flash` for the session's next view of the page that takes a `T`.
    pub fn keep<T: Any + Send>(&self, session: &Session, flash: T) {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if all.len() >= MOST {
            all.clear();
        }
        all.insert((session.csrf_token.clone(), TypeId::of::<T>()), Box::new(flash));
    }

    /// The session's waiting `T`, if any; it is shown once.
    pub fn take<T: Any + Send>(&self, session: &Session) -> Option<T> {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let flash = all.remove(&(session.csrf_token.clone(), TypeId::of::<T>()))?;
        flash.downcast::<T>().ok().map(|b| *b)
    }
}
