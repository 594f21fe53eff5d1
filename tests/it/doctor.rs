//! `steward doctor` run as the real binary against temporary databases: a healthy install
//! passes (and sends nothing to a channel), a damaged database file, a certificate without its
//! key and an agent on a closed port fail with exit code 1 and say what to fix.

use std::path::Path;
use std::process::Output;

use diesel::prelude::*;

use crate::fakes::receiver::{Behaviour, Receiver};
use crate::helpers::steward_cli;

/// `steward doctor`, off the async workers (the stand-in servers run on them).
async fn doctor(db: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let db = db.to_path_buf();
    let args: Vec<String> = ["doctor", "--timeout", "3"].iter().chain(args).map(|a| a.to_string()).collect();
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        steward_cli(&db, &args, &env, "")
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The line of the check named `name`.
fn line<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| l.get(6..).is_some_and(|rest| rest.starts_with(&format!("{name}:"))))
        .unwrap_or_else(|| panic!("no {name} line in:\n{out}"))
}

/// A database with a password set (and so its schema).
fn installed(dir: &Path) -> std::path::PathBuf {
    let db = dir.join("steward.db");
    let out = steward_cli(&db, &["passwd", "--password-stdin"], &[], "a long and fine passphrase\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    db
}

#[tokio::test]
async fn a_healthy_install_passes_and_reaches_channels_without_sending() {
    let dir = tempfile::tempdir().unwrap();
    let db = installed(dir.path());
    let server = Receiver::start(Behaviour::default()).await;
    let llm = format!("{}/v1", server.url);
    let hook = format!("{}/hook", server.url);
    let out = steward_cli(
        &db,
        &["agent", "add", "tiny", "--kind", "llm", "--url", &llm, "--model", "tiny"],
        &[("STEWARD_AGENT_API_KEY", "sk-test")],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = steward_cli(
        &db,
        &["channel", "add", "hook", "--kind", "webhook", "--url", &hook],
        &[("STEWARD_CHANNEL_SECRET", "hook-secret")],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = doctor(&db, &[], &[]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    for name in [
        "config",
        "database",
        "integrity",
        "foreign keys",
        "journal mode",
        "migrations",
        "server",
        "public url",
        "tls",
        "trusted proxies",
        "password",
        "agent tiny",
        "channel hook",
    ] {
        assert!(line(&stdout, name).starts_with("ok    "), "{name}:\n{stdout}");
    }
    assert!(!stdout.lines().any(|l| l.starts_with("fail")), "{stdout}");
    assert!(line(&stdout, "channel hook").contains("nothing sent"), "{stdout}");
    let posts = server.received().iter().filter(|r| r.path.starts_with("/hook")).count();
    assert_eq!(posts, 0, "without --send-test no message goes out");
    assert_eq!(server.received().iter().filter(|r| r.path == "/v1/models").count(), 1, "the agent was asked");

    // --send-test sends one test message; --json gives every check with its four fields.
    let out = doctor(&db, &["--send-test", "--json"], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks = report["checks"].as_array().unwrap();
    for c in checks {
        let keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 4, "{c}");
        for k in ["name", "status", "message", "fix"] {
            assert!(keys.contains(&k), "{c}");
        }
        assert!(["ok", "warn"].contains(&c["status"].as_str().unwrap()), "{c}");
    }
    let hook_check = checks.iter().find(|c| c["name"] == "channel hook").unwrap();
    assert!(hook_check["message"].as_str().unwrap().contains("Sent a test message"), "{hook_check}");
    let posts = server.received().iter().filter(|r| r.path.starts_with("/hook")).count();
    assert_eq!(posts, 1);
}

#[tokio::test]
async fn a_damaged_database_fails_the_integrity_check() {
    let dir = tempfile::tempdir().unwrap();
    let db = installed(dir.path());
    let copy = dir.path().join("copy.db");
    std::fs::copy(&db, &copy).unwrap();
    assert!(!dir.path().join("steward.db-wal").exists(), "the WAL was checkpointed at exit");
    // Garbage over the whole root page of the tasks table (a copy: the original stays sound).
    let (page, size) = {
        #[derive(QueryableByName)]
        struct Root {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            rootpage: i64,
        }
        #[derive(QueryableByName)]
        struct PageSize {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            page_size: i64,
        }
        let mut conn = SqliteConnection::establish(&copy.to_string_lossy()).unwrap();
        let root = diesel::sql_query("SELECT rootpage FROM sqlite_master WHERE name = 'tasks'")
            .get_result::<Root>(&mut conn)
            .unwrap();
        let size = diesel::sql_query("PRAGMA page_size").get_result::<PageSize>(&mut conn).unwrap();
        (root.rootpage as u64, size.page_size as u64)
    };
    let mut bytes = std::fs::read(&copy).unwrap();
    let start = ((page - 1) * size) as usize;
    bytes[start..start + size as usize].fill(0xAB);
    std::fs::write(&copy, bytes).unwrap();

    let out = doctor(&copy, &[], &[]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let integrity = line(&stdout, "integrity");
    // SQLite answers with the problems it found, or (as for a table's root page) with an error.
    assert!(integrity.starts_with("fail  integrity: PRAGMA integrity_check"), "{stdout}");
    assert!(integrity.contains("steward restore FILE"), "{integrity}");
    assert!(text(&out.stderr).contains("check(s) failed"), "{}", text(&out.stderr));
    // The quick check (for large files) finds the damaged page too.
    let out = doctor(&copy, &["--quick"], &[]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(line(&stdout, "integrity").starts_with("fail  integrity: PRAGMA quick_check"), "{stdout}");

    // The original is untouched and still passes, either way.
    let out = doctor(&db, &[], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = doctor(&db, &["--quick"], &[]).await;
    assert_eq!(line(&text(&out.stdout), "integrity"), "ok    integrity: PRAGMA quick_check: ok");
}

#[tokio::test]
async fn a_certificate_without_its_key_fails_naming_both_variables() {
    let dir = tempfile::tempdir().unwrap();
    let db = installed(dir.path());
    let cert = dir.path().join("fullchain.pem");
    std::fs::write(&cert, "not checked: the key is missing").unwrap();
    let out = doctor(&db, &[], &[("STEWARD_TLS_CERT", cert.to_str().unwrap())]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    // The configuration itself refuses half a pair, so the config check is the one that fails.
    let config = line(&stdout, "config");
    assert!(config.starts_with("fail  "), "{stdout}");
    assert!(config.contains("STEWARD_TLS_CERT") && config.contains("STEWARD_TLS_KEY"), "{config}");
}

#[tokio::test]
async fn an_agent_on_a_closed_port_fails_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let db = installed(dir.path());
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/v1");
    let out = steward_cli(
        &db,
        &["agent", "add", "sleepy", "--kind", "llm", "--url", &url, "--model", "m"],
        &[],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = doctor(&db, &[], &[]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let agent = line(&stdout, "agent sleepy");
    assert!(agent.starts_with("fail  agent sleepy: sleepy does not answer"), "{agent}");
    assert!(agent.contains("steward agent edit sleepy --url"), "{agent}");
}

#[tokio::test]
async fn a_configuration_that_does_not_load_is_the_one_failure() {
    let dir = tempfile::tempdir().unwrap();
    let db = installed(dir.path());
    let out = doctor(&db, &[], &[("STEWARD_TIMEZONE", "Mars/Olympus")]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let config = line(&stdout, "config");
    assert!(config.starts_with("fail  ") && config.contains("Mars/Olympus"), "{config}");
    assert!(config.contains("STEWARD_* environment variable"), "{config}");
}
