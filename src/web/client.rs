//! Who is at the other end of a request: the client's address, and the scheme and host it
//! asked for. Behind a reverse proxy the connection comes from the proxy, which says who it
//! speaks for in `Forwarded` (RFC 7239) or `X-Forwarded-For` / `-Proto` / `-Host`. Anyone can
//! send those headers, so they are believed only when the connection comes from one of
//! `trusted_proxies` ([`crate::config::TrustedProxies`]); from anyone else they are ignored.
//!
//! - The address is found by walking the forwarded list from the right (the entry the nearest
//!   proxy added) past the trusted proxies: the first address that is not one is the client's.
//!   So a client cannot pick its address by sending its own list: a proxy appends to it, and
//!   the walk stops at the address the proxy saw.
//! - `X-Forwarded-For` wins over `Forwarded` when both are sent, as the common proxies (nginx,
//!   Caddy, Traefik) set the first and pass a client's `Forwarded` through untouched.
//! - The scheme and host: from the `Forwarded` element that named the client, else the
//!   rightmost `X-Forwarded-Proto` / `X-Forwarded-Host` (what the nearest proxy set), else the
//!   connection's own.
//!
//! Everything that cares about the client uses [`of`]: login throttling, the address stored
//! with a session, the request log, the Origin check, the `Secure` cookie flag.

use std::net::{IpAddr, Ipv6Addr};

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderMap};
use actix_web::web::Data;

use crate::config::TrustedProxies;
use crate::web::AppState;

/// What a request says about its client, once the proxies have been accounted for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The client's address (`None`: unknown, as in a test request without a connection).
    pub ip: Option<IpAddr>,
    /// `http` or `https`: how the client reached Steward (or the trusted proxy).
    pub scheme: &'static str,
    /// The host the client asked for (`Host`, or what the trusted proxy forwarded).
    pub host: Option<String>,
}

impl Seen {
    pub fn https(&self) -> bool {
        self.scheme == "https"
    }

    /// `scheme://host` as a browser's `Origin` names it (a default port left out).
    pub fn origin(&self) -> String {
        let host = self.host.as_deref().unwrap_or("");
        let host = match self.scheme {
            "https" => host.strip_suffix(":443"),
            _ => host.strip_suffix(":80"),
        }
        .unwrap_or(host);
        format!("{}://{host}", self.scheme)
    }

    /// The address as stored and logged (empty when unknown).
    pub fn ip_text(&self) -> String {
        self.ip.map(|ip| ip.to_string()).unwrap_or_default()
    }
}

static NO_PROXIES: TrustedProxies = TrustedProxies::NONE;

/// The request's client, believing forwarded headers only from the configured proxies.
pub fn of(req: &HttpRequest) -> Seen {
    let state = req.app_data::<Data<AppState>>();
    let trusted = state.map_or(&NO_PROXIES, |s| &s.config.trusted_proxies);
    let direct = Seen {
        ip: req.peer_addr().map(|a| a.ip().to_canonical()),
        scheme: if req.app_config().secure() { "https" } else { "http" },
        host: req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| req.uri().authority().map(|a| a.to_string())),
    };
    resolve(direct, req.headers(), trusted)
}

/// The rule, apart from actix: `direct` is what the connection says (peer address, whether it
/// is TLS, the `Host` header).
pub fn resolve(direct: Seen, headers: &HeaderMap, trusted: &TrustedProxies) -> Seen {
    let Some(peer) = direct.ip.filter(|ip| trusted.contains(*ip)) else { return direct };
    let xff: Vec<Option<IpAddr>> = list(headers, "x-forwarded-for").into_iter().map(|v| node(&v)).collect();
    let (ip, scheme, host) = if !xff.is_empty() {
        let (ip, _) = walk(&xff, peer, trusted);
        (ip, None, None)
    } else {
        let elements = forwarded(headers);
        let nodes: Vec<Option<IpAddr>> = elements.iter().map(|e| e.for_.as_deref().and_then(node)).collect();
        match walk(&nodes, peer, trusted) {
            (ip, Some(i)) => (ip, elements[i].proto.clone(), elements[i].host.clone()),
            (ip, None) => (ip, None, None),
        }
    };
    let scheme = scheme
        .or_else(|| list(headers, "x-forwarded-proto").pop())
        .and_then(|p| scheme_of(&p))
        .unwrap_or(direct.scheme);
    let host = host
        .or_else(|| list(headers, "x-forwarded-host").pop())
        .filter(|h| plausible_host(h))
        .or(direct.host);
    Seen { ip: Some(ip), scheme, host }
}

/// From the right: past every trusted proxy to the first address that is not one. An entry
/// that is no address (`unknown`, an obfuscated name, garbage) ends the walk at the proxy that
/// wrote it. Returns the address and the index of the entry that named it.
fn walk(hops: &[Option<IpAddr>], peer: IpAddr, trusted: &TrustedProxies) -> (IpAddr, Option<usize>) {
    let mut current = (peer, None);
    for (i, hop) in hops.iter().enumerate().rev() {
        match hop {
            Some(ip) => {
                current = (*ip, Some(i));
                if !trusted.contains(*ip) {
                    break;
                }
            }
            None => {
                current.1 = Some(i);
                break;
            }
        }
    }
    current
}

/// Every value of a comma-separated header, over all its lines, in order.
fn list(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:4711`.
fn node(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix('[') {
        let (inside, _) = rest.split_once(']')?;
        return inside.parse::<Ipv6Addr>().ok().map(|ip| IpAddr::V6(ip).to_canonical());
    }
    let ip = text.parse::<IpAddr>().ok().or_else(|| {
        let (address, port) = text.rsplit_once(':')?;
        port.parse::<u16>().ok()?;
        address.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
    })?;
    Some(ip.to_canonical())
}

fn scheme_of(text: &str) -> Option<&'static str> {
    match text.trim().to_ascii_lowercase().as_str() {
        "https" => Some("https"),
        "http" => Some("http"),
        _ => None,
    }
}

/// A host (and port) as it may appear in an origin: no spaces, slashes or the like.
fn plausible_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b))
}

/// One element of a `Forwarded` header.
#[derive(Debug, Default)]
struct Element {
    for_: Option<String>,
    proto: Option<String>,
    host: Option<String>,
}

/// The elements of every `Forwarded` line, in order (RFC 7239: `for=`, `proto=`, `host=`,
/// values plain or quoted, elements separated by commas, pairs by semicolons).
fn forwarded(headers: &HeaderMap) -> Vec<Element> {
    let mut elements = Vec::new();
    for line in headers.get_all(header::FORWARDED).filter_map(|v| v.to_str().ok()) {
        for element in split_outside_quotes(line, ',') {
            let mut parsed = Element::default();
            for pair in split_outside_quotes(&element, ';') {
                let Some((key, value)) = pair.split_once('=') else { continue };
                let value = unquote(value.trim());
                match key.trim().to_ascii_lowercase().as_str() {
                    "for" => parsed.for_ = Some(value),
                    "proto" => parsed.proto = Some(value),
                    "host" => parsed.host = Some(value),
                    _ => {}
                }
            }
            if !element.trim().is_empty() {
                elements.push(parsed);
            }
        }
    }
    elements
}

fn split_outside_quotes(text: &str, separator: char) -> Vec<String> {
    let (mut parts, mut current) = (Vec::new(), String::new());
    let (mut quoted, mut escaped) = (false, false);
    for c in text.chars() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == separator && !quoted {
            parts.push(std::mem::take(&mut current));
            continue;
        }
        current.push(c);
    }
    parts.push(current);
    parts
}

fn unquote(value: &str) -> String {
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                out.push(if c == '\\' { chars.next().unwrap_or('\\') } else { c });
            }
            out
        }
        None => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn seen(peer: &str, headers: &[(&str, &str)], trusted: &str) -> Seen {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let direct =
            Seen { ip: Some(peer.parse().unwrap()), scheme: "http", host: Some("steward.lan:8080".into()) };
        resolve(direct, &map, &trusted.parse().unwrap())
    }

    const PROXY: &str = "10.0.0.0/8, ::1";

    /// (peer, headers, trusted, client address, scheme, host)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str, &'a str, &'a str, &'a str);

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let cases: &[Case] = &[
            // No proxy configured: every header is ignored.
            ("127.0.0.1", &[("x-forwarded-for", "203.0.113.9")], "", "127.0.0.1", "http", "steward.lan:8080"),
            (
                "127.0.0.1",
                &[("forwarded", "for=203.0.113.9;proto=https;host=evil.example")],
                "",
                "127.0.0.1",
                "http",
                "steward.lan:8080",
            ),
            (
                "127.0.0.1",
                &[("x-forwarded-proto", "https"), ("x-forwarded-host", "evil.example")],
                "",
                "127.0.0.1",
                "http",
                "steward.lan:8080",
            ),
            // A peer that is not one of the proxies: ignored too.
            (
                "192.0.2.7",
                &[("x-forwarded-for", "203.0.113.9")],
                PROXY,
                "192.0.2.7",
                "http",
                "steward.lan:8080",
            ),
            (
                "192.0.2.7",
                &[("forwarded", "for=203.0.113.9;host=evil.example;proto=https")],
                PROXY,
                "192.0.2.7",
                "http",
                "steward.lan:8080",
            ),
            // A trusted proxy: believed.
            (
                "10.0.0.2",
                &[("x-forwarded-for", "203.0.113.9")],
                PROXY,
                "203.0.113.9",
                "http",
                "steward.lan:8080",
            ),
            (
                "10.0.0.2",
                &[
                    ("x-forwarded-for", "203.0.113.9"),
                    ("x-forwarded-proto", "https"),
                    ("x-forwarded-host", "steward.example"),
                ],
                PROXY,
                "203.0.113.9",
                "https",
                "steward.example",
            ),
            // The client's own list is walked from the right: the proxy appended what it saw.
            (
                "10.0.0.2",
                &[("x-forwarded-for", "1.2.3.4, 203.0.113.9")],
                PROXY,
                "203.0.113.9",
                "http",
                "steward.lan:8080",
            ),
            // Two proxies: past the trusted one.
            (
                "10.0.0.2",
                &[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.0.0.3")],
                PROXY,
                "203.0.113.9",
                "http",
                "steward.lan:8080",
            ),
            // Several header lines are one list.
            (
                "10.0.0.2",
                &[("x-forwarded-for", "1.2.3.4"), ("x-forwarded-for", "203.0.113.9, 10.0.0.3")],
                PROXY,
                "203.0.113.9",
                "http",
                "steward.lan:8080",
            ),
            // Only proxies in the list: the leftmost.
            (
                "10.0.0.2",
                &[("x-forwarded-for", "10.0.0.9, 10.0.0.3")],
                PROXY,
                "10.0.0.9",
                "http",
                "steward.lan:8080",
            ),
            // Ports and brackets.
            (
                "10.0.0.2",
                &[("x-forwarded-for", "203.0.113.9:5555")],
                PROXY,
                "203.0.113.9",
                "http",
                "steward.lan:8080",
            ),
            (
                "10.0.0.2",
                &[("x-forwarded-for", "[2001:db8::1]:80")],
                PROXY,
                "2001:db8::1",
                "http",
                "steward.lan:8080",
            ),
            (
                "10.0.0.2",
                &[("x-forwarded-for", "2001:db8::1")],
                PROXY,
                "2001:db8::1",
                "http",
                "steward.lan:8080",
            ),
            // Garbage stops the walk at the proxy that wrote it.
            (
                "10.0.0.2",
                &[("x-forwarded-for", "1.2.3.4, nonsense")],
                PROXY,
                "10.0.0.2",
                "http",
                "steward.lan:8080",
            ),
            (
                "10.0.0.2",
                &[("x-forwarded-for", "1.2.3.4, nonsense, 10.0.0.3")],
                PROXY,
                "10.0.0.3",
                "http",
                "steward.lan:8080",
            ),
            // RFC 7239.
            (
                "10.0.0.2",
                &[("forwarded", "for=203.0.113.9;proto=https;host=steward.example")],
                PROXY,
                "203.0.113.9",
                "https",
                "steward.example",
            ),
            (
                "::1",
                &[(
                    "forwarded",
                    "For=\"[2001:db8:cafe::17]:4711\";Proto=HTTPS;Host=\"steward.example:8443\"",
                )],
                PROXY,
                "2001:db8:cafe::17",
                "https",
                "steward.example:8443",
            ),
            (
                "10.0.0.2",
                &[(
                    "forwarded",
                    "for=1.2.3.4;proto=http;host=evil.example, for=203.0.113.9;proto=https;host=a.example, for=10.0.0.3;proto=http;host=inner",
                )],
                PROXY,
                "203.0.113.9",
                "https",
                "a.example",
            ),
            // A quoted comma or semicolon stays inside its value.
            (
                "10.0.0.2",
                &[("forwarded", "for=\"_x,y;z\";host=a.example, for=203.0.113.9")],
                PROXY,
                "203.0.113.9",
                "http",
                "steward.lan:8080",
            ),
            (
                "10.0.0.2",
                &[("forwarded", "for=unknown;proto=https")],
                PROXY,
                "10.0.0.2",
                "https",
                "steward.lan:8080",
            ),
            // X-Forwarded-For wins over a Forwarded that a proxy may have passed through.
            (
                "10.0.0.2",
                &[("forwarded", "for=1.2.3.4;host=evil.example"), ("x-forwarded-for", "203.0.113.9")],
                PROXY,
                "203.0.113.9",
                "http",
                "steward.lan:8080",
            ),
            // The nearest proxy's proto and host; nonsense ones are ignored.
            (
                "10.0.0.2",
                &[("x-forwarded-for", "203.0.113.9"), ("x-forwarded-proto", "http, https")],
                PROXY,
                "203.0.113.9",
                "https",
                "steward.lan:8080",
            ),
            (
                "10.0.0.2",
                &[
                    ("x-forwarded-for", "203.0.113.9"),
                    ("x-forwarded-proto", "gopher"),
                    ("x-forwarded-host", "evil.example/path"),
                ],
                PROXY,
                "203.0.113.9",
                "http",
                "steward.lan:8080",
            ),
            // A trusted proxy without forwarded headers: the connection as it is.
            ("10.0.0.2", &[], PROXY, "10.0.0.2", "http", "steward.lan:8080"),
            // An IPv4 peer written as IPv6 (a dual-stack listener).
            (
                "::ffff:10.0.0.2",
                &[("x-forwarded-for", "203.0.113.9")],
                PROXY,
                "203.0.113.9",
                "http",
                "steward.lan:8080",
            ),
        ];
        for (peer, headers, trusted, ip, scheme, host) in cases {
            let got = seen(peer, headers, trusted);
            let want = Seen { ip: Some(ip.parse().unwrap()), scheme, host: Some(host.to_string()) };
            assert_eq!(got, want, "peer {peer}, trusted {trusted:?}, {headers:?}");
        }
    }

    #[test]
    fn origins_leave_out_default_ports() {
        for (scheme, host, origin) in [
            ("https", "steward.example:443", "https://steward.example"),
            ("http", "steward.example:80", "http://steward.example"),
            ("http", "127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("https", "steward.example:80", "https://steward.example:80"),
        ] {
            let seen = Seen { ip: None, scheme, host: Some(host.into()) };
            assert_eq!(seen.origin(), origin);
        }
    }
}
