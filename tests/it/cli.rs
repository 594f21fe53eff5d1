//! The `steward` binary: commands, JSON output and exit codes.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::helpers::*;

fn steward(db: &Path, args: &[&str]) -> Output {
    steward_with_stdin(db, args, "")
}

fn steward_with_stdin(db: &Path, args: &[&str], stdin: &str) -> Output {
    crate::helpers::steward_cli(db, args, &[], stdin)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn task_commands_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let out = steward(&db, &["task", "add", "--json", "Call", "mom", "tomorrow", "5pm", "+family", "p1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let task: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(task["title"], "Call mom");
    assert_eq!(task["priority"], "A");
    let id = task["id"].as_i64().unwrap().to_string();

    let out = steward(&db, &["task", "add", "Water plants every 3 days"]);
    assert!(stdout(&out).contains("Water plants") && stdout(&out).contains("rec:+3d"), "{}", stdout(&out));

    let out = steward(&db, &["task", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(list["tasks"].as_array().unwrap().len(), 2);

    let out = steward(&db, &["task", "done", &id]);
    assert!(out.status.success());
    assert!(stdout(&out).starts_with("Done "));
    let out = steward(&db, &["task", "list"]);
    assert_eq!(stdout(&out).lines().count(), 1, "only the open one: {}", stdout(&out));
    let out = steward(&db, &["task", "list", "--all"]);
    assert_eq!(stdout(&out).lines().count(), 2);
    assert!(stdout(&out).contains("x 20"));

    let out = steward(&db, &["task", "rm", &id]);
    assert!(out.status.success());
    let out = steward(&db, &["task", "rm", &id]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(&format!("no task with id {id}")));
}

#[test]
fn bad_input_exits_2_with_a_one_line_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    for args in [
        vec!["task", "add", "Pay due:2027-02-30"],
        vec!["task", "add", "   "],
        vec!["task", "done", "12345"],
        vec!["import", "todotxt", "/no/such/file.txt"],
        vec!["token", "revoke", "nobody"],
    ] {
        let out = steward(&db, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("steward: "), "{err}");
    }
    // A file that is not UTF-8 text is refused before anything is imported.
    let latin1 = dir.path().join("latin1.txt");
    std::fs::write(&latin1, b"Caf\xe9 bezahlen\n").unwrap();
    let out = steward(&db, &["import", "todotxt", latin1.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("file: is not UTF-8 text"), "{}", stderr(&out));
    // clap's own usage errors are exit 2 as well.
    assert_eq!(steward(&db, &["task", "frobnicate"]).status.code(), Some(2));
    let out = Command::new(env!("CARGO_BIN_EXE_steward"))
        .args(["--db", db.to_str().unwrap(), "task", "list"])
        .env("STEWARD_TIMEZONE", "Not/AZone")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("timezone"));
}

#[test]
fn passwd_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let out = steward_with_stdin(&db, &["passwd", "--password-stdin"], "password\n");
    assert_eq!(out.status.code(), Some(2), "a common password is refused");
    let out = steward_with_stdin(&db, &["passwd", "--password-stdin"], "a long and fine passphrase\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = steward(&db, &["passwd"]);
    assert_eq!(out.status.code(), Some(2), "no terminal and no --password-stdin");

    let out = steward(&db, &["token", "create", "--name", "backup-script"]);
    assert!(out.status.success());
    let token = stdout(&out);
    assert_eq!(token.lines().count(), 1, "only the token is printed");
    assert!(token.starts_with("stw_") && token.trim().len() > 30);
    let out = steward(&db, &["token", "create", "--name", "backup-script"]);
    assert_eq!(out.status.code(), Some(2));
    let out = steward(&db, &["token", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(list[0]["name"], "backup-script");
    assert!(!stdout(&out).contains(token.trim()), "the secret is never listed");
    assert!(steward(&db, &["token", "revoke", "backup-script"]).status.success());
    assert_eq!(steward(&db, &["token", "list", "--json"]).stdout, b"[]\n");
}

#[tokio::test]
async fn backup_of_the_live_database_while_the_server_runs() {
    let app = logged_in_app().await;
    let api = app.api(&app.api_token().await);
    for i in 0..50 {
        api.post("/tasks", serde_json::json!({"text": format!("Task {i}")})).await;
    }
    let dest = app.dir.path().join("backup.db");
    let db_path = app.db_path.clone();
    let dest2 = dest.clone();
    let out = tokio::task::spawn_blocking(move || steward(&db_path, &["backup", dest2.to_str().unwrap()]))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = tokio::task::spawn_blocking(move || steward(&dest, &["task", "list", "--json"])).await.unwrap();
    let list: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(list["tasks"].as_array().unwrap().len(), 50);
    // Refuses to overwrite.
    let db_path = app.db_path.clone();
    let dest = app.dir.path().join("backup.db");
    let out = tokio::task::spawn_blocking(move || steward(&db_path, &["backup", dest.to_str().unwrap()]))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn serve_prints_the_setup_link_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_steward"))
        .args(["--db", db.to_str().unwrap(), "serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut text = String::new();
    while !text.contains("/setup?token=") {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut stdout, &mut line).unwrap() == 0 {
            break;
        }
        text.push_str(&line);
    }
    assert!(text.contains("Steward is serving on http://127.0.0.1:"), "{text}");
    assert!(text.contains("/setup?token="), "{text}");
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful exit on SIGTERM: {status:?}");
}

#[test]
fn schedule_commands_preview_add_list_and_run_due() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    // Preview prints one UTC instant per line, strictly after --from; DST gap handled.
    let out = steward(
        &db,
        &[
            "schedule",
            "preview",
            "--cron",
            "30 2 * * *",
            "--tz",
            "Europe/Berlin",
            "--from",
            "2027-03-27T12:00:00Z",
            "--count",
            "2",
        ],
    );
    assert_eq!(stdout(&out), "2027-03-28T01:00:00Z\n2027-03-29T00:30:00Z\n", "{}", stderr(&out));
    let out = steward(
        &db,
        &["schedule", "preview", "--every", "90m", "--from", "2026-11-20T10:00:00Z", "--count", "2"],
    );
    assert_eq!(stdout(&out), "2026-11-20T11:30:00Z\n2026-11-20T13:00:00Z\n");

    // Bad input: exit 2 and a message naming the field.
    for (args, field) in [
        (vec!["schedule", "add", "--prompt", "p", "--cron", "0 25 * * *", "--agent", "notify"], "cron:"),
        (
            vec![
                "schedule",
                "add",
                "--prompt",
                "p",
                "--every",
                "5m",
                "--tz",
                "Nowhere/City",
                "--agent",
                "notify",
            ],
            "tz:",
        ),
        (
            vec!["schedule", "add", "--prompt", "p", "--at", "2001-01-01T00:00:00Z", "--agent", "notify"],
            "at:",
        ),
        (vec!["schedule", "add", "--prompt", "p", "--every", "5m"], "agent:"),
    ] {
        let out = steward(&db, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(field), "{args:?}: {}", stderr(&out));
    }
    // Two timings at once is a usage error.
    let out = steward(&db, &["schedule", "add", "--prompt", "p", "--every", "5m", "--cron", "@daily"]);
    assert_eq!(out.status.code(), Some(2));

    let out = steward(
        &db,
        &["--json", "schedule", "add", "--prompt", "Stretch", "--at", "in 1s", "--agent", "notify"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = s["id"].as_i64().unwrap().to_string();
    let long = "a very long prompt ".repeat(10);
    steward(&db, &["schedule", "add", "--prompt", &long, "--cron", "0 9 * * 1-5", "--agent", "notify"]);
    let list = stdout(&steward(&db, &["schedule", "list"]));
    assert!(list.contains("Every weekday at 09:00, Europe/Berlin") && list.contains('…'), "{list}");
    let json: serde_json::Value =
        serde_json::from_slice(&steward(&db, &["--json", "schedule", "list"]).stdout).unwrap();
    assert_eq!(json["schedules"][0]["prompt"], long.trim(), "whole prompts in JSON");

    std::thread::sleep(std::time::Duration::from_millis(1200));
    let out = steward(&db, &["schedule", "run-due"]);
    assert!(stdout(&out).contains("Delivered 1 run(s): 1 succeeded"), "{}{}", stdout(&out), stderr(&out));
    let runs: serde_json::Value =
        serde_json::from_slice(&steward(&db, &["--json", "runs", "--schedule", &id]).stdout).unwrap();
    assert_eq!(runs["runs"][0]["state"], "succeeded");
    assert_eq!(runs["runs"][0]["output"], "Stretch");
    // Nothing is due any more: run-due is idempotent.
    assert!(stdout(&steward(&db, &["schedule", "run-due"])).contains("Delivered 0 run(s)"));

    assert!(steward(&db, &["schedule", "pause", &id]).status.success());
    assert_eq!(steward(&db, &["schedule", "show", "999"]).status.code(), Some(2));
    assert!(steward(&db, &["schedule", "cancel", &id]).status.success());
    assert_eq!(steward(&db, &["runs", "--state", "bogus"]).status.code(), Some(2));
}
