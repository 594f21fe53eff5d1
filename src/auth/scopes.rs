//! What an API token may do: its scopes, and which scope each request needs.
//!
//! | scope     | may                                                                             |
//! |-----------|---------------------------------------------------------------------------------|
//! | `read`    | read everything under `/api/v1` except the admin areas (and the feeds)          |
//! | `write`   | `read`, and change tasks, events and schedules, trigger and chat, but send only |
//! |           | to agents open to tokens                                                        |
//! | `mcp`     | the tool registry at `/mcp`, with the same limits as the chat agent             |
//! | `feed`    | only read the calendar export and feeds                                         |
//! | `metrics` | only read `GET /metrics` (Prometheus); no other scope but `admin` covers it     |
//! | `admin`   | everything, including agents, channels, settings, tokens and the login history; |
//! |           | acts as the person                                                              |
//!
//! [`required`] is the one place that classifies a request, and it is safe by default: a
//! route added later is `read` when its method is safe and `write` otherwise, unless it lives
//! under an admin area ([`ADMIN_AREAS`]), which needs `admin` whatever its method. Pages never
//! take a token (they need a session), so they are not classified here.

use serde::Serialize;

use crate::error::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    Write,
    Mcp,
    Feed,
    Metrics,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 6] =
        [Scope::Read, Scope::Write, Scope::Mcp, Scope::Feed, Scope::Metrics, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Mcp => "mcp",
            Scope::Feed => "feed",
            Scope::Metrics => "metrics",
            Scope::Admin => "admin",
        }
    }

    /// What the scope lets a program do, in words (the Settings page and the CLI's help).
    pub fn describe(self) -> &'static str {
        match self {
            Scope::Read => "read tasks, events, schedules, runs and conversations",
            Scope::Write => {
                "read, and add or change tasks, events and schedules; send prompts only to agents open to tokens"
            }
            Scope::Mcp => "use the agent's tools over MCP, with the same limits as the chat agent",
            Scope::Feed => "only read the calendar export and feeds",
            Scope::Metrics => "only read the operating figures at /metrics (for Prometheus)",
            Scope::Admin => "everything you can do, including agents, channels, settings and tokens",
        }
    }

    pub fn parse(text: &str) -> Result<Scope, AppError> {
        let text = text.trim();
        Scope::ALL.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(text)).ok_or_else(|| {
            AppError::invalid(
                "scope",
                format!("“{text}” is not a scope; scopes are read, write, mcp, feed, metrics, admin"),
            )
        })
    }
}

/// A token's scopes, sorted, without repeats.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scopes(Vec<Scope>);

impl Serialize for Scopes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl Scopes {
    /// What the CLI gives a token when no `--scope` is named.
    pub fn default_for_cli() -> Scopes {
        Scopes::of(&[Scope::Write, Scope::Mcp])
    }

    pub fn admin() -> Scopes {
        Scopes::of(&[Scope::Admin])
    }

    pub fn of(list: &[Scope]) -> Scopes {
        let mut v = list.to_vec();
        v.sort();
        v.dedup();
        Scopes(v)
    }

    /// Comma- or space-separated names, as typed (`write,mcp`). At least one is needed.
    pub fn parse(text: &str) -> Result<Scopes, AppError> {
        let list = text
            .split([',', ' '])
            .filter(|p| !p.trim().is_empty())
            .map(Scope::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if list.is_empty() {
            return Err(AppError::invalid(
                "scope",
                "a token needs at least one scope: read, write, mcp, feed, metrics or admin",
            ));
        }
        Ok(Scopes::of(&list))
    }

    /// As stored; a name Steward does not know (from a newer version) is left out.
    pub fn from_stored(text: &str) -> Scopes {
        Scopes::of(&text.split(',').filter_map(|p| Scope::parse(p).ok()).collect::<Vec<_>>())
    }

    pub fn to_stored(&self) -> String {
        self.names().join(",")
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|s| s.as_str()).collect()
    }

    pub fn list(&self) -> &[Scope] {
        &self.0
    }

    pub fn is_admin(&self) -> bool {
        self.0.contains(&Scope::Admin)
    }

    /// Whether a request that needs `needed` may pass: `admin` covers everything, `write`
    /// covers `read`, and `read` covers `feed`. Only `metrics` (or `admin`) covers `metrics`.
    pub fn allows(&self, needed: Scope) -> bool {
        let has = |s: Scope| self.0.contains(&s);
        has(Scope::Admin)
            || has(needed)
            || (needed == Scope::Read && has(Scope::Write))
            || (needed == Scope::Feed && (has(Scope::Read) || has(Scope::Write)))
    }
}

/// Areas of the API that only an `admin` token may touch, whatever the method: the first path
/// segment after `/api/v1/`. Anything added under them later is covered too.
pub const ADMIN_AREAS: [&str; 5] = ["agents", "auth", "channels", "settings", "tokens"];

/// The calendar export and feeds: `read` covers them, and a `feed` token may read only these.
pub const FEED_PATHS: [&str; 2] = ["/api/v1/calendar.ics", "/api/v1/feeds"];

/// The scope a request needs. `path` must be the path the router matches (percent-decoded:
/// `/api/v1/%61gents` is `/api/v1/agents`), `method` its method.
pub fn required(method: &str, path: &str) -> Scope {
    let safe = matches!(method, "GET" | "HEAD" | "OPTIONS");
    if path == "/mcp" || path.starts_with("/mcp/") {
        return Scope::Mcp;
    }
    if path == "/metrics" {
        return if safe { Scope::Metrics } else { Scope::Admin };
    }
    let Some(rest) = path.strip_prefix("/api/v1/") else {
        // Nothing else takes a token; if something ever does, it needs the most.
        return if path == "/api/v1" && safe { Scope::Read } else { Scope::Admin };
    };
    let area = rest.split('/').next().unwrap_or_default();
    if ADMIN_AREAS.iter().any(|a| a.eq_ignore_ascii_case(area)) {
        return Scope::Admin;
    }
    let feed = FEED_PATHS.iter().any(|f| path == *f || path.starts_with(&format!("{f}/")));
    match (safe, feed) {
        (true, true) => Scope::Feed,
        (true, false) => Scope::Read,
        (false, _) => Scope::Write,
    }
}

/// Why a token may not do this, and how the person can give a program that right.
pub fn refusal(has: &Scopes, needed: Scope) -> String {
    let what = match needed {
        Scope::Read => "reading this",
        Scope::Write => "changing things",
        Scope::Mcp => "the MCP tools",
        Scope::Feed => "the calendar feed",
        Scope::Metrics => "reading /metrics",
        Scope::Admin => "agents, channels, settings and tokens",
    };
    format!(
        "this token's scopes are {}; {what} needs the {} scope: make a token with it on the Settings page \
         or with `steward token create --name NAME --scope {}`",
        has.names().join(", "),
        needed.as_str(),
        needed.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_is_classified_safely() {
        let cases = [
            ("GET", "/api/v1/tasks", Scope::Read),
            ("HEAD", "/api/v1/tasks/3", Scope::Read),
            ("POST", "/api/v1/tasks", Scope::Write),
            ("DELETE", "/api/v1/schedules/2", Scope::Write),
            ("POST", "/api/v1/trigger", Scope::Write),
            ("POST", "/api/v1/chat", Scope::Write),
            ("GET", "/api/v1/agents", Scope::Admin),
            ("PATCH", "/api/v1/agents/llm2", Scope::Admin),
            ("POST", "/api/v1/agents/llm2/check", Scope::Admin),
            ("GET", "/api/v1/channels/x", Scope::Admin),
            ("POST", "/api/v1/tokens", Scope::Admin),
            ("PUT", "/api/v1/settings", Scope::Admin),
            ("GET", "/api/v1/settings/reminders", Scope::Admin),
            ("GET", "/api/v1/Agents", Scope::Admin),
            ("GET", "/api/v1/auth/logins", Scope::Admin),
            ("GET", "/api/v1/calendar.ics", Scope::Feed),
            ("GET", "/api/v1/feeds/3", Scope::Feed),
            ("POST", "/api/v1/calendar.ics", Scope::Write),
            ("GET", "/api/v1/calendar.icsx", Scope::Read),
            // Routes nobody has written yet.
            ("GET", "/api/v1/brand-new", Scope::Read),
            ("PUT", "/api/v1/brand-new/1", Scope::Write),
            ("POST", "/mcp", Scope::Mcp),
            ("GET", "/mcp", Scope::Mcp),
            ("GET", "/metrics", Scope::Metrics),
            ("POST", "/metrics", Scope::Admin),
            ("GET", "/metrics/x", Scope::Admin),
            ("GET", "/tasks", Scope::Admin),
            ("POST", "/api/v2/tasks", Scope::Admin),
        ];
        for (method, path, scope) in cases {
            assert_eq!(required(method, path), scope, "{method} {path}");
        }
    }

    #[test]
    fn scopes_cover_what_they_say() {
        let s = |t: &str| Scopes::parse(t).unwrap();
        let table = [
            // read write mcp feed metrics admin
            ("read", [true, false, false, true, false, false]),
            ("write", [true, true, false, true, false, false]),
            ("mcp", [false, false, true, false, false, false]),
            ("feed", [false, false, false, true, false, false]),
            ("metrics", [false, false, false, false, true, false]),
            ("admin", [true, true, true, true, true, true]),
            ("write,mcp", [true, true, true, true, false, false]),
        ];
        for (scopes, allowed) in table {
            for (needed, ok) in Scope::ALL.into_iter().zip(allowed) {
                assert_eq!(s(scopes).allows(needed), ok, "{scopes} -> {needed:?}");
            }
        }
    }

    #[test]
    fn scopes_parse_and_store() {
        assert_eq!(Scopes::parse("mcp, write ,write").unwrap().to_stored(), "write,mcp");
        assert_eq!(Scopes::parse("ADMIN").unwrap(), Scopes::admin());
        let e = Scopes::parse("write,sudo").unwrap_err();
        assert_eq!(e.field(), Some("scope"));
        assert!(e.client_message().contains("“sudo” is not a scope"), "{e}");
        assert!(Scopes::parse(" , ").is_err());
        assert_eq!(Scopes::from_stored("read,future"), Scopes::of(&[Scope::Read]));
        assert!(refusal(&Scopes::of(&[Scope::Read]), Scope::Write).contains("--scope write"));
    }
}
