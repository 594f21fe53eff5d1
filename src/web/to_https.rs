//! The plain-HTTP listener beside built-in TLS (`http_bind`): every request it gets is answered
//! `308 Permanent Redirect` to the same path over https, and nothing else is served on it.
//!
//! Where to: the public URL's origin when one is set (the `Host` header is then ignored, so a
//! forged one changes nothing); otherwise the host the browser asked for, with the https port.
//! That host is used only when the certificate in use names it: a host the certificate does not
//! name could not be reached over https anyway, and refusing it means no `Host` header, forged
//! or cached, can send a browser from here to a foreign site.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;
use actix_web::web::Data;
use actix_web::{Error, HttpResponse};
use std::sync::Arc;

use crate::tls::CertStore;

/// Where the plain-HTTP listener sends people (registered as app data only when it exists).
pub struct ToHttps {
    /// `https://host[:port]` of the public URL, when set.
    pub public_origin: Option<String>,
    /// The port the https listener is on.
    pub port: u16,
    pub certs: Arc<CertStore>,
}

impl ToHttps {
    /// The https address for a request to `path_and_query` that named `host`; `None` when the
    /// host is not one the certificate names.
    pub fn location(&self, host: Option<&str>, path_and_query: &str) -> Option<String> {
        // Only an origin-form target (`/...`) is kept; `*` or anything else goes to the root.
        let path = if path_and_query.starts_with('/') { path_and_query } else { "/" };
        if let Some(origin) = &self.public_origin {
            return Some(format!("{origin}{path}"));
        }
        let name = host_name(host?)?;
        let named = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')).unwrap_or(name);
        if !self.certs.names(named) {
            return None;
        }
        Some(match self.port {
            443 => format!("https://{name}{path}"),
            port => format!("https://{name}:{port}{path}"),
        })
    }
}

/// The host part of a `Host` header (`name`, `name:port`, `[v6]`, `[v6]:port`), when it is a
/// well-formed one: a DNS name or an IP address, nothing that could carry a path or userinfo.
fn host_name(host: &str) -> Option<&str> {
    let name = if host.starts_with('[') {
        let end = host.find(']')?;
        let (name, rest) = host.split_at(end + 1);
        if !(rest.is_empty() || rest.strip_prefix(':').is_some_and(|p| p.parse::<u16>().is_ok())) {
            return None;
        }
        name[1..end].parse::<std::net::Ipv6Addr>().ok()?;
        name
    } else {
        let name = match host.rsplit_once(':') {
            Some((name, port)) => {
                port.parse::<u16>().ok()?;
                name
            }
            None => host,
        };
        let fine = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
        if name.is_empty() || !name.chars().all(fine) {
            return None;
        }
        name
    };
    Some(name)
}

/// On a connection that is not TLS, while [`ToHttps`] is registered: the redirect, and nothing
/// else. Everywhere else the request goes on.
pub async fn redirect(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let to = match req.app_data::<Data<ToHttps>>() {
        Some(to) if !req.app_config().secure() => to.clone(),
        _ => return next.call(req).await.map(ServiceResponse::map_into_boxed_body),
    };
    let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok());
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let res = match to.location(host, path) {
        Some(location) => HttpResponse::build(StatusCode::PERMANENT_REDIRECT)
            .insert_header((header::LOCATION, location))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        None => HttpResponse::BadRequest()
            .content_type("text/plain; charset=utf-8")
            .body("Steward answers over https only, at an address its certificate names.\n"),
    };
    Ok(req.into_response(res))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_names_or_addresses_only() {
        for (host, name) in [
            ("steward.example", Some("steward.example")),
            ("steward.example:80", Some("steward.example")),
            ("127.0.0.1:8080", Some("127.0.0.1")),
            ("[::1]:8080", Some("[::1]")),
            ("[::1]", Some("[::1]")),
            ("", None),
            (":80", None),
            ("steward.example:http", None),
            ("evil.example/x", None),
            ("user@steward.example", None),
            ("steward.example:80:80", None),
            ("[::1]x", None),
            ("[nonsense]", None),
            ("a b", None),
        ] {
            assert_eq!(host_name(host), name, "{host}");
        }
    }
}
