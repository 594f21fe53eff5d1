//! Reminder actions: the buttons pushed messages carry (ntfy `http`/`view` actions, Telegram's
//! inline keyboard) lead to signed one-click links that work once, change nothing when used
//! again, forged, sent from another site or expired, and whose GET only asks; Done completes the
//! task and ends its reminders; Snooze brings the reminder back at its time, through the
//! scheduler. In the app the same actions are buttons on the Notifications page (CSRF) and the
//! API's `POST /api/v1/notifications/{id}/actions/{action}`. All with a fixed clock.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};
use steward::clock::{Clock, FixedClock};

use crate::channels::{BOT_TOKEN, StandIn};
use crate::helpers::{Api, client, spawn_app_at};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// Every live schedule of a subject (`task:3`): (kind, next firing).
fn schedules_of(db: &std::path::Path, source: &str) -> Vec<(String, Option<DateTime<Utc>>)> {
    use steward::db::schema::schedules;
    let db = steward::db::Db::open(db).unwrap();
    let mut conn = db.conn().unwrap();
    schedules::table
        .filter(schedules::source.eq(source))
        .filter(schedules::deleted_at.is_null())
        .order(schedules::id)
        .select((schedules::kind, schedules::next_fire_at))
        .load::<(String, Option<i64>)>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|(k, t)| (k, t.map(steward::clock::from_ms)))
        .collect()
}

/// Waits for the stand-in to have received `n` requests under `prefix`.
async fn received(stand_in: &StandIn, prefix: &str, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let got = stand_in.got(prefix);
        if got.len() >= n {
            return got.into_iter().map(|g| g.body).collect();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "expected {n} requests to {prefix}, got {:?}",
        stand_in.got(prefix).iter().map(|g| &g.body).collect::<Vec<_>>()
    );
}

/// The same link on the app as it runs now (a restart listens on a new port).
fn on(app: &crate::helpers::TestApp, url: &str) -> String {
    format!("{}/a/{}", app.address, url.rsplit_once("/a/").unwrap().1)
}

async fn status_of(api: &Api, id: i64) -> String {
    let (_, t) = api.get(&format!("/tasks/{id}")).await;
    t["status"].as_str().unwrap().to_string()
}

/// A POST of a link as ntfy's `http` button sends it (no Origin, no cookie).
async fn press(url: &str) -> (u16, String) {
    let res = client().post(url).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn open(url: &str) -> (u16, String) {
    let res = client().get(url).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

fn action<'a>(actions: &'a Value, label: &str) -> &'a Value {
    actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["label"] == label)
        .unwrap_or_else(|| panic!("no {label} in {actions}"))
}

#[tokio::test]
async fn pushed_buttons_act_once_and_used_forged_foreign_or_expired_links_change_nothing() {
    // 09:00 in Berlin.
    let clock = FixedClock::new(at("2026-12-02T08:00:00Z"));
    let app = spawn_app_at(&clock, |_| {}).await;
    let token = app.api_token().await;
    let api = app.api(&token);
    let stand_in = StandIn::start().await;
    for ch in [
        json!({"name": "phone", "kind": "ntfy", "url": format!("{}/ntfy", stand_in.url), "topic": "me"}),
        json!({"name": "tg", "kind": "telegram", "bot_token": BOT_TOKEN, "chat_id": "4242", "api_base": format!("{}/tg", stand_in.url)}),
        json!({"name": "dc", "kind": "discord", "webhook_url": format!("{}/api/webhooks/1/secret", stand_in.url)}),
        json!({"name": "hook", "kind": "webhook", "url": format!("{}/hook", stand_in.url), "secret": "whsec-actions"}),
    ] {
        let (status, body) = api.post("/channels", ch).await;
        assert_eq!(status, 201, "{body}");
    }
    let (_, call) = api.post("/tasks", json!({"text": "(A) Call mom today 10:00 remind 10m"})).await;
    let call_id = call["id"].as_i64().unwrap();
    let (_, milk) = api.post("/tasks", json!({"text": "Buy <milk> & eggs today 10:00 remind 10m"})).await;
    let milk_id = milk["id"].as_i64().unwrap();

    // 09:50 Berlin: both reminders go out (the restart wakes the fixed-clock scheduler).
    clock.set(at("2026-12-02T08:50:00Z"));
    let app = app.restart_at(&clock).await;
    let api = app.api(&token);
    let ntfy = received(&stand_in, "/ntfy", 2).await;
    let tg = received(&stand_in, "/tg/", 2).await;
    let by_title = |list: &[Value], key: &str, title: &str| -> Value {
        list.iter().find(|m| m[key].as_str().unwrap().contains(title)).unwrap().clone()
    };
    let call_ntfy = by_title(&ntfy, "title", "Call mom");
    let milk_ntfy = by_title(&ntfy, "title", "Buy <milk>");

    // ntfy: priority from the task (A → 5, none → 3), a tag, the click link and three buttons:
    // Done and the first snooze POST their signed links, Open views the task.
    assert_eq!((call_ntfy["priority"].as_i64(), milk_ntfy["priority"].as_i64()), (Some(5), Some(3)));
    assert_eq!(call_ntfy["tags"], json!(["alarm_clock"]));
    let buttons = &call_ntfy["actions"];
    assert_eq!(buttons.as_array().unwrap().len(), 3, "{buttons}");
    let done = action(buttons, "Done");
    assert_eq!((done["action"].as_str(), done["method"].as_str()), (Some("http"), Some("POST")));
    let done_url = done["url"].as_str().unwrap().to_string();
    assert!(done_url.starts_with(&format!("{}/a/", app.address)), "{done_url}");
    assert_eq!(action(buttons, "Snooze 10 min")["action"], "http");
    let open_button = action(buttons, "Open");
    assert_eq!(open_button["action"], "view");
    assert_eq!(open_button["url"], format!("{}/tasks/{call_id}/edit", app.address));
    assert_eq!(call_ntfy["click"], open_button["url"]);

    // Telegram: escaped HTML text and an inline keyboard of URL buttons, the same links.
    let call_tg = by_title(&tg, "text", "Call mom");
    let milk_tg = by_title(&tg, "text", "Buy &lt;milk&gt; &amp; eggs");
    assert_eq!(milk_tg["parse_mode"], "HTML");
    let rows = call_tg["reply_markup"]["inline_keyboard"].as_array().unwrap();
    let labels: Vec<Vec<&str>> = rows
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(|b| b["text"].as_str().unwrap()).collect())
        .collect();
    assert_eq!(labels, vec![vec!["Done", "Open"], vec!["Snooze 10 min", "Snooze 1 h", "Tomorrow"]]);
    assert_eq!(rows[0][0]["url"], done_url.as_str(), "one link per action, whatever the channel");
    let milk_rows = milk_tg["reply_markup"]["inline_keyboard"].as_array().unwrap();
    let link = |label: &str| -> String {
        milk_rows.iter().flat_map(|r| r.as_array().unwrap()).find(|b| b["text"] == label).unwrap()["url"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (milk_1h, milk_10m, milk_tomorrow) = (link("Snooze 1 h"), link("Snooze 10 min"), link("Tomorrow"));

    // Discord: the embed links the task, its description the one-click links; the webhook
    // gets the subject and every action.
    let dc = received(&stand_in, "/api/webhooks/", 2).await;
    let call_dc = dc.iter().find(|m| m["embeds"][0]["title"] == "Call mom").unwrap();
    assert_eq!(call_dc["embeds"][0]["url"], open_button["url"]);
    let description = call_dc["embeds"][0]["description"].as_str().unwrap();
    assert!(description.contains(&format!("[Done]({done_url})")), "{description}");
    let hooks = received(&stand_in, "/hook", 2).await;
    let call_hook = hooks.iter().find(|m| m["title"] == "Call mom").unwrap();
    assert_eq!(call_hook["subject"], format!("task:{call_id}"));
    let names: Vec<&str> =
        call_hook["actions"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(names, ["done", "snooze-10m", "snooze-1h", "snooze-tomorrow", "open"]);
    assert_eq!(call_hook["actions"][0]["url"], done_url.as_str());

    // Opening the link (what a mail scanner or a chat preview does) only asks.
    let (status, page) = open(&done_url).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Mark “Call mom” done?"), "{page}");
    assert!(page.contains("id=\"act-form\"") && page.contains("/static/act.js"), "{page}");
    assert_eq!(status_of(&api, call_id).await, "open");
    // A POST from another site's page is refused.
    let res = client().post(&done_url).header("Origin", "https://evil.example").send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(status_of(&api, call_id).await, "open");

    // Done: the task completes, and its reminder schedule ends.
    assert_eq!(schedules_of(&app.db_path, &format!("task:{call_id}")).len(), 1);
    let (status, page) = press(&done_url).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Done: Call mom"), "{page}");
    assert_eq!(status_of(&api, call_id).await, "done");
    assert!(
        schedules_of(&app.db_path, &format!("task:{call_id}")).iter().all(|(_, next)| next.is_none()),
        "nothing left armed"
    );
    // Used again (by the same button, or by the same link in another channel): a clear page,
    // 410, nothing changes. Reopened meanwhile, the task stays open.
    api.patch(&format!("/tasks/{call_id}"), json!({"status": "open"})).await;
    let reopened = status_of(&api, call_id).await;
    for _ in 0..2 {
        let (status, page) = press(&done_url).await;
        assert_eq!(status, 410, "{page}");
        assert!(page.contains("This link was used already") && page.contains("Call mom"), "{page}");
        assert_eq!(status_of(&api, call_id).await, reopened);
    }
    let (status, page) = open(&done_url).await;
    assert_eq!((status, page.contains("used already")), (410, true));

    // Forged: a changed character, another payload under this tag, another key's signature.
    let (payload, tag) = done_url.rsplit_once('/').unwrap().1.split_once('.').unwrap();
    let other_payload = milk_10m.rsplit_once('/').unwrap().1.split_once('.').unwrap().0;
    let flipped = format!("{}{}", &tag[..tag.len() - 2], if tag.ends_with("AA") { "BB" } else { "AA" });
    let elsewhere = steward::notify::actions::Link {
        notification: 1,
        kind: steward::notify::actions::Kind::Done,
        subject: steward::reminders::Subject::Task(milk_id as i32),
        expires_at: steward::clock::to_ms(at("2027-01-01T00:00:00Z")),
    }
    .token(b"a key that is not the server's");
    for forged in
        [format!("{payload}.{flipped}"), format!("{other_payload}.{tag}"), elsewhere, "nonsense".into()]
    {
        let url = format!("{}/a/{forged}", app.address);
        let (status, page) = press(&url).await;
        assert_eq!(status, 403, "{forged}: {page}");
        assert!(page.contains("This link is not valid"), "{page}");
        assert_eq!(open(&url).await.0, 403);
    }
    assert_eq!(status_of(&api, milk_id).await, "open");
    assert_eq!(
        schedules_of(&app.db_path, &format!("task:{milk_id}")).iter().filter(|(k, _)| k == "once").count(),
        0
    );

    // Snooze 1 h at 09:50 Berlin: a one-off reminder at 10:50, which fires then.
    let (status, page) = press(&on(&app, &milk_1h)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Snoozed until 10:50"), "{page}");
    let once: Vec<_> = schedules_of(&app.db_path, &format!("task:{milk_id}"))
        .into_iter()
        .filter(|(k, _)| k == "once")
        .collect();
    assert_eq!(once, vec![("once".to_string(), Some(at("2026-12-02T09:50:00Z")))]);
    clock.set(at("2026-12-02T09:50:00Z"));
    let app = app.restart_at(&clock).await;
    let ntfy = received(&stand_in, "/ntfy", 3).await;
    assert!(ntfy[2]["title"].as_str().unwrap().starts_with("Buy <milk>"), "{:?}", ntfy[2]);

    // "Tomorrow" is the next morning at the settings' time (09:00) in the person's zone.
    let (status, page) = press(&on(&app, &milk_tomorrow)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Snoozed until tomorrow 09:00"), "{page}");
    assert!(
        schedules_of(&app.db_path, &format!("task:{milk_id}"))
            .contains(&("once".into(), Some(at("2026-12-03T08:00:00Z")))),
        "{:?}",
        schedules_of(&app.db_path, &format!("task:{milk_id}"))
    );

    // Seven days after the reminder, its links have expired: a clear page, nothing changes.
    clock.set(at("2026-12-09T08:50:00Z"));
    let app = app.restart_at(&clock).await;
    // (The morning snooze, long past, is caught up first.)
    received(&stand_in, "/ntfy", 4).await;
    let before = schedules_of(&app.db_path, &format!("task:{milk_id}"));
    let (status, page) = press(&on(&app, &milk_10m)).await;
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("This link has expired"), "{page}");
    assert_eq!(schedules_of(&app.db_path, &format!("task:{milk_id}")), before);
    // A minute earlier it still worked.
    clock.set(at("2026-12-09T08:49:00Z"));
    let (status, page) = press(&on(&app, &milk_10m)).await;
    assert_eq!(status, 200, "{page}");
}

#[tokio::test]
async fn in_app_buttons_and_the_api_do_the_same_actions() {
    // 14:00 in Berlin.
    let clock = FixedClock::new(at("2026-12-02T13:00:00Z"));
    let mut app = spawn_app_at(&clock, |_| {}).await;
    app.set_up().await;
    let api = app.api(&app.api_token_with("write").await);
    let (_, call) = api.post("/tasks", json!({"text": "Call mom tomorrow 18:00"})).await;
    let call_id = call["id"].as_i64().unwrap();
    let (_, event) = api.post("/events", json!({"text": "Dentist tomorrow 10:00"})).await;
    let ids = {
        let db = steward::db::Db::open(&app.db_path).unwrap();
        let mut conn = db.conn().unwrap();
        let mut add = |title: &str, subject: Option<String>| {
            let n = steward::notifications::NewNotification {
                title: title.into(),
                body: "Due tomorrow at 18:00".into(),
                level: "info",
                subject,
                ..Default::default()
            };
            steward::notifications::add(&mut conn, &n, clock.now()).unwrap().id
        };
        let event_id = Some(format!("event:{}", event["id"]));
        (add("Call mom", Some(format!("task:{call_id}"))), add("Dentist", event_id), add("Backup done", None))
    };
    let page = app.get("/notifications").await.text().await.unwrap();
    let task_item = page
        .split(&format!("id=\"notification-{}\"", ids.0))
        .nth(1)
        .unwrap()
        .split("<li id=\"notification-")
        .next()
        .unwrap();
    assert!(task_item.contains(&format!("/notifications/{}/actions/done", ids.0)), "{task_item}");
    assert!(task_item.contains("Snooze") && task_item.contains("value=\"tomorrow\""), "{task_item}");
    assert!(task_item.contains(&format!("href=\"/tasks/{call_id}/edit\"")), "{task_item}");
    assert!(event["id"].is_i64(), "{event}");
    {
        let event_item = page
            .split(&format!("id=\"notification-{}\"", ids.1))
            .nth(1)
            .unwrap()
            .split("<li id=\"notification-")
            .next()
            .unwrap();
        assert!(
            !event_item.contains("/actions/done") && event_item.contains("/actions/snooze"),
            "{event_item}"
        );
    }
    let plain = page.split(&format!("id=\"notification-{}\"", ids.2)).nth(1).unwrap();
    assert!(
        !plain.split("<li id=\"notification-").next().unwrap().contains("/actions/"),
        "a plain notification has no buttons"
    );

    // Without the CSRF token: refused, nothing changes.
    let res = app
        .client
        .post(app.url(&format!("/notifications/{}/actions/done", ids.0)))
        .header("Origin", &app.address)
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(status_of(&api, call_id).await, "open");
    // Snooze ▾ 10 min, then Done, through htmx: each says what happened.
    let res = app.post_htmx(&format!("/notifications/{}/actions/snooze", ids.0), &[("snooze", "10m")]).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Snoozed until 14:10"));
    assert!(
        schedules_of(&app.db_path, &format!("task:{call_id}"))
            .contains(&("once".into(), Some(at("2026-12-02T13:10:00Z"))))
    );
    let res = app.post_htmx(&format!("/notifications/{}/actions/done", ids.0), &[]).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Done: Call mom"));
    assert_eq!(status_of(&api, call_id).await, "done");
    // A plain notification offers nothing: a toast says so.
    let res = app.post_htmx(&format!("/notifications/{}/actions/done", ids.2), &[]).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("offers no actions"));

    // The API: a write token snoozes until tomorrow morning; bad input names the field.
    let (_, reopened) = api.patch(&format!("/tasks/{call_id}"), json!({"status": "open"})).await;
    assert_eq!(reopened["status"], "open", "{reopened}");
    let path = format!("/notifications/{}/actions/snooze", ids.0);
    let (status, body) = api.post(&path, json!({"snooze": "tomorrow"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Snoozed until tomorrow 09:00", "{body}");
    assert_eq!(body["until"], "2026-12-03T08:00:00Z");
    let (status, body) = api.post(&path, json!({"snooze": "2h"})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("snooze")), "{body}");
    let (status, body) = api.post(&format!("/notifications/{}/actions/explode", ids.0), json!({})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("action")), "{body}");
    let (status, _) = api.post("/notifications/99999/actions/done", json!({})).await;
    assert_eq!(status, 404);
    let (status, body) = api.post(&format!("/notifications/{}/actions/done", ids.0), json!({})).await;
    assert_eq!((status, body["message"].as_str()), (200, Some("Done: Call mom")), "{body}");
    assert_eq!(status_of(&api, call_id).await, "done");
}
