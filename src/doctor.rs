//! `steward doctor`: checks an installation and says what to fix. Each check is a function that
//! returns [`Check`]s (`ok`, `warn` or `fail`, what was checked, and for a problem a sentence
//! naming the setting, variable or file to change); the CLI only prints them.
//!
//! Nothing here changes the installation: the database is opened without running migrations
//! (a plain connection, not [`crate::db::Db::open`]), and channels are only reached (a TCP
//! connection to their server) unless `--send-test` asks for a real test message. Agents and
//! channels are asked at once, each within a short timeout, so a dead server costs seconds.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use diesel::sqlite::{Sqlite, SqliteConnection};
use serde::Serialize;

use crate::agents::{self, Agent, AgentKind};
use crate::config::{Config, TrustedProxies};
use crate::error::AppError;
use crate::notify::{self, Channel};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One finding: what was checked, how it went, and for a problem what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub message: String,
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: impl Into<String>, message: impl Into<String>) -> Check {
        Check { name: name.into(), status: Status::Ok, message: message.into(), fix: None }
    }

    fn warn(name: impl Into<String>, message: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { name: name.into(), status: Status::Warn, message: message.into(), fix: Some(fix.into()) }
    }

    fn fail(name: impl Into<String>, message: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { name: name.into(), status: Status::Fail, message: message.into(), fix: Some(fix.into()) }
    }
}

/// How far `doctor` goes.
#[derive(Debug, Clone)]
pub struct Options {
    /// Send a real test message to every channel (else only connect to its server).
    pub send_test: bool,
    /// How long each agent or channel may take to answer.
    pub timeout: Duration,
    /// `PRAGMA quick_check` instead of the full `integrity_check`, which also compares every
    /// index with its table and takes seconds on a database of a few hundred megabytes.
    pub quick: bool,
}

/// A certificate expiring sooner than this is a warning.
const EXPIRY_WARNING: chrono::TimeDelta = chrono::TimeDelta::days(14);
/// Free space under which the disk next to the database is a warning, and a failure.
const DISK_WARN_BYTES: u64 = 1 << 30;
const DISK_FAIL_BYTES: u64 = 100 << 20;

/// Every check, in the order they are printed. `loaded` is the configuration as the CLI loaded
/// it (with `--db` applied); when it did not load, only that failure is reported, since every
/// other check depends on it.
pub async fn diagnose(
    loaded: Result<Config, AppError>,
    config_file: Option<&Path>,
    options: &Options,
    now: DateTime<Utc>,
) -> Vec<Check> {
    let config = match loaded {
        Ok(config) => config,
        Err(e) => return vec![config_check(Err(&e), config_file)],
    };
    let mut checks = vec![config_check(Ok(&config), config_file)];
    let (db_checks, conn) = database(&config.db, options.quick);
    checks.extend(db_checks);
    if config.db.is_file() {
        checks.push(server(&config.db));
    }
    let tls_on = config.tls_cert.is_some() && config.tls_key.is_some();
    checks.push(public_url(config.public_url.as_deref(), &config.bind, tls_on, &config.trusted_proxies));
    checks.extend(tls_files(config.tls_cert.as_deref(), config.tls_key.as_deref(), now));
    checks.push(trusted_proxies(&config.trusted_proxies, &config.bind));
    checks.push(disk(&config.db));
    match conn {
        Some(mut conn) => {
            checks.push(password(&mut conn));
            checks.extend(agents_answer(&mut conn, &config, options).await);
            checks.extend(channels_answer(&mut conn, &config, options, now).await);
        }
        None if config.db.is_file() => checks.push(Check::warn(
            "contents",
            "the password, agents and channels were not checked, because the database checks above did not pass",
            "fix the database first, then run steward doctor again",
        )),
        None => {}
    }
    checks
}

/// Whether anything failed (the exit code is 1 then; warnings alone keep it 0).
pub fn any_failed(checks: &[Check]) -> bool {
    checks.iter().any(|c| c.status == Status::Fail)
}

fn config_check(loaded: Result<&Config, &AppError>, file: Option<&Path>) -> Check {
    let source = match file {
        Some(f) => format!("{} and the STEWARD_* environment", f.display()),
        None => "the STEWARD_* environment (no --config file)".into(),
    };
    match loaded {
        Ok(_) => Check::ok("config", format!("the configuration from {source} loads and validates")),
        Err(e) => Check::fail(
            "config",
            format!("the configuration from {source} does not load: {e}"),
            match file {
                Some(f) => format!(
                    "correct the setting named above in {} or in its STEWARD_* environment variable",
                    f.display()
                ),
                None => "correct the STEWARD_* environment variable named above".into(),
            },
        ),
    }
}

// --- the database ---

#[derive(QueryableByName)]
struct Integrity {
    #[diesel(sql_type = Text)]
    integrity_check: String,
}

#[derive(QueryableByName)]
struct ForeignKeyProblem {
    #[diesel(sql_type = Text)]
    table: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    rowid: Option<i64>,
    #[diesel(sql_type = Text)]
    parent: String,
    #[diesel(sql_type = Integer)]
    #[allow(dead_code)]
    fkid: i32,
}

#[derive(QueryableByName)]
struct JournalMode {
    #[diesel(sql_type = Text)]
    journal_mode: String,
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = Text)]
    version: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

const RESTORE_FIX: &str = "stop Steward and restore the newest good backup with `steward restore FILE`; the damaged file is kept beside it as <db>.before-restore-<time>";

/// The database file: there, a SQLite database, intact, its references sound, its migrations
/// those of this binary, in WAL mode (`quick`: see [`Options::quick`]). Returns the connection
/// when its contents can be read.
pub fn database(path: &Path, quick: bool) -> (Vec<Check>, Option<SqliteConnection>) {
    let mut checks = Vec::new();
    let shown = path.display();
    let point = "point STEWARD_DB (or --db, or `db` in the config file) at Steward's database";
    if !path.exists() {
        checks.push(Check::fail(
            "database",
            format!("there is no database at {shown}"),
            format!("{point}, or start `steward serve` once to create it there"),
        ));
        return (checks, None);
    }
    if !path.is_file() {
        checks.push(Check::fail("database", format!("{shown} is not a file"), point));
        return (checks, None);
    }
    let mut conn = match SqliteConnection::establish(&path.to_string_lossy()) {
        Ok(conn) => conn,
        Err(e) => {
            checks.push(Check::fail(
                "database",
                format!("{shown} cannot be opened: {e}"),
                "make the file and its folder readable and writable by the user Steward runs as",
            ));
            return (checks, None);
        }
    };
    // Wait for a server's write instead of failing on its lock.
    if let Err(e) = conn.batch_execute("PRAGMA busy_timeout = 5000;") {
        checks.push(Check::fail("database", format!("{shown} cannot be used: {e}"), RESTORE_FIX));
        return (checks, None);
    }
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    match diesel::sql_query("SELECT count(*) AS n FROM sqlite_master").get_result::<Count>(&mut conn) {
        Ok(_) => checks.push(Check::ok("database", format!("{shown} opens ({})", bytes(size)))),
        Err(e) => {
            checks.push(Check::fail(
                "database",
                format!("{shown} cannot be read as a SQLite database: {e}"),
                RESTORE_FIX,
            ));
            return (checks, None);
        }
    }
    let mut sound = true;
    let pragma = if quick { "quick_check" } else { "integrity_check" };
    let query = format!("SELECT {pragma} AS integrity_check FROM pragma_{pragma}");
    match diesel::sql_query(query).load::<Integrity>(&mut conn) {
        Ok(rows) if rows.len() == 1 && rows[0].integrity_check == "ok" => {
            checks.push(Check::ok("integrity", format!("PRAGMA {pragma}: ok")));
        }
        Ok(rows) => {
            sound = false;
            let first: Vec<&str> = rows.iter().take(3).map(|r| r.integrity_check.as_str()).collect();
            checks.push(Check::fail(
                "integrity",
                format!("PRAGMA {pragma} found {} problem(s): {}", rows.len(), first.join("; ")),
                RESTORE_FIX,
            ));
        }
        Err(e) => {
            sound = false;
            checks.push(Check::fail("integrity", format!("PRAGMA {pragma} failed: {e}"), RESTORE_FIX));
        }
    }
    match diesel::sql_query("PRAGMA foreign_key_check").load::<ForeignKeyProblem>(&mut conn) {
        Ok(rows) if rows.is_empty() => checks
            .push(Check::ok("foreign keys", "PRAGMA foreign_key_check: every reference points at a row")),
        Ok(rows) => {
            sound = false;
            let first = &rows[0];
            let row = first.rowid.map(|r| format!(" row {r}")).unwrap_or_default();
            checks.push(Check::fail(
                "foreign keys",
                format!(
                    "{} row(s) refer to rows that do not exist (first: {}{row}, which refers to {})",
                    rows.len(),
                    first.table,
                    first.parent
                ),
                RESTORE_FIX,
            ));
        }
        Err(e) => {
            sound = false;
            checks.push(Check::fail(
                "foreign keys",
                format!("PRAGMA foreign_key_check failed: {e}"),
                RESTORE_FIX,
            ));
        }
    }
    match diesel::sql_query("PRAGMA journal_mode").get_result::<JournalMode>(&mut conn) {
        Ok(m) if m.journal_mode.eq_ignore_ascii_case("wal") => {
            checks.push(Check::ok("journal mode", "WAL (readers and the writer do not block each other)"))
        }
        Ok(m) => checks.push(Check::warn(
            "journal mode",
            format!("the journal mode is {}, not WAL, so pages wait for each write", m.journal_mode),
            "start `steward serve` (or any steward command) once: it switches the database to WAL",
        )),
        Err(e) => {
            checks.push(Check::warn("journal mode", format!("PRAGMA journal_mode failed: {e}"), RESTORE_FIX))
        }
    }
    let (check, current) = migrations(&mut conn);
    checks.push(check);
    (checks, (sound && current).then_some(conn))
}

/// Whether the database has exactly this binary's migrations. Read without diesel's harness,
/// which would create its table in a database that is not Steward's.
fn migrations(conn: &mut SqliteConnection) -> (Check, bool) {
    let known: Vec<String> = match MigrationSource::<Sqlite>::migrations(&crate::db::MIGRATIONS) {
        Ok(list) => list.iter().map(|m| m.name().version().to_string()).collect(),
        Err(e) => {
            return (
                Check::fail(
                    "migrations",
                    format!("this binary's migrations cannot be read: {e}"),
                    "rebuild steward",
                ),
                false,
            );
        }
    };
    let has_table = diesel::sql_query(
        "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '__diesel_schema_migrations'",
    )
    .get_result::<Count>(conn)
    .map(|c| c.n == 1);
    let applied: Vec<String> = match has_table {
        Ok(true) => {
            match diesel::sql_query("SELECT version FROM __diesel_schema_migrations").load::<Version>(conn) {
                Ok(rows) => rows.into_iter().map(|r| r.version).collect(),
                Err(e) => {
                    return (
                        Check::fail(
                            "migrations",
                            format!("the migrations table cannot be read: {e}"),
                            RESTORE_FIX,
                        ),
                        false,
                    );
                }
            }
        }
        Ok(false) => {
            return (
                Check::fail(
                    "migrations",
                    "this is a SQLite database but not Steward's: it has no migrations table",
                    "point STEWARD_DB (or --db) at Steward's database",
                ),
                false,
            );
        }
        Err(e) => {
            return (
                Check::fail("migrations", format!("the schema cannot be read: {e}"), RESTORE_FIX),
                false,
            );
        }
    };
    let unknown: Vec<&String> = applied.iter().filter(|v| !known.contains(v)).collect();
    let pending: Vec<&String> = known.iter().filter(|v| !applied.contains(v)).collect();
    if let Some(first) = unknown.first() {
        return (
            Check::fail(
                "migrations",
                format!(
                    "the database was migrated by a newer Steward: {} migration(s) this binary does not know (like {first})",
                    unknown.len()
                ),
                "run the newer steward binary, or restore a backup taken with this version (`steward restore FILE`)",
            ),
            false,
        );
    }
    if let Some(first) = pending.first() {
        return (
            Check::warn(
                "migrations",
                format!(
                    "{} migration(s) are not applied yet (like {first}); Steward applies them when it next starts",
                    pending.len()
                ),
                "take a backup (`steward backup DIR`), then start `steward serve`, which applies them",
            ),
            false,
        );
    }
    (Check::ok("migrations", format!("up to date ({} applied)", applied.len())), true)
}

/// Whether a Steward server runs on this database: it holds the scheduler lock.
fn server(db: &Path) -> Check {
    match crate::scheduler::try_lock(db) {
        Ok(Some(_lock)) => {
            Check::ok("server", "no Steward server is running on this database (its scheduler lock is free)")
        }
        Ok(None) => Check::ok(
            "server",
            "a Steward server is running on this database (it holds the scheduler lock); `steward restore` will refuse until it stops",
        ),
        Err(e) => Check::warn(
            "server",
            format!("the scheduler lock cannot be taken: {e}"),
            format!("let the user Steward runs as write to {}", crate::scheduler::lock_path(db).display()),
        ),
    }
}

// --- reaching Steward: public URL, TLS, proxies ---

/// The host and port of a `host:port` bind address (IPv6 in brackets).
fn split_bind(bind: &str) -> Option<(String, u16)> {
    let (host, port) = bind.trim().rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_string(), port.parse().ok()?))
}

fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    h == "localhost" || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether `STEWARD_PUBLIC_URL` agrees with how Steward is served: the bind address, built-in
/// TLS, and whether a proxy in front is trusted (a proxy is the only way an https address can
/// reach a plain-HTTP Steward, and its `X-Forwarded-Proto` only counts when it is trusted).
pub fn public_url(url: Option<&str>, bind: &str, tls: bool, proxies: &TrustedProxies) -> Check {
    const NAME: &str = "public url";
    let (bind_host, bind_port) = match split_bind(bind) {
        Some(b) => b,
        None => {
            return Check::fail(
                NAME,
                format!("STEWARD_BIND {bind:?} is not host:port"),
                "set STEWARD_BIND (or --bind, or `bind` in the config file) like 127.0.0.1:8080",
            );
        }
    };
    let local_only = is_loopback_host(&bind_host);
    let Some(text) = url else {
        if tls {
            return Check::warn(
                NAME,
                "TLS is on but STEWARD_PUBLIC_URL is not set, so links in notifications use the bind address",
                "set STEWARD_PUBLIC_URL to the https:// address people type, like https://steward.example.org",
            );
        }
        if !local_only {
            return Check::warn(
                NAME,
                format!(
                    "Steward listens on {bind}, beyond this machine, over plain HTTP and STEWARD_PUBLIC_URL is not set: the password crosses the network unencrypted"
                ),
                "serve over TLS (STEWARD_TLS_CERT and STEWARD_TLS_KEY, or a TLS-terminating proxy listed in STEWARD_TRUSTED_PROXIES) and set STEWARD_PUBLIC_URL to its https:// address",
            );
        }
        return Check::ok(
            NAME,
            format!("not set: Steward is reached at http://{bind} from this machine only"),
        );
    };
    let parsed = match reqwest::Url::parse(text) {
        Ok(u) if u.host_str().is_some() => u,
        Ok(_) => {
            return Check::fail(
                NAME,
                format!("STEWARD_PUBLIC_URL {text:?} has no host"),
                "set STEWARD_PUBLIC_URL like https://steward.example.org",
            );
        }
        Err(e) => {
            return Check::fail(
                NAME,
                format!("STEWARD_PUBLIC_URL {text:?} is not a URL: {e}"),
                "set STEWARD_PUBLIC_URL like https://steward.example.org",
            );
        }
    };
    let host = parsed.host_str().unwrap_or_default().to_string();
    let port = parsed.port_or_known_default().unwrap_or(0);
    let https = parsed.scheme() == "https";
    if tls && !https {
        return Check::fail(
            NAME,
            format!(
                "TLS is on (STEWARD_TLS_CERT, STEWARD_TLS_KEY) but STEWARD_PUBLIC_URL {text} is http: links and the Origin check use the wrong scheme and cookies are not Secure"
            ),
            format!("change STEWARD_PUBLIC_URL to https://{host}{}", port_suffix(bind_port, 443)),
        );
    }
    if https && !tls && proxies.is_empty() {
        return Check::warn(
            NAME,
            format!(
                "STEWARD_PUBLIC_URL {text} is https but Steward serves plain HTTP and trusts no proxy: its Secure cookies only work behind a TLS-terminating proxy, and that proxy's forwarded headers are ignored"
            ),
            "list the TLS-terminating proxy's address in STEWARD_TRUSTED_PROXIES, or serve TLS itself with STEWARD_TLS_CERT and STEWARD_TLS_KEY",
        );
    }
    if !https && !is_loopback_host(&host) {
        return Check::warn(
            NAME,
            format!(
                "STEWARD_PUBLIC_URL {text} is plain HTTP to another machine: the password and session cookie cross the network unencrypted"
            ),
            "serve over TLS (STEWARD_TLS_CERT and STEWARD_TLS_KEY, or a TLS-terminating proxy) and make STEWARD_PUBLIC_URL https://",
        );
    }
    // Served directly (no proxy in between): the URL's port must be the one Steward listens on.
    if proxies.is_empty() && port != bind_port {
        return Check::warn(
            NAME,
            format!(
                "STEWARD_PUBLIC_URL {text} uses port {port} but Steward listens on {bind} and trusts no proxy that could forward"
            ),
            "make the port of STEWARD_PUBLIC_URL and STEWARD_BIND agree, or list the proxy in front in STEWARD_TRUSTED_PROXIES",
        );
    }
    if !https && !local_only {
        return Check::warn(
            NAME,
            format!("Steward listens on {bind}, beyond this machine, over plain HTTP"),
            "listen on 127.0.0.1 (STEWARD_BIND) behind a TLS-terminating proxy, or serve TLS with STEWARD_TLS_CERT and STEWARD_TLS_KEY",
        );
    }
    let how = if tls {
        "served with built-in TLS"
    } else if https {
        "behind a trusted TLS-terminating proxy"
    } else {
        "on this machine only"
    };
    Check::ok(NAME, format!("{text} ({how}) agrees with STEWARD_BIND {bind}"))
}

fn port_suffix(port: u16, default: u16) -> String {
    if port == default { String::new() } else { format!(":{port}") }
}

/// The certificate and key files: both or neither, readable, PEM, the key the certificate's,
/// and the certificate within its validity (a warning 14 days before it ends).
pub fn tls_files(cert: Option<&Path>, key: Option<&Path>, now: DateTime<Utc>) -> Vec<Check> {
    const NAME: &str = "tls";
    let both =
        "set both STEWARD_TLS_CERT and STEWARD_TLS_KEY (tls_cert and tls_key in the config file), or neither";
    let (cert, key) = match (cert, key) {
        (None, None) => {
            return vec![Check::ok(
                NAME,
                "no built-in TLS (STEWARD_TLS_CERT and STEWARD_TLS_KEY are not set)",
            )];
        }
        (Some(_), None) => {
            return vec![Check::fail(NAME, "STEWARD_TLS_CERT is set but STEWARD_TLS_KEY is not", both)];
        }
        (None, Some(_)) => {
            return vec![Check::fail(NAME, "STEWARD_TLS_KEY is set but STEWARD_TLS_CERT is not", both)];
        }
        (Some(c), Some(k)) => (c, k),
    };
    let read = |var: &str, path: &Path| {
        std::fs::read(path).map_err(|e| {
            Check::fail(
                NAME,
                format!("{var} {} cannot be read: {e}", path.display()),
                format!("point {var} at the PEM file, readable by the user Steward runs as"),
            )
        })
    };
    let cert_pem = match read("STEWARD_TLS_CERT", cert) {
        Ok(b) => b,
        Err(c) => return vec![c],
    };
    let key_pem = match read("STEWARD_TLS_KEY", key) {
        Ok(b) => b,
        Err(c) => return vec![c],
    };
    tls_pem(&cert_pem, &key_pem, cert, now)
}

/// [`tls_files`] on the files' contents.
fn tls_pem(cert_pem: &[u8], key_pem: &[u8], cert_path: &Path, now: DateTime<Utc>) -> Vec<Check> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    const NAME: &str = "tls";
    let chain: Result<Vec<CertificateDer<'static>>, _> = CertificateDer::pem_slice_iter(cert_pem).collect();
    let chain = match chain {
        Ok(chain) if !chain.is_empty() => chain,
        Ok(_) => {
            return vec![Check::fail(
                NAME,
                "STEWARD_TLS_CERT holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                "point STEWARD_TLS_CERT at the certificate chain (certbot's fullchain.pem)",
            )];
        }
        Err(e) => {
            return vec![Check::fail(
                NAME,
                format!("STEWARD_TLS_CERT is not valid PEM: {e}"),
                "point STEWARD_TLS_CERT at the certificate chain (certbot's fullchain.pem)",
            )];
        }
    };
    let key = match PrivateKeyDer::from_pem_slice(key_pem) {
        Ok(k) => k,
        Err(e) => {
            return vec![Check::fail(
                NAME,
                format!("STEWARD_TLS_KEY holds no PEM private key: {e}"),
                "point STEWARD_TLS_KEY at the private key (certbot's privkey.pem)",
            )];
        }
    };
    let leaf = chain[0].clone();
    let provider = rustls::crypto::ring::default_provider();
    let key = match provider.key_provider.load_private_key(key) {
        Ok(k) => k,
        Err(e) => {
            return vec![Check::fail(
                NAME,
                format!("STEWARD_TLS_KEY is not a usable private key: {e}"),
                "use an RSA, ECDSA (P-256, P-384) or Ed25519 key in PKCS#8, PKCS#1 or SEC1 PEM",
            )];
        }
    };
    let certified = rustls::sign::CertifiedKey::new(chain.clone(), key);
    let mut checks = match certified.keys_match() {
        Ok(()) => vec![Check::ok(
            NAME,
            format!(
                "the certificate chain ({} certificate(s)) and the key are PEM and belong together",
                chain.len()
            ),
        )],
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => vec![Check::warn(
            NAME,
            "the certificate and key are PEM, but whether the key belongs to the certificate cannot be told",
            "make sure STEWARD_TLS_KEY is the key STEWARD_TLS_CERT was issued for",
        )],
        Err(e) => vec![Check::fail(
            NAME,
            format!("STEWARD_TLS_KEY does not belong to the certificate in STEWARD_TLS_CERT ({e})"),
            "point STEWARD_TLS_KEY and STEWARD_TLS_CERT at the same certificate's files (certbot's privkey.pem and fullchain.pem)",
        )],
    };
    checks.push(expiry(&leaf, cert_path, now));
    checks
}

fn expiry(leaf: &[u8], cert_path: &Path, now: DateTime<Utc>) -> Check {
    use x509_cert::der::Decode;
    const NAME: &str = "tls expiry";
    let renew = format!(
        "renew the certificate (certbot renew) so that {} holds the new one; Steward reloads it",
        cert_path.display()
    );
    let cert = match x509_cert::Certificate::from_der(leaf) {
        Ok(c) => c,
        Err(e) => {
            return Check::fail(
                NAME,
                format!("the first certificate in STEWARD_TLS_CERT is not X.509: {e}"),
                "point STEWARD_TLS_CERT at the certificate chain, the server's certificate first",
            );
        }
    };
    let validity = &cert.tbs_certificate.validity;
    let at = |d: Duration| DateTime::<Utc>::from_timestamp(d.as_secs() as i64, 0).unwrap_or_default();
    let not_before = at(validity.not_before.to_unix_duration());
    let not_after = at(validity.not_after.to_unix_duration());
    let shown = not_after.format("%Y-%m-%d %H:%M UTC");
    if now < not_before {
        return Check::fail(
            NAME,
            format!("the certificate is not valid before {}", not_before.format("%Y-%m-%d %H:%M UTC")),
            "check the machine's clock, or use a certificate valid now",
        );
    }
    if now >= not_after {
        return Check::fail(NAME, format!("the certificate expired on {shown}"), renew);
    }
    let left = not_after - now;
    if left < EXPIRY_WARNING {
        return Check::warn(
            NAME,
            format!("the certificate expires in {} day(s), on {shown}", left.num_days()),
            renew,
        );
    }
    Check::ok(NAME, format!("the certificate is valid until {shown} ({} days)", left.num_days()))
}

/// The trusted proxies: none is fine; one that covers everyone lets anyone forge their address.
pub fn trusted_proxies(proxies: &TrustedProxies, bind: &str) -> Check {
    const NAME: &str = "trusted proxies";
    if proxies.is_empty() {
        return Check::ok(
            NAME,
            "none: forwarded headers (Forwarded, X-Forwarded-*) are ignored and a client is its connection's address",
        );
    }
    let list: Vec<String> = proxies.networks().iter().map(ToString::to_string).collect();
    let list = list.join(", ");
    let narrow =
        "list only your proxies' own addresses in STEWARD_TRUSTED_PROXIES, like 127.0.0.1 or 10.0.0.5";
    for net in proxies.networks() {
        let broad = match net {
            ipnet::IpNet::V4(n) => n.prefix_len() < 8,
            ipnet::IpNet::V6(n) => n.prefix_len() < 16,
        };
        if net.prefix_len() == 0 {
            return Check::warn(
                NAME,
                format!(
                    "{net} trusts every address: anyone can forge X-Forwarded-For to choose their address (and slip past login throttling)"
                ),
                narrow,
            );
        }
        if broad {
            return Check::warn(
                NAME,
                format!(
                    "{net} is so broad that it covers much of the internet: anyone in it can forge X-Forwarded-For"
                ),
                narrow,
            );
        }
    }
    let loopback_bind = split_bind(bind).is_some_and(|(h, _)| is_loopback_host(&h));
    let v4: IpAddr = IpAddr::from([127, 0, 0, 1]);
    let v6: IpAddr = IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]);
    if loopback_bind && !proxies.contains(v4) && !proxies.contains(v6) {
        return Check::warn(
            NAME,
            format!(
                "Steward listens only on {bind}, so a proxy reaches it from this machine, but STEWARD_TRUSTED_PROXIES ({list}) lists no loopback address: its forwarded headers are ignored"
            ),
            "add 127.0.0.1 (and ::1) to STEWARD_TRUSTED_PROXIES",
        );
    }
    Check::ok(NAME, format!("forwarded headers are believed only from {list}"))
}

// --- the machine ---

/// Free space on the file system that holds the database (SQLite needs room to grow, and a
/// backup or VACUUM as much again as the database).
pub fn disk(db: &Path) -> Check {
    let dir: PathBuf = match db.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
    };
    match rustix::fs::statvfs(&dir) {
        Ok(s) => disk_verdict(s.f_bavail.saturating_mul(s.f_frsize), &dir),
        Err(e) => Check::warn(
            "disk",
            format!("the free space in {} cannot be read: {e}", dir.display()),
            "check that the database's folder exists and is readable",
        ),
    }
}

fn disk_verdict(free: u64, dir: &Path) -> Check {
    let fix = format!(
        "free space on the file system of {} (old backups, logs), or move the database (STEWARD_DB) to a larger one",
        dir.display()
    );
    if free < DISK_FAIL_BYTES {
        return Check::fail(
            "disk",
            format!("only {} free next to the database: writes will soon fail", bytes(free)),
            fix,
        );
    }
    if free < DISK_WARN_BYTES {
        return Check::warn(
            "disk",
            format!("only {} free next to the database (under 1 GiB)", bytes(free)),
            fix,
        );
    }
    Check::ok("disk", format!("{} free next to the database", bytes(free)))
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

// --- the database's contents ---

fn password(conn: &mut SqliteConnection) -> Check {
    match crate::auth::password_is_set(conn) {
        Ok(true) => Check::ok("password", "a password is set"),
        Ok(false) => Check::warn(
            "password",
            "no password is set yet, so nobody can sign in",
            "open the one-time setup link `steward serve` prints when it starts, or run `steward passwd`",
        ),
        Err(e) => Check::fail("password", format!("the password cannot be read: {e}"), RESTORE_FIX),
    }
}

/// Asks every agent that has a connection (all at once, each within the timeout) with the same
/// check as `steward agent check`.
async fn agents_answer(conn: &mut SqliteConnection, config: &Config, options: &Options) -> Vec<Check> {
    let list = match agents::list(conn, config) {
        Ok(list) => list,
        Err(e) => return vec![Check::fail("agents", format!("the agents cannot be read: {e}"), RESTORE_FIX)],
    };
    // The built-in notify and system agents never leave the process.
    let list: Vec<Agent> =
        list.into_iter().filter(|a| !matches!(a.kind, AgentKind::Notify | AgentKind::System)).collect();
    if list.is_empty() {
        return vec![Check::ok(
            "agents",
            "no agents to reach yet (steward agent add, or STEWARD_LLM_BASE_URL and STEWARD_LLM_MODEL)",
        )];
    }
    let http = crate::services::http_client();
    let asks = list.iter().map(|a| {
        let http = http.clone();
        async move {
            let answer = tokio::time::timeout(options.timeout, agents::deliver::check(&http, a)).await;
            agent_verdict(
                a,
                answer.unwrap_or_else(|_| Err(format!("no answer within {} s", options.timeout.as_secs()))),
            )
        }
    });
    futures_util::future::join_all(asks).await
}

fn agent_verdict(agent: &Agent, answer: Result<String, String>) -> Check {
    let name = format!("agent {}", agent.name);
    match answer {
        Ok(m) => Check::ok(name, m),
        Err(m) => {
            let fix = match (agent.kind, agent.builtin) {
                (AgentKind::Llm, true) => {
                    "start the model server, or correct STEWARD_LLM_BASE_URL and STEWARD_LLM_MODEL"
                        .to_string()
                }
                (AgentKind::Command, _) => format!(
                    "install the program or give its full path: steward agent rm {0}, then steward agent add {0} --kind command -- PROGRAM ARGS",
                    agent.name
                ),
                _ => format!(
                    "start the server it points at, or correct its address: steward agent edit {} --url URL (then steward agent check {0})",
                    agent.name
                ),
            };
            Check::fail(name, format!("{} does not answer: {m}", agent.name), fix)
        }
    }
}

/// Each channel: its settings valid and its server reachable (a TCP connection, nothing sent),
/// or with `--send-test` a real test message (the Channels page's Test button).
async fn channels_answer(
    conn: &mut SqliteConnection,
    config: &Config,
    options: &Options,
    now: DateTime<Utc>,
) -> Vec<Check> {
    let mut list = match notify::list(conn) {
        Ok(list) => list,
        Err(e) => {
            return vec![Check::fail("channels", format!("the channels cannot be read: {e}"), RESTORE_FIX)];
        }
    };
    if list.is_empty() {
        return vec![Check::ok(
            "channels",
            "no notification channels (steward channel add, or the Channels page)",
        )];
    }
    if options.send_test {
        for ch in &mut list {
            if let Err(e) = notify::prepare(conn, ch, config.public_url.as_deref(), now) {
                tracing::warn!(channel = %ch.name, error = %e, "preparing a channel for its test");
            }
        }
    }
    let http = crate::services::http_client();
    let asks = list.iter().map(|ch| {
        let http = http.clone();
        async move { channel_verdict(&http, ch, config.public_url.as_deref(), options).await }
    });
    futures_util::future::join_all(asks).await
}

async fn channel_verdict(
    http: &reqwest::Client,
    ch: &Channel,
    public_url: Option<&str>,
    options: &Options,
) -> Check {
    let name = format!("channel {}", ch.name);
    let edit = format!(
        "correct the channel {} on the Channels page (or remove it: steward channel rm {0})",
        ch.name
    );
    let mut checked = ch.clone();
    if let Err(e) = notify::validate(&mut checked) {
        return Check::fail(name, format!("its settings are not valid: {e}"), edit);
    }
    let seconds = options.timeout.as_secs();
    if options.send_test {
        return match tokio::time::timeout(options.timeout, notify::test(http, ch, public_url)).await {
            Ok(Ok(m)) => Check::ok(name, m),
            Ok(Err(m)) => Check::fail(name, format!("the test message was not delivered: {m}"), edit),
            Err(_) => Check::fail(name, format!("the test message got no answer within {seconds} s"), edit),
        };
    }
    let (host, port) = match destination(&checked) {
        Ok(d) => d,
        Err(m) => return Check::fail(name, m, edit),
    };
    let what = format!("{} ({})", ch.name, ch.kind);
    match tokio::time::timeout(options.timeout, tokio::net::TcpStream::connect((host.as_str(), port))).await {
        Ok(Ok(_)) => Check::ok(
            name,
            format!(
                "{what}: {host}:{port} accepts connections (nothing sent; --send-test sends a test message)"
            ),
        ),
        Ok(Err(e)) => Check::fail(
            name,
            format!("{what}: {host}:{port} cannot be reached: {e}"),
            format!("check this machine's network and DNS, then {edit}"),
        ),
        Err(_) => Check::fail(
            name,
            format!("{what}: {host}:{port} does not accept a connection within {seconds} s"),
            format!("check this machine's network and firewall, then {edit}"),
        ),
    }
}

/// The server a channel sends to, by kind. Only the host is named: a Discord webhook's URL and
/// a Telegram bot's path are secrets.
fn destination(ch: &Channel) -> Result<(String, u16), String> {
    let s = &ch.settings;
    if ch.kind == "email" {
        let host = s.smtp_host.clone().unwrap_or_default();
        return Ok((host, s.smtp_port.unwrap_or(587)));
    }
    let url = match ch.kind.as_str() {
        "ntfy" | "webhook" => s.url.clone(),
        "telegram" => s.api_base.clone(),
        "discord" => ch.secret.clone(),
        "webpush" => s.endpoint.clone(),
        other => return Err(format!("{other:?} is not a channel kind this Steward knows")),
    }
    .unwrap_or_default();
    let parsed = reqwest::Url::parse(&url).map_err(|_| "its address is not a URL".to_string())?;
    match (parsed.host_str(), parsed.port_or_known_default()) {
        (Some(host), Some(port)) => {
            Ok((host.trim_start_matches('[').trim_end_matches(']').to_string(), port))
        }
        _ => Err("its address has no host".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(text: &str) -> TrustedProxies {
        text.parse().unwrap()
    }

    #[test]
    fn public_url_agrees_with_bind_tls_and_proxies() {
        use Status::*;
        // (public url, bind, tls, trusted proxies, status, words the message or fix must hold)
        type Row<'a> = (Option<&'a str>, &'a str, bool, &'a str, Status, &'a str);
        let table: &[Row] = &[
            (None, "127.0.0.1:8080", false, "", Ok, "this machine only"),
            (None, "0.0.0.0:8080", false, "", Warn, "STEWARD_PUBLIC_URL"),
            (None, "0.0.0.0:8443", true, "", Warn, "https://"),
            (Some("https://steward.example.org"), "127.0.0.1:8080", false, "", Warn, "TLS-terminating proxy"),
            (Some("https://steward.example.org"), "127.0.0.1:8080", false, "127.0.0.1", Ok, "trusted"),
            (Some("https://steward.example.org"), "0.0.0.0:443", true, "", Ok, "built-in TLS"),
            (Some("https://steward.example.org:8443"), "0.0.0.0:8443", true, "", Ok, "built-in TLS"),
            (Some("https://steward.example.org"), "0.0.0.0:8443", true, "", Warn, "port 443"),
            (
                Some("http://steward.example.org"),
                "0.0.0.0:8443",
                true,
                "",
                Fail,
                "https://steward.example.org:8443",
            ),
            (Some("http://steward.lan:8080"), "0.0.0.0:8080", false, "", Warn, "unencrypted"),
            (Some("http://127.0.0.1:8080"), "127.0.0.1:8080", false, "", Ok, "this machine only"),
            (Some("http://localhost:9000"), "127.0.0.1:8080", false, "", Warn, "port 9000"),
            (Some("http://localhost:9000"), "127.0.0.1:8080", false, "127.0.0.1", Ok, "this machine"),
            (Some("http://127.0.0.1:8080"), "0.0.0.0:8080", false, "", Warn, "beyond this machine"),
            (Some("steward.example.org"), "127.0.0.1:8080", false, "", Fail, "not a URL"),
            (None, "8080", false, "", Fail, "STEWARD_BIND"),
            (Some("https://[::1]:8080"), "[::1]:8080", true, "", Ok, "built-in TLS"),
        ];
        for (url, bind, tls, trusted, status, words) in table {
            let check = public_url(*url, bind, *tls, &proxies(trusted));
            let text = format!("{} {}", check.message, check.fix.clone().unwrap_or_default());
            assert_eq!(check.status, *status, "{url:?} {bind} tls={tls} [{trusted}]: {text}");
            assert!(text.contains(words), "{url:?} {bind}: {text:?} lacks {words:?}");
            assert_eq!(check.fix.is_some(), *status != Ok, "{text}");
        }
    }

    #[test]
    fn trusted_proxies_that_trust_everyone_are_a_warning() {
        use Status::*;
        let table: &[(&str, &str, Status, &str)] = &[
            ("", "127.0.0.1:8080", Ok, "ignored"),
            ("127.0.0.1, ::1", "127.0.0.1:8080", Ok, "127.0.0.1/32, ::1/128"),
            ("10.0.0.0/8", "0.0.0.0:8080", Ok, "10.0.0.0/8"),
            ("0.0.0.0/0", "0.0.0.0:8080", Warn, "every address"),
            ("::/0", "0.0.0.0:8080", Warn, "every address"),
            ("10.0.0.5, 0.0.0.0/1", "0.0.0.0:8080", Warn, "so broad"),
            ("2000::/3", "0.0.0.0:8080", Warn, "so broad"),
            ("10.0.0.5", "127.0.0.1:8080", Warn, "add 127.0.0.1"),
            ("::1", "127.0.0.1:8080", Ok, "::1"),
        ];
        for (list, bind, status, words) in table {
            let check = trusted_proxies(&proxies(list), bind);
            let text = format!("{} {}", check.message, check.fix.clone().unwrap_or_default());
            assert_eq!(check.status, *status, "{list:?}: {text}");
            assert!(text.contains(words), "{list:?}: {text:?} lacks {words:?}");
        }
    }

    fn certificate(not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> (String, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["steward.test".to_string()]).unwrap();
        params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        (params.self_signed(&key).unwrap().pem(), key)
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn statuses(checks: &[Check]) -> Vec<(&str, Status)> {
        checks.iter().map(|c| (c.name.as_str(), c.status)).collect()
    }

    #[test]
    fn tls_files_match_parse_and_expire() {
        let path = Path::new("/etc/steward/fullchain.pem");
        let (cert, key) = certificate((2026, 1, 1), (2027, 1, 1));
        let key_pem = key.serialize_pem();
        let now = at("2026-12-02T12:00:00Z");

        let ok = tls_pem(cert.as_bytes(), key_pem.as_bytes(), path, now);
        assert_eq!(statuses(&ok), [("tls", Status::Ok), ("tls expiry", Status::Ok)], "{ok:?}");
        assert!(ok[1].message.contains("2027-01-01"), "{ok:?}");

        // 13 days before the end: renew soon.
        let soon = tls_pem(cert.as_bytes(), key_pem.as_bytes(), path, at("2026-12-19T00:00:00Z"));
        assert_eq!(soon[1].status, Status::Warn, "{soon:?}");
        assert!(soon[1].fix.as_deref().unwrap().contains("/etc/steward/fullchain.pem"), "{soon:?}");
        let expired = tls_pem(cert.as_bytes(), key_pem.as_bytes(), path, at("2027-01-02T00:00:00Z"));
        assert_eq!(expired[1].status, Status::Fail, "{expired:?}");
        assert!(expired[1].message.contains("expired on 2027-01-01"), "{expired:?}");
        let early = tls_pem(cert.as_bytes(), key_pem.as_bytes(), path, at("2025-06-01T00:00:00Z"));
        assert_eq!(early[1].status, Status::Fail, "{early:?}");

        // Another certificate's key.
        let (_, other) = certificate((2026, 1, 1), (2027, 1, 1));
        let wrong = tls_pem(cert.as_bytes(), other.serialize_pem().as_bytes(), path, now);
        assert_eq!(wrong[0].status, Status::Fail, "{wrong:?}");
        assert!(wrong[0].message.contains("does not belong"), "{wrong:?}");

        // Not PEM, or the files swapped.
        let garbage = tls_pem(b"hello", key_pem.as_bytes(), path, now);
        assert_eq!(statuses(&garbage), [("tls", Status::Fail)]);
        assert!(garbage[0].message.contains("STEWARD_TLS_CERT"), "{garbage:?}");
        let swapped = tls_pem(key_pem.as_bytes(), cert.as_bytes(), path, now);
        assert_eq!(swapped[0].status, Status::Fail, "{swapped:?}");
    }

    #[test]
    fn tls_files_come_in_pairs_and_must_be_readable() {
        let now = at("2026-12-02T12:00:00Z");
        let none = tls_files(None, None, now);
        assert_eq!(statuses(&none), [("tls", Status::Ok)]);
        for (cert, key) in [(Some(Path::new("/c.pem")), None), (None, Some(Path::new("/k.pem")))] {
            let half = tls_files(cert, key, now);
            assert_eq!(half[0].status, Status::Fail);
            let text = format!("{} {}", half[0].message, half[0].fix.clone().unwrap());
            assert!(text.contains("STEWARD_TLS_CERT") && text.contains("STEWARD_TLS_KEY"), "{text}");
        }
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let unread = tls_files(Some(&missing), Some(&missing), now);
        assert_eq!(unread[0].status, Status::Fail);
        assert!(unread[0].message.contains("nope.pem"), "{unread:?}");
    }

    #[test]
    fn disk_space_thresholds() {
        let dir = Path::new("/var/lib/steward");
        assert_eq!(disk_verdict(5 << 30, dir).status, Status::Ok);
        let low = disk_verdict(512 << 20, dir);
        assert_eq!(low.status, Status::Warn);
        assert!(low.message.contains("512.0 MiB") && low.fix.unwrap().contains("STEWARD_DB"));
        assert_eq!(disk_verdict(10 << 20, dir).status, Status::Fail);
        // The real file system answers.
        let tmp = tempfile::tempdir().unwrap();
        let real = disk(&tmp.path().join("s.db"));
        assert!(real.message.contains("free"), "{real:?}");
    }

    #[test]
    fn a_fresh_database_is_sound_and_a_missing_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let (checks, conn) = database(&path, false);
        assert_eq!(statuses(&checks), [("database", Status::Fail)]);
        assert!(checks[0].fix.as_deref().unwrap().contains("STEWARD_DB") && conn.is_none());
        assert!(!path.exists(), "doctor must not create the database");

        drop(crate::db::Db::open(&path).unwrap());
        let (checks, conn) = database(&path, false);
        assert!(checks.iter().all(|c| c.status == Status::Ok), "{checks:?}");
        assert_eq!(
            checks.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["database", "integrity", "foreign keys", "journal mode", "migrations"]
        );
        assert!(conn.is_some());
    }

    #[test]
    fn pending_and_unknown_migrations_and_broken_references() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(crate::db::Db::open(&path).unwrap());
        let mut raw = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
        raw.batch_execute("INSERT INTO __diesel_schema_migrations (version) VALUES ('29991231000000')")
            .unwrap();
        let (checks, conn) = database(&path, false);
        let m = checks.iter().find(|c| c.name == "migrations").unwrap();
        assert_eq!(m.status, Status::Fail, "{m:?}");
        assert!(m.message.contains("newer Steward") && m.message.contains("29991231000000"), "{m:?}");
        assert!(conn.is_none());

        raw.batch_execute(
            "DELETE FROM __diesel_schema_migrations WHERE version = '29991231000000';
             DELETE FROM __diesel_schema_migrations WHERE version = (SELECT max(version) FROM __diesel_schema_migrations);",
        )
        .unwrap();
        let (checks, _) = database(&path, false);
        let m = checks.iter().find(|c| c.name == "migrations").unwrap();
        assert_eq!(m.status, Status::Warn, "{m:?}");
        assert!(m.message.contains("1 migration(s)"), "{m:?}");

        // A reference to a row that is gone (written with the checks off, as a bug could).
        let fresh = dir.path().join("f.db");
        drop(crate::db::Db::open(&fresh).unwrap());
        let mut raw = SqliteConnection::establish(&fresh.to_string_lossy()).unwrap();
        raw.batch_execute(
            "PRAGMA foreign_keys = OFF;
             INSERT INTO runs (schedule_id, idempotency_key, agent, prompt, priority, scheduled_for,
                               max_attempts, retry_base_secs, not_before, created_at)
             VALUES (4242, 'k', 'notify', 'p', 2, 0, 1, 1, 0, 0);",
        )
        .unwrap();
        let (checks, conn) = database(&fresh, false);
        let f = checks.iter().find(|c| c.name == "foreign keys").unwrap();
        assert_eq!(f.status, Status::Fail);
        assert!(f.message.contains("schedules"), "{f:?}");
        assert!(conn.is_none());
    }
}
