//! A calendar feed on loopback, standing in for Google/iCloud/Nextcloud secret addresses: it
//! serves `/secret/basic.ics` with whatever body, ETag and Last-Modified the test sets,
//! answers 304 to a matching conditional GET, and can fail on purpose (a status, garbage).

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

/// What the feed answers next.
#[derive(Debug, Clone)]
pub enum Mode {
    /// 200 with this body and validators (a matching conditional GET gets 304).
    Serve { body: String, etag: Option<String>, last_modified: Option<String> },
    /// This status, with a short text body.
    Status(u16),
}

/// One request as received: its conditional headers.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
    /// What was answered.
    pub status: u16,
}

#[derive(Default)]
struct Shared {
    mode: Mutex<Option<Mode>>,
    seen: Mutex<Vec<Seen>>,
}

pub struct IcsFeed {
    /// The feed's address (`http://127.0.0.1:PORT/secret/basic.ics`).
    pub url: String,
    shared: Arc<Shared>,
}

impl IcsFeed {
    pub async fn start(mode: Mode) -> IcsFeed {
        let shared = Arc::new(Shared { mode: Mutex::new(Some(mode)), ..Shared::default() });
        let data = web::Data::from(shared.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            App::new().app_data(data.clone()).route("/secret/basic.ics", web::get().to(serve))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        IcsFeed { url: format!("http://127.0.0.1:{port}/secret/basic.ics"), shared }
    }

    pub fn set(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = Some(mode);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }
}

async fn serve(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut seen = Seen {
        if_none_match: header("if-none-match"),
        if_modified_since: header("if-modified-since"),
        status: 200,
    };
    let mode = shared.mode.lock().unwrap().clone();
    let res = match mode {
        Some(Mode::Serve { body, etag, last_modified }) => {
            let fresh = match (&etag, &seen.if_none_match) {
                (Some(tag), Some(asked)) => tag == asked,
                _ => last_modified.is_some() && last_modified == seen.if_modified_since,
            };
            if fresh {
                seen.status = 304;
                HttpResponse::NotModified().finish()
            } else {
                let mut res = HttpResponse::Ok();
                res.content_type("text/calendar; charset=utf-8");
                if let Some(tag) = etag {
                    res.insert_header(("ETag", tag));
                }
                if let Some(lm) = last_modified {
                    res.insert_header(("Last-Modified", lm));
                }
                res.body(body)
            }
        }
        Some(Mode::Status(code)) => {
            seen.status = code;
            HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap()).body("no calendar here")
        }
        None => HttpResponse::NotFound().finish(),
    };
    shared.seen.lock().unwrap().push(seen);
    res
}
