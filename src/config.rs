//! Configuration: defaults, then a TOML file (`--config`), then `STEWARD_*` environment
//! variables, then command-line flags; each layer overrides the one before.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono_tz::Tz;
use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

use crate::error::AppError;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The SQLite database file (`STEWARD_DB`). Default `steward.db` in the working directory.
    pub db: PathBuf,
    /// Address the server listens on (`STEWARD_BIND`). Default `127.0.0.1:8080`.
    pub bind: String,
    /// The person's IANA time zone, for dates typed without one (`STEWARD_TIMEZONE`).
    /// Default: the machine's zone. The Settings page can override it.
    pub timezone: Option<String>,
    /// The URL people reach Steward at (`STEWARD_PUBLIC_URL`). When it is https, cookies get
    /// `Secure` and the `__Host-` prefix and HSTS is sent.
    pub public_url: Option<String>,
    /// TLS certificate chain, PEM (`STEWARD_TLS_CERT`).
    pub tls_cert: Option<PathBuf>,
    /// TLS private key, PEM (`STEWARD_TLS_KEY`).
    pub tls_key: Option<PathBuf>,
    /// Minutes without a request after which a session ends (`STEWARD_SESSION_IDLE_MINUTES`).
    pub session_idle_minutes: i64,
    /// Days after login after which a session ends however active (`STEWARD_SESSION_MAX_DAYS`).
    pub session_max_days: i64,
    /// The built-in `default` agent: an OpenAI-compatible endpoint (`STEWARD_LLM_BASE_URL`, like
    /// `http://127.0.0.1:11434/v1`), its model (`STEWARD_LLM_MODEL`) and key (`STEWARD_LLM_API_KEY`).
    pub llm_base_url: Option<String>,
    pub llm_model: Option<String>,
    pub llm_api_key: Option<String>,
    /// Whether `serve` runs the scheduler (`STEWARD_SCHEDULER`, default true).
    pub scheduler: bool,
    /// Seconds a request's whole body may take to arrive on the forms anyone may send (login,
    /// setup) (`STEWARD_BODY_TIMEOUT_PUBLIC_SECS`, default 10), and everywhere else
    /// (`STEWARD_BODY_TIMEOUT_SECS`, default 60). A slower body is answered 408 and its
    /// connection closed.
    pub body_timeout_public_secs: u64,
    pub body_timeout_secs: u64,
    /// Milliseconds before a notification channel's first retry (`channel_retry_ms` in the
    /// file, default 30 000); each later wait is four times longer.
    pub channel_retry_ms: u64,
    /// The reverse proxies in front of Steward (`STEWARD_TRUSTED_PROXIES`): addresses and CIDRs,
    /// comma-separated (`127.0.0.1, 10.0.0.0/8, ::1`; a list in the file). Only a request whose
    /// connection comes from one of them has its `Forwarded` / `X-Forwarded-For` /
    /// `X-Forwarded-Proto` / `X-Forwarded-Host` headers believed. Default: none.
    pub trusted_proxies: TrustedProxies,
    /// How long history is kept, until the Settings page says otherwise (see
    /// `crate::retention`): runs that succeeded or were cancelled, in days
    /// (`STEWARD_RETENTION_RUNS_DAYS`, default 90); failed runs (`STEWARD_RETENTION_FAILED_DAYS`,
    /// default 365); the last runs of each schedule kept whatever their age
    /// (`STEWARD_RETENTION_KEEP_PER_SCHEDULE`, default 100, at least 100); read notifications
    /// (`STEWARD_RETENTION_NOTIFICATIONS_DAYS`, default 90). 0 days keeps forever.
    pub retention_runs_days: i64,
    pub retention_failed_days: i64,
    pub retention_keep_per_schedule: i64,
    pub retention_notifications_days: i64,
    /// With built-in TLS, a plain-HTTP address (`STEWARD_HTTP_BIND`, like `0.0.0.0:80`) that
    /// answers every request with a redirect to https. Default: none.
    pub http_bind: Option<String>,
    /// How often the TLS files are checked for a renewal. Not read from the file or the
    /// environment (5 s); tests shorten it.
    #[serde(skip)]
    pub tls_poll: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            db: PathBuf::from("steward.db"),
            bind: "127.0.0.1:8080".into(),
            timezone: None,
            public_url: None,
            tls_cert: None,
            tls_key: None,
            session_idle_minutes: 7 * 24 * 60,
            session_max_days: 30,
            llm_base_url: None,
            llm_model: None,
            llm_api_key: None,
            scheduler: true,
            body_timeout_public_secs: 10,
            body_timeout_secs: 60,
            channel_retry_ms: 30_000,
            trusted_proxies: TrustedProxies::default(),
            retention_runs_days: 90,
            retention_failed_days: 365,
            retention_keep_per_schedule: 100,
            retention_notifications_days: 90,
            http_bind: None,
            tls_poll: Duration::from_secs(5),
        }
    }
}

impl Config {
    /// Reads the file (if any) and the environment (through `env`, so tests need not touch the
    /// process environment), and validates the result.
    pub fn load(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Config, AppError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    AppError::invalid("--config", format!("cannot read {}: {e}", path.display()))
                })?;
                toml::from_str(&text)
                    .map_err(|e| AppError::invalid("--config", format!("{}: {e}", path.display())))?
            }
            None => Config::default(),
        };
        if let Some(v) = env("STEWARD_DB") {
            config.db = PathBuf::from(v);
        }
        if let Some(v) = env("STEWARD_BIND") {
            config.bind = v;
        }
        if let Some(v) = env("STEWARD_TIMEZONE") {
            config.timezone = Some(v);
        }
        if let Some(v) = env("STEWARD_PUBLIC_URL") {
            config.public_url = Some(v);
        }
        if let Some(v) = env("STEWARD_TLS_CERT").filter(|v| !v.trim().is_empty()) {
            config.tls_cert = Some(PathBuf::from(v));
        }
        if let Some(v) = env("STEWARD_TLS_KEY").filter(|v| !v.trim().is_empty()) {
            config.tls_key = Some(PathBuf::from(v));
        }
        if let Some(v) = env("STEWARD_SESSION_IDLE_MINUTES") {
            config.session_idle_minutes = parse_number("STEWARD_SESSION_IDLE_MINUTES", &v)?;
        }
        if let Some(v) = env("STEWARD_SESSION_MAX_DAYS") {
            config.session_max_days = parse_number("STEWARD_SESSION_MAX_DAYS", &v)?;
        }
        for (key, slot) in [
            ("STEWARD_LLM_BASE_URL", &mut config.llm_base_url),
            ("STEWARD_LLM_MODEL", &mut config.llm_model),
            ("STEWARD_LLM_API_KEY", &mut config.llm_api_key),
        ] {
            if let Some(v) = env(key).filter(|v| !v.trim().is_empty()) {
                *slot = Some(v);
            }
        }
        if let Some(v) = env("STEWARD_BODY_TIMEOUT_PUBLIC_SECS") {
            config.body_timeout_public_secs = parse_number("STEWARD_BODY_TIMEOUT_PUBLIC_SECS", &v)?;
        }
        if let Some(v) = env("STEWARD_BODY_TIMEOUT_SECS") {
            config.body_timeout_secs = parse_number("STEWARD_BODY_TIMEOUT_SECS", &v)?;
        }
        if let Some(v) = env("STEWARD_TRUSTED_PROXIES") {
            config.trusted_proxies = v.parse()?;
        }
        for (name, field) in [
            ("STEWARD_RETENTION_RUNS_DAYS", &mut config.retention_runs_days),
            ("STEWARD_RETENTION_FAILED_DAYS", &mut config.retention_failed_days),
            ("STEWARD_RETENTION_KEEP_PER_SCHEDULE", &mut config.retention_keep_per_schedule),
            ("STEWARD_RETENTION_NOTIFICATIONS_DAYS", &mut config.retention_notifications_days),
        ] {
            if let Some(v) = env(name) {
                *field = parse_number(name, &v)?;
            }
        }
        for (key, slot) in
            [("STEWARD_TLS_CERT", &mut config.tls_cert), ("STEWARD_TLS_KEY", &mut config.tls_key)]
        {
            if let Some(v) = env(key).filter(|v| !v.trim().is_empty()) {
                *slot = Some(PathBuf::from(v));
            }
        }
        if let Some(v) = env("STEWARD_HTTP_BIND").filter(|v| !v.trim().is_empty()) {
            config.http_bind = Some(v);
        }
        if let Some(v) = env("STEWARD_SCHEDULER") {
            config.scheduler = !matches!(v.trim(), "0" | "false" | "no" | "off");
        }
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), AppError> {
        if let Some(zone) = &self.timezone {
            parse_zone("timezone", zone)?;
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(AppError::invalid(
                "public_url",
                format!("{url:?} must start with https:// or http://"),
            ));
        }
        if let Some(url) = &self.llm_base_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(AppError::invalid(
                "llm_base_url",
                format!("{url:?} must start with https:// or http://"),
            ));
        }
        if self.session_idle_minutes < 1 || self.session_max_days < 1 {
            return Err(AppError::invalid("session", "session lifetimes must be at least 1"));
        }
        if self.body_timeout_public_secs < 1 || self.body_timeout_secs < 1 {
            return Err(AppError::invalid("body_timeout", "body timeouts must be at least 1 second"));
        }
        // The same rules as the Settings page, naming the config's fields.
        let defaults = crate::retention::Retention::default();
        defaults.with(&crate::retention::Retention::from_config(self).input(), "retention_")?;
        self.validate_tls()
    }

    /// Built-in TLS needs both files; the redirect listener needs TLS; and a public URL cannot
    /// say http when Steward itself only speaks https.
    fn validate_tls(&self) -> Result<(), AppError> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) | (None, Some(_)) => {
                return Err(AppError::invalid(
                    "tls_cert",
                    "built-in TLS needs both tls_cert (STEWARD_TLS_CERT) and tls_key (STEWARD_TLS_KEY); only one is set",
                ));
            }
            _ => {}
        }
        if let Some(bind) = &self.http_bind {
            if self.tls().is_none() {
                return Err(AppError::invalid(
                    "http_bind",
                    format!(
                        "{bind:?} is set but built-in TLS is off: set tls_cert and tls_key too, or leave http_bind out"
                    ),
                ));
            }
            // Port 0 (any free port, as tests use) never collides.
            if bind.trim() == self.bind.trim() && !bind.trim().ends_with(":0") {
                return Err(AppError::invalid(
                    "http_bind",
                    format!("{bind:?} is also the https address (bind): give the redirect its own port"),
                ));
            }
        }
        if let Some(url) = &self.public_url
            && self.tls().is_some()
            && url.starts_with("http://")
        {
            return Err(AppError::invalid(
                "public_url",
                format!(
                    "{url:?} says http, but with tls_cert and tls_key Steward serves https: write https://"
                ),
            ));
        }
        Ok(())
    }

    /// The configured zone, else the machine's, else UTC.
    pub fn default_zone(&self) -> Tz {
        self.timezone
            .as_deref()
            .and_then(|z| z.parse().ok())
            .or_else(|| iana_time_zone::get_timezone().ok().and_then(|z| z.parse().ok()))
            .unwrap_or(Tz::UTC)
    }

    /// Whether Steward is reached over TLS (so cookies must be `Secure`): an https public URL,
    /// or built-in TLS.
    pub fn is_https(&self) -> bool {
        self.public_url.as_deref().is_some_and(|u| u.starts_with("https://")) || self.tls().is_some()
    }

    /// The certificate chain and key files, when built-in TLS is on.
    pub fn tls(&self) -> Option<(&Path, &Path)> {
        Some((self.tls_cert.as_deref()?, self.tls_key.as_deref()?))
    }
}

/// Addresses and networks whose forwarded headers are believed (see [`Config::trusted_proxies`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub const NONE: TrustedProxies = TrustedProxies(Vec::new());

    /// Whether `ip` is one of the proxies (an IPv4 address written as IPv6, `::ffff:10.0.0.1`,
    /// counts as the IPv4 one).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The networks, as configured (for `steward doctor`'s review).
    pub fn networks(&self) -> &[IpNet] {
        &self.0
    }
}

/// `127.0.0.1, 10.0.0.0/8, ::1`: addresses and CIDRs, separated by commas (or spaces).
impl FromStr for TrustedProxies {
    type Err = AppError;

    fn from_str(text: &str) -> Result<TrustedProxies, AppError> {
        text.split([',', ' ', '\t', '\n'])
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .map(|net| net.trunc())
                    .or_else(|_| entry.parse::<IpAddr>().map(|ip| IpNet::from(ip.to_canonical())))
                    .map_err(|_| {
                        AppError::invalid(
                            "trusted_proxies",
                            format!(
                                "{entry:?} is not an IP address or CIDR (like 127.0.0.1, 10.0.0.0/8 or ::1)"
                            ),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }
}

/// In the file: a string like the variable's, or a list of strings.
impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<TrustedProxies, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            Many(Vec<String>),
        }
        let text = match Raw::deserialize(deserializer)? {
            Raw::One(text) => text,
            Raw::Many(list) => list.join(","),
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses an IANA zone name, with an error that names the field and the value.
pub fn parse_zone(field: &str, name: &str) -> Result<Tz, AppError> {
    name.trim().parse::<Tz>().map_err(|_| {
        AppError::invalid(
            field,
            format!("{name:?} is not an IANA time zone (like Europe/Berlin or America/New_York)"),
        )
    })
}

fn parse_number<T: std::str::FromStr>(field: &str, value: &str) -> Result<T, AppError> {
    value.trim().parse().map_err(|_| AppError::invalid(field, format!("{value:?} is not a whole number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_override_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("steward.toml");
        std::fs::write(&file, "bind = \"127.0.0.1:9000\"\ntimezone = \"Europe/Berlin\"\n").unwrap();
        let env = |k: &str| (k == "STEWARD_TIMEZONE").then(|| "America/New_York".to_string());
        let config = Config::load(Some(&file), env).unwrap();
        assert_eq!(config.bind, "127.0.0.1:9000");
        assert_eq!(config.default_zone(), chrono_tz::America::New_York);
    }

    #[test]
    fn bad_values_name_the_field() {
        let err =
            Config::load(None, |k| (k == "STEWARD_TIMEZONE").then(|| "Mars/Olympus".into())).unwrap_err();
        assert!(err.to_string().contains("timezone"), "{err}");
        let err =
            Config::load(None, |k| (k == "STEWARD_PUBLIC_URL").then(|| "example.org".into())).unwrap_err();
        assert!(err.to_string().contains("public_url"), "{err}");
        let err =
            Config::load(None, |k| (k == "STEWARD_TRUSTED_PROXIES").then(|| "10.0.0.1, proxy.lan".into()))
                .unwrap_err();
        assert!(
            err.to_string().contains("trusted_proxies") && err.to_string().contains("proxy.lan"),
            "{err}"
        );
    }

    #[test]
    fn trusted_proxies_are_addresses_and_networks() {
        let env =
            |k: &str| (k == "STEWARD_TRUSTED_PROXIES").then(|| " 127.0.0.1, 10.0.0.0/8,::1 ,fd00::/8".into());
        let proxies = Config::load(None, env).unwrap().trusted_proxies;
        for (ip, trusted) in [
            ("127.0.0.1", true),
            ("127.0.0.2", false),
            ("10.200.3.4", true),
            ("11.0.0.1", false),
            ("::1", true),
            ("::2", false),
            ("fd12::7", true),
            ("::ffff:10.1.2.3", true),
            ("::ffff:192.0.2.1", false),
        ] {
            assert_eq!(proxies.contains(ip.parse().unwrap()), trusted, "{ip}");
        }
        assert!(Config::default().trusted_proxies.is_empty());
        assert!(!Config::default().trusted_proxies.contains("127.0.0.1".parse().unwrap()));

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("steward.toml");
        std::fs::write(&file, "trusted_proxies = [\"192.168.1.0/24\", \"::1\"]\n").unwrap();
        let proxies = Config::load(Some(&file), |_| None).unwrap().trusted_proxies;
        assert!(proxies.contains("192.168.1.9".parse().unwrap()) && proxies.contains("::1".parse().unwrap()));
        std::fs::write(&file, "trusted_proxies = \"10.0.0.0/33\"\n").unwrap();
        let err = Config::load(Some(&file), |_| None).unwrap_err();
        assert!(err.to_string().contains("10.0.0.0/33"), "{err}");
    }

    #[test]
    fn tls_needs_both_files_and_the_redirect_needs_tls() {
        fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
            move |k: &str| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| v.to_string())
        }
        let config = Config::load(
            None,
            env(&[
                ("STEWARD_TLS_CERT", "/etc/steward/cert.pem"),
                ("STEWARD_TLS_KEY", "/etc/steward/key.pem"),
            ]),
        )
        .unwrap();
        assert_eq!(
            config.tls(),
            Some((Path::new("/etc/steward/cert.pem"), Path::new("/etc/steward/key.pem")))
        );
        assert!(config.is_https(), "built-in TLS means https");
        assert!(!Config::default().is_https());
        assert!(
            Config::load(None, env(&[("STEWARD_TLS_CERT", ""), ("STEWARD_TLS_KEY", " ")]))
                .unwrap()
                .tls()
                .is_none()
        );

        for only in [&[("STEWARD_TLS_CERT", "/c.pem")][..], &[("STEWARD_TLS_KEY", "/k.pem")][..]] {
            let err = Config::load(None, env(only)).unwrap_err().to_string();
            assert!(err.contains("tls_cert") && err.contains("tls_key") && err.contains("only one"), "{err}");
        }
        let err = Config::load(None, env(&[("STEWARD_HTTP_BIND", "0.0.0.0:80")])).unwrap_err().to_string();
        assert!(err.contains("http_bind") && err.contains("TLS is off"), "{err}");
        let both = [("STEWARD_TLS_CERT", "/c.pem"), ("STEWARD_TLS_KEY", "/k.pem")];
        let public = [both[0], both[1], ("STEWARD_PUBLIC_URL", "http://steward.example")];
        let err = Config::load(None, env(&public)).unwrap_err().to_string();
        assert!(err.contains("public_url") && err.contains("https://"), "{err}");
        let same = [both[0], both[1], ("STEWARD_HTTP_BIND", "127.0.0.1:8080")];
        let err = Config::load(None, env(&same)).unwrap_err().to_string();
        assert!(err.contains("http_bind") && err.contains("own port"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("steward.toml");
        std::fs::write(&file, "tls_cert = \"/c.pem\"\ntls_key = \"/k.pem\"\nhttp_bind = \"0.0.0.0:80\"\n")
            .unwrap();
        let config = Config::load(Some(&file), |_| None).unwrap();
        assert_eq!(config.http_bind.as_deref(), Some("0.0.0.0:80"));
        assert!(config.tls().is_some());
    }
}
