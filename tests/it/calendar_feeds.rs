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
    crate::helpers::steward_cli(db, args, env, "")
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
    assert!(text(&out.stderr).contains("STEWARD_PUBLIC_URL is not set"), "{}", text(&out.stderr));

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
    // Some calendar apps ask with HEAD first.
    let res = anonymous.head(app.url(&format!("/feeds/{token}.ics"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = anonymous.head(app.url("/feeds/stf_nothing.ics")).send().await.unwrap();
    assert_eq!(res.status(), 404);

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

/// Waits until the subscription's refresh schedule has `n` finished runs; returns them, newest
/// first.
async fn finished_runs(api: &crate::helpers::Api, schedule: i64, n: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let (_, body) = api.get(&format!("/runs?schedule={schedule}&limit=50")).await;
        let runs: Vec<Value> = body["runs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| ["succeeded", "failed", "retrying"].contains(&r["state"].as_str().unwrap()))
            .cloned()
            .collect();
        if runs.len() >= n {
            return runs;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "waiting for {n} runs: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The titles and UTC starts of the calendar's occurrences in 2030.
fn held(app: &TestApp, calendar: &str) -> Vec<(String, String)> {
    let db = steward::db::Db::open(&app.db_path).unwrap();
    let mut conn = db.conn().unwrap();
    let cal = steward::calendar::service::find_calendar(&mut conn, calendar).unwrap();
    let ctx = steward::services::Ctx {
        now: chrono::Utc::now(),
        tz: "Europe/Berlin".parse().unwrap(),
        actor: steward::services::Actor::Person,
    };
    let from = chrono::DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z").unwrap().to_utc();
    let to = chrono::DateTime::parse_from_rfc3339("2031-01-01T00:00:00Z").unwrap().to_utc();
    let (list, _) =
        steward::calendar::service::occurrences(&mut conn, &ctx, from, to, Some(&[cal.id])).unwrap();
    list.iter().map(|o| (o.title.clone(), o.start_at.format("%m-%dT%H:%MZ").to_string())).collect()
}

fn feed_v1() -> String {
    [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Example//Feed//EN",
        "BEGIN:VEVENT",
        "UID:standup@example.org",
        "DTSTAMP:20300101T000000Z",
        "DTSTART;TZID=Europe/Berlin:20300107T093000",
        "DTEND;TZID=Europe/Berlin:20300107T094500",
        "RRULE:FREQ=WEEKLY;COUNT=3",
        "SUMMARY:Standup",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "UID:party@example.org",
        "DTSTAMP:20300101T000000Z",
        "DTSTART:20300110T180000Z",
        "DTEND:20300110T230000Z",
        "SUMMARY:Party",
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]
    .join("\r\n")
}

#[tokio::test]
async fn a_subscribed_calendar_follows_its_feed_and_keeps_its_last_good_copy() {
    let feed =
        IcsFeed::start(Mode::Serve { body: feed_v1(), etag: Some("\"v1\"".into()), last_modified: None })
            .await;
    let app = logged_in_app().await;
    let api = app.api(&app.api_token().await);

    let res = app
        .post_form(
            "/settings/calendars/subscriptions",
            &[("name", "Team"), ("url", &feed.url), ("refresh_minutes", "30")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let schedule = {
        let (_, list) = api.get("/schedules").await;
        let s =
            list["schedules"].as_array().unwrap().iter().find(|s| s["agent"] == "system").unwrap().clone();
        assert_eq!(s["name"], "Refresh calendar “Team”");
        assert!(!s.to_string().contains("/secret/"), "the address is not in the schedule: {s}");
        s["id"].as_i64().unwrap()
    };
    // Steward's own work is not a coming prompt (the API, the calendar's overlay, the chat).
    let (_, upcoming) = api.get("/schedules/upcoming").await;
    assert!(!upcoming.to_string().contains("Refresh calendar"), "{upcoming}");
    // The first copy comes at once, as a run of the system agent.
    let runs = finished_runs(&api, schedule, 1).await;
    assert_eq!(runs[0]["state"], "succeeded", "{runs:?}");
    assert_eq!(runs[0]["agent"], "system");
    assert!(runs[0]["output"].as_str().unwrap().contains("Team: 2 new"), "{runs:?}");
    assert_eq!(
        held(&app, "Team"),
        [
            ("Standup".into(), "01-07T08:30Z".into()),
            ("Party".into(), "01-10T18:00Z".into()),
            ("Standup".into(), "01-14T08:30Z".into()),
            ("Standup".into(), "01-21T08:30Z".into())
        ]
    );
    // The page shows the host only, when it was refreshed and that nothing is wrong.
    let page = app.get("/settings/calendars").await.text().await.unwrap();
    assert!(
        page.contains("Team")
            && page.contains(&format!("{}/…", feed.url.trim_end_matches("/secret/basic.ics"))),
        "{page}"
    );
    assert!(!page.contains("/secret/basic.ics"), "the address is a secret: {page}");
    // Read-only here.
    {
        let db = steward::db::Db::open(&app.db_path).unwrap();
        let ctx = steward::services::Ctx {
            now: chrono::Utc::now(),
            tz: "Europe/Berlin".parse().unwrap(),
            actor: steward::services::Actor::Person,
        };
        let input = steward::calendar::service::EventInput {
            title: Some("Mine".into()),
            start: Some("2030-01-08T10:00".into()),
            calendar: Some("Team".into()),
            ..Default::default()
        };
        let refused = steward::calendar::service::create(&mut db.conn().unwrap(), &ctx, &input).unwrap_err();
        assert!(refused.client_message().contains("read-only"), "{}", refused.client_message());
    }
    let cal_id = {
        let db = steward::db::Db::open(&app.db_path).unwrap();
        steward::calendar::service::find_calendar(&mut db.conn().unwrap(), "Team").unwrap().id
    };
    let refresh = format!("/settings/calendars/subscriptions/{cal_id}/refresh");

    // Unchanged: a conditional GET, answered 304.
    assert_eq!(app.post_form(&refresh, &[]).await.status(), 303);
    let runs = finished_runs(&api, schedule, 2).await;
    assert!(runs[0]["output"].as_str().unwrap().contains("not modified"), "{runs:?}");
    let seen = feed.seen();
    assert_eq!((seen[1].if_none_match.as_deref(), seen[1].status), (Some("\"v1\""), 304));
    assert_eq!(held(&app, "Team").len(), 4);

    // Changed: the standup moves and is renamed, the party is gone.
    let v2 = feed_v1()
        .replace("SUMMARY:Standup", "SUMMARY:Daily standup")
        .replace("T093000", "T100000")
        .replace("T094500", "T101500");
    let v2 = {
        let start = v2.find("BEGIN:VEVENT\r\nUID:party").unwrap();
        let end = v2[start..].find("END:VEVENT\r\n").unwrap() + start + "END:VEVENT\r\n".len();
        format!("{}{}", &v2[..start], &v2[end..])
    };
    feed.set(Mode::Serve { body: v2, etag: Some("\"v2\"".into()), last_modified: None });
    app.post_form(&refresh, &[]).await;
    let runs = finished_runs(&api, schedule, 3).await;
    assert!(runs[0]["output"].as_str().unwrap().contains("1 removed"), "{runs:?}");
    assert_eq!(
        held(&app, "Team"),
        [
            ("Daily standup".into(), "01-07T09:00Z".into()),
            ("Daily standup".into(), "01-14T09:00Z".into()),
            ("Daily standup".into(), "01-21T09:00Z".into())
        ]
    );
    let good = held(&app, "Team");

    // A failing feed: the error is shown, the last good copy stays.
    feed.set(Mode::Status(500));
    app.post_form(&refresh, &[]).await;
    let runs = finished_runs(&api, schedule, 4).await;
    assert!(runs[0]["error"].as_str().unwrap_or_default().contains("HTTP 500"), "{runs:?}");
    assert_eq!(held(&app, "Team"), good);
    let page = app.get("/settings/calendars").await.text().await.unwrap();
    assert!(page.contains("the feed answered HTTP 500"), "{page}");

    // Garbage: not a calendar; the copy stays too.
    feed.set(Mode::Serve {
        body: "<html><body>Sign in</body></html>".into(),
        etag: Some("\"v3\"".into()),
        last_modified: None,
    });
    // (the 500's retry may be queued still: the next run is this one or that one)
    app.post_form(&refresh, &[]).await;
    let started = Instant::now();
    loop {
        let page = app.get("/settings/calendars").await.text().await.unwrap();
        if page.contains("not a calendar") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(held(&app, "Team"), good);
    // The feed's address never reached a run's output or error.
    let (_, all) = api.get(&format!("/runs?schedule={schedule}&limit=50")).await;
    assert!(!all.to_string().contains("/secret/"), "{all}");

    // Unsubscribing removes the calendar, its events and its schedule.
    let res = app.post_form(&format!("/settings/calendars/subscriptions/{cal_id}/remove"), &[]).await;
    assert_eq!(res.status(), 303);
    let (status, _) = api.get(&format!("/schedules/{schedule}")).await;
    assert_eq!(status, 404);
    let page = app.get("/settings/calendars").await.text().await.unwrap();
    assert!(
        page.contains("Unsubscribed from “Team”") && page.contains("No subscribed calendars yet"),
        "{page}"
    );
}

#[tokio::test]
async fn subscribing_refuses_what_is_not_a_feed_address_without_echoing_it() {
    let app = logged_in_app().await;
    for (url, says) in [
        ("ftp://example.org/cal.ics", "starting ftp: is not a calendar feed"),
        ("not an address", "is not a web address"),
    ] {
        let res = app.post_htmx("/settings/calendars/subscriptions", &[("name", "X"), ("url", url)]).await;
        assert_eq!(res.status(), 422);
        let html = res.text().await.unwrap();
        assert!(html.contains(says), "{url}: {html}");
    }
    let res = app
        .post_htmx(
            "/settings/calendars/subscriptions",
            &[("name", "X"), ("url", "https://h.example/secret-path-123.ics"), ("refresh_minutes", "1")],
        )
        .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("refresh_minutes") || html.contains("1 minutes is not between 5 and 10080"),
        "{html}"
    );
    assert!(!html.contains("secret-path-123"), "a refused address is not shown back");
}

/// The feed's content: events with stable UIDs and SEQUENCE, VTIMEZONE, refresh hints, and by
/// the feed's options due tasks and scheduled-prompt firings.
#[tokio::test]
async fn a_feed_carries_events_due_tasks_and_coming_prompts() {
    let app = logged_in_app().await;
    let api = app.api(&app.api_token().await);
    let (status, _) = api.post("/tasks", json!({"title": "File taxes", "due": "2099-04-30"})).await;
    assert_eq!(status, 201);
    let (status, s) = api
        .post(
            "/schedules",
            json!({"name": "Morning digest", "prompt": "Summarise", "cron": "0 7 * * *", "agent": "notify"}),
        )
        .await;
    assert_eq!(status, 201, "{s}");
    let event = {
        let db = steward::db::Db::open(&app.db_path).unwrap();
        let ctx = steward::services::Ctx {
            now: chrono::Utc::now(),
            tz: "Europe/Berlin".parse().unwrap(),
            actor: steward::services::Actor::Person,
        };
        let input = steward::calendar::service::EventInput {
            title: Some("Choir, then dinner".into()),
            start: Some("2030-01-07T19:00".into()),
            end: Some("2030-01-07T21:00".into()),
            zone: Some(Some("America/New_York".into())),
            rrule: Some(Some("FREQ=WEEKLY;COUNT=10".into())),
            ..Default::default()
        };
        steward::calendar::service::create(&mut db.conn().unwrap(), &ctx, &input).unwrap()
    };
    let everything = make_feed(&app, "All", true, true);
    let plain = make_feed(&app, "Plain", false, false);
    let anonymous = crate::helpers::client();
    let get = |token: String| {
        let (anonymous, url) = (anonymous.clone(), app.url(&format!("/feeds/{token}.ics")));
        async move { anonymous.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let body = get(everything.clone()).await;
    let unfolded = body.replace("\r\n ", "");
    assert!(
        unfolded.contains("REFRESH-INTERVAL;VALUE=DURATION:PT30M")
            && unfolded.contains("X-PUBLISHED-TTL:PT30M"),
        "{body}"
    );
    assert!(unfolded.contains("BEGIN:VTIMEZONE\r\nTZID:America/New_York"), "{body}");
    assert!(unfolded.contains(&format!("UID:{}", event.uid)), "{body}");
    assert!(unfolded.contains("DTSTART;TZID=America/New_York:20300107T190000"), "{body}");
    assert!(unfolded.contains("SUMMARY:Choir\\, then dinner"), "{body}");
    assert!(
        unfolded.contains("SUMMARY:Due: File taxes") && unfolded.contains("DTSTART;VALUE=DATE:20990430"),
        "{body}"
    );
    let firings = unfolded.matches("SUMMARY:Prompt: Morning digest").count();
    assert!((6..=8).contains(&firings), "7 days of a daily prompt: {firings}\n{body}");
    assert!(body.lines().all(|l| l.len() <= 75), "folded at 75 octets");
    // Stable: the same feed twice gives the same UIDs.
    let again = get(everything).await.replace("\r\n ", "");
    let uids =
        |text: &str| text.lines().filter(|l| l.starts_with("UID:")).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(uids(&unfolded), uids(&again));
    // An edit raises SEQUENCE.
    let seq = |text: &str| {
        text.split(&format!("UID:{}", event.uid))
            .nth(1)
            .unwrap()
            .lines()
            .find(|l| l.starts_with("SEQUENCE:"))
            .unwrap()
            .to_string()
    };
    let before = seq(&unfolded);
    {
        let db = steward::db::Db::open(&app.db_path).unwrap();
        let ctx = steward::services::Ctx {
            now: chrono::Utc::now(),
            tz: "Europe/Berlin".parse().unwrap(),
            actor: steward::services::Actor::Person,
        };
        let input =
            steward::calendar::service::EventInput { title: Some("Choir".into()), ..Default::default() };
        steward::calendar::service::update(
            &mut db.conn().unwrap(),
            &ctx,
            event.id,
            &input,
            steward::calendar::service::Target::ALL,
        )
        .unwrap();
    }
    let plain_body = get(plain).await.replace("\r\n ", "");
    assert_ne!(seq(&plain_body), before, "SEQUENCE went up");
    assert!(!plain_body.contains("Due: File taxes") && !plain_body.contains("Prompt:"), "{plain_body}");
}

/// Python's icalendar + recurring-ical-events read the feed (events, due tasks, firings) and
/// find what Steward shows: each occurrence of a weekly series in New York (across both DST
/// changes), the task on its day, and the coming firings. Skipped where the packages are
/// missing; CI installs them.
#[tokio::test]
async fn an_independent_reader_finds_steward_s_occurrences_in_the_feed() {
    let ready = Command::new("python3")
        .args(["-c", "import icalendar, recurring_ical_events"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        assert!(std::env::var_os("CI").is_none(), "CI must install icalendar and recurring-ical-events");
        eprintln!("skipping: pip install icalendar recurring-ical-events to run this check");
        return;
    }
    let app = logged_in_app().await;
    let api = app.api(&app.api_token().await);
    let (status, e) = api
        .post(
            "/events",
            json!({"title": "Choir", "start": "2030-03-04T19:00", "end": "2030-03-04T21:00", "zone": "America/New_York",
                   "rrule": "FREQ=WEEKLY;UNTIL=20301201T000000Z", "exdates": ["2030-03-18T19:00"]}),
        )
        .await;
    assert_eq!(status, 201, "{e}");
    let (status, _) = api.post("/tasks", json!({"title": "Renew passport", "due": "2030-06-14"})).await;
    assert_eq!(status, 201);
    let (status, s) = api
        .post(
            "/schedules",
            json!({"name": "Check-in", "prompt": "How are you?", "every": "1d", "agent": "notify"}),
        )
        .await;
    assert_eq!(status, 201, "{s}");
    let token = make_feed(&app, "Python", true, true);
    let body = crate::helpers::client()
        .get(app.url(&format!("/feeds/{token}.ics")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("feed.ics");
    std::fs::write(&file, &body).unwrap();
    let script = r#"
import sys, json, datetime
import icalendar, recurring_ical_events
cal = icalendar.Calendar.from_ical(open(sys.argv[1], 'rb').read())
out = []
for ev in recurring_ical_events.of(cal).between(datetime.date(2020, 1, 1), datetime.date(2031, 1, 1)):
    s = ev['DTSTART'].dt
    key = s.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%MZ') if isinstance(s, datetime.datetime) else s.isoformat()
    out.append(key + ' ' + str(ev['SUMMARY']))
print(json.dumps(sorted(out)))
"#;
    let out = Command::new("python3").args(["-c", script]).arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let python: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();

    let (_, occ) = api.get("/occurrences?from=2030-01-01T00:00:00Z&to=2031-01-01T00:00:00Z").await;
    let steward: Vec<String> = occ["occurrences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let start = chrono::DateTime::parse_from_rfc3339(o["start"].as_str().unwrap()).unwrap().to_utc();
            format!("{} {}", start.format("%Y-%m-%dT%H:%MZ"), o["title"].as_str().unwrap())
        })
        .collect();
    assert_eq!(steward.len(), 38, "weekly from March 4 to November 25, less one: {steward:?}");
    let choir: Vec<&String> = python.iter().filter(|p| p.ends_with(" Choir")).collect();
    assert_eq!(choir, steward.iter().collect::<Vec<_>>(), "the reader's occurrences are Steward's");
    assert!(steward.contains(&"2030-03-11T23:00Z Choir".to_string()), "EDT from March 10");
    assert!(
        steward.contains(&"2030-11-05T00:00Z Choir".to_string()),
        "EST from November 3 (Monday 19:00 is Tuesday 00:00 UTC)"
    );
    assert!(python.contains(&"2030-06-14 Due: Renew passport".to_string()), "{python:?}");
    let firings = python.iter().filter(|p| p.ends_with(" Prompt: Check-in")).count();
    assert!((6..=8).contains(&firings), "a week of daily firings: {firings}");
}
