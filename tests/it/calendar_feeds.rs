//! Calendar subscription feeds (`/feeds/<token>.ics`, `steward feed`, the Settings sub-page)
//! and subscribed calendars (refreshed by the scheduler from a loopback feed).

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fakes::icsfeed::{IcsFeed, Mode};
use crate::helpers::{TestApp, logged_in_app};

fn steward(db: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_steward"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env("STEWARD_TIMEZONE", "Europe/Berlin")
        .env_remove("STEWARD_PUBLIC_URL")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Makes a feed through the service, as `steward feed create` does; returns its token.
fn make_feed(app: &TestApp, name: &str, tasks: bool, schedules: bool) -> String {
    let db = steward::db::Db::open(&app.db_path).unwrap();
    let mut conn = db.conn().unwrap();
    let options = steward::calendar::feeds::FeedOptions {
        include_tasks: tasks,
        include_schedules: schedules,
        schedule_days: Some(7),
    };
    steward::calendar::feeds::create(&mut conn, name, &options, chrono::Utc::now()).unwrap().0
}

#[test]
fn feed_commands_print_the_address_once_list_without_it_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("steward.db");
    let public = [("STEWARD_PUBLIC_URL", "https://home.example.org/")];

    let out = steward(&db, &["feed", "create", "--name", "Phone", "--tasks"], &public);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let url = text(&out.stdout).trim().to_string();
    assert!(url.starts_with("https://home.example.org/feeds/stf_") && url.ends_with(".ics"), "{url}");
    let token =
        url.trim_start_matches("https://home.example.org/feeds/").trim_end_matches(".ics").to_string();

    // Without a public URL, the bind address.
    let out =
        steward(&db, &["feed", "create", "--name", "Laptop", "--schedules", "--schedule-days", "3"], &[]);
    assert!(
        text(&out.stdout).trim().starts_with("http://127.0.0.1:8080/feeds/stf_"),
        "{}",
        text(&out.stdout)
    );

    // The same name twice: refused, naming the field.
    let out = steward(&db, &["feed", "create", "--name", "Phone"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("name") && text(&out.stderr).contains("Phone"),
        "{}",
        text(&out.stderr)
    );
    let out = steward(&db, &["feed", "create", "--name", "Far", "--schedule-days", "999"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("schedule_days"), "{}", text(&out.stderr));

    // Lists show a hint, never the token.
    let out = steward(&db, &["feed", "list"], &[]);
    let listed = text(&out.stdout);
    assert!(listed.contains("Phone") && listed.contains("Laptop") && listed.contains("stf_"), "{listed}");
    assert!(!listed.contains(&token), "{listed}");
    assert!(listed.contains("schedules (3 days)") && listed.contains("tasks"), "{listed}");
    let out = steward(&db, &["--json", "feed", "list"], &[]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let feeds = json["feeds"].as_array().unwrap();
    assert_eq!(feeds.len(), 2);
    assert!(!text(&out.stdout).contains(&token));
    assert!(feeds.iter().all(|f| f.get("token_hash").is_none()));

    let out = steward(&db, &["--json", "feed", "create", "--name", "Tablet"], &public);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["url"].as_str().unwrap().starts_with("https://home.example.org/feeds/stf_"));
    assert_eq!(json["feed"]["name"], "Tablet");

    let out = steward(&db, &["feed", "revoke", "Phone"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Revoked Phone"));
    let out = steward(&db, &["feed", "revoke", "Phone"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("no feed named \"Phone\""), "{}", text(&out.stderr));
    let out = steward(&db, &["--json", "feed", "list"], &[]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["feeds"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_feed_is_outside_the_login_and_a_wrong_or_revoked_token_gets_a_bare_404() {
    let app = logged_in_app().await;
    let token = make_feed(&app, "Phone", false, false);
    let anonymous = crate::helpers::client();

    let res = anonymous.get(app.url(&format!("/feeds/{token}.ics"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/calendar; charset=utf-8");
    let body = res.text().await.unwrap();
    assert!(body.starts_with("BEGIN:VCALENDAR\r\n"), "{body}");

    for wrong in [
        format!("/feeds/{}x.ics", token),
        "/feeds/stf_nothing.ics".into(),
        "/feeds/.ics".into(),
        format!("/feeds/{}.ics", &token[..token.len() - 1]),
    ] {
        let res = anonymous.get(app.url(&wrong)).send().await.unwrap();
        assert_eq!(res.status(), 404, "{wrong}");
        assert!(res.text().await.unwrap().is_empty(), "{wrong}: a 404 says nothing");
    }

    let db = steward::db::Db::open(&app.db_path).unwrap();
    steward::calendar::feeds::revoke(&mut db.conn().unwrap(), "Phone").unwrap();
    let res = anonymous.get(app.url(&format!("/feeds/{token}.ics"))).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_settings_page_makes_shows_once_and_revokes_feeds() {
    let app = logged_in_app().await;
    let page = app.get("/settings").await.text().await.unwrap();
    assert!(page.contains("href=\"/settings/calendars\""), "Settings links to the sub-page");

    let res = app
        .post_form(
            "/settings/calendars/feeds",
            &[("name", "Phone"), ("tasks", "on"), ("schedule_days", "10")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/settings/calendars#feeds");
    let page = app.get("/settings/calendars").await.text().await.unwrap();
    let start = page.find("id=\"new-feed-url\"").expect("the new address is shown");
    let shown = &page[..start];
    let url = shown.rsplit("value=\"").next().unwrap().split('"').next().unwrap().to_string();
    assert!(url.contains("/feeds/stf_"), "{url}");
    // Shown once: the next view has only the hint.
    let again = app.get("/settings/calendars").await.text().await.unwrap();
    assert!(!again.contains(&url) && again.contains("Phone") && again.contains("due tasks"));

    // The address works (the feed is public at its own address).
    let token = url.rsplit('/').next().unwrap();
    let res = crate::helpers::client().get(app.url(&format!("/feeds/{token}"))).send().await.unwrap();
    assert_eq!(res.status(), 200);

    // htmx: the page in place, with the error next to the form.
    let res = app.post_htmx("/settings/calendars/feeds", &[("name", "Phone")]).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("a feed named &#34;Phone&#34; exists already") || html.contains("exists already"),
        "{html}"
    );

    let id = {
        let db = steward::db::Db::open(&app.db_path).unwrap();
        steward::calendar::feeds::list(&mut db.conn().unwrap()).unwrap()[0].id
    };
    let res = app.post_form(&format!("/settings/calendars/feeds/{id}/revoke"), &[]).await;
    assert_eq!(res.status(), 303);
    let page = app.get("/settings/calendars").await.text().await.unwrap();
    assert!(page.contains("revoked") && page.contains("No feeds yet"), "{page}");
    let res = crate::helpers::client().get(app.url(&format!("/feeds/{token}"))).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

/// The real binary's log at the most verbose level: the feed's token is not in it.
#[tokio::test]
async fn a_feed_token_never_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("steward.db");
    let out = steward(&db, &["feed", "create", "--name", "Phone"], &[]);
    let url = text(&out.stdout).trim().to_string();
    let token = url.rsplit('/').next().unwrap().trim_end_matches(".ics").to_string();
    let log = dir.path().join("stderr.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_steward"))
        .arg("--db")
        .arg(&db)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("STEWARD_TIMEZONE", "Europe/Berlin")
        .env("STEWARD_LOG", "trace")
        .env_remove("STEWARD_LOG_FORMAT")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut address = String::new();
    let started = Instant::now();
    while address.is_empty() && started.elapsed() < Duration::from_secs(30) {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(a) = line.trim().strip_prefix("Steward is serving on ") {
            address = a.to_string();
        }
    }
    assert!(!address.is_empty(), "{}", std::fs::read_to_string(&log).unwrap());
    let http = reqwest::Client::new();
    let ok = http.get(format!("{address}/feeds/{token}.ics")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let wrong = http.get(format!("{address}/feeds/{token}zz.ics")).send().await.unwrap();
    assert_eq!(wrong.status(), 404);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = child.kill();
    let _ = child.wait();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("/feeds/…"), "the request lines are there: {logged}");
    assert!(!logged.contains(&token), "the token is in the log:\n{logged}");
    assert!(!logged.contains(&token[4..16]), "part of the token is in the log");
}

#[allow(dead_code)]
fn unused(_: Value, _: IcsFeed, _: Mode) -> Value {
    json!(null)
}
