//! The Schedules, Runs, Agents and Notifications pages through HTTP as a browser (htmx or not)
//! sends it, and the live `/events` stream.

use std::time::{Duration, Instant};

use crate::helpers::*;

/// The form as the page sends it, for a cron schedule to the built-in `notify` agent.
fn form<'a>(name: &'a str, kind: &'a str, spec: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", name),
        ("prompt", "Stand up and stretch"),
        ("agent", "notify"),
        ("kind", kind),
        ("spec", spec),
        ("tz", "Europe/Madrid"),
        ("priority", "normal"),
        ("misfire", "once"),
        ("retry_attempts", "3"),
        ("retry_base_secs", "30"),
        ("until", ""),
        ("count", ""),
        ("status", "active"),
    ]
}

/// The N in the first `id="schedule-N"` (a row, not the form or list) in `html`.
fn first_row_id(html: &str) -> String {
    html.split("id=\"schedule-")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .find(|id| id.parse::<i32>().is_ok())
        .expect("a schedule row")
        .to_string()
}

#[tokio::test]
async fn schedules_are_created_previewed_and_managed_from_the_page() {
    let app = logged_in_app().await;
    let page = app.get("/schedules").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"schedule-form\""), "the page has the form");

    // The live preview: next firings in the zone and in UTC, or why the timing is wrong.
    let res = app.get_htmx("/schedules/preview?kind=cron&spec=0+9+*+*+1-5&tz=Europe/Madrid", "preview").await;
    let html = res.text().await.unwrap();
    assert!(html.contains("Every weekday at 09:00, Europe/Madrid"), "{html}");
    assert!(html.contains("08:00 UTC") || html.contains("07:00 UTC"), "UTC times are listed: {html}");
    let html = app
        .get_htmx("/schedules/preview?kind=cron&spec=0+9+*+*&tz=UTC", "preview")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("has 4 fields"), "{html}");
    let html =
        app.get_htmx("/schedules/preview?kind=every&spec=10s&tz=UTC", "preview").await.text().await.unwrap();
    assert!(html.contains("minimum interval of 60 s"), "{html}");

    // A bad timing comes back in the form with the message by its field and what was typed kept.
    let res = app.post_htmx("/schedules", &form("Stretch", "cron", "0 25 * * *")).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("sf-spec-error") && html.contains("0 25 * * *"), "{html}");
    assert!(html.contains("Stand up and stretch"), "the prompt is kept: {html}");

    // A good one is listed in words, with a fresh form.
    let res = app.post_htmx("/schedules", &form("Stretch", "cron", "0 9 * * 1-5")).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("Every weekday at 09:00, Europe/Madrid") && html.contains("Created"), "{html}");
    let id = first_row_id(&html);

    // Without JavaScript the same form redirects back to the list.
    let res = app.post_form("/schedules", &form("Water", "every", "2h")).await;
    assert_eq!(res.status(), 303);

    // Row actions answer with the row.
    let html = app.post_htmx(&format!("/schedules/{id}/pause"), &[]).await.text().await.unwrap();
    assert!(html.contains("state-paused") && html.contains("Paused"), "{html}");
    let html = app.post_htmx(&format!("/schedules/{id}/resume"), &[]).await.text().await.unwrap();
    assert!(html.contains("state-active") && html.contains("next run"), "{html}");
    let res = app.post_htmx(&format!("/schedules/{id}/duplicate"), &[]).await;
    let copy = res.headers()["HX-Location"].to_str().unwrap().to_string();
    assert!(copy.ends_with("/edit?copied=true"), "{copy}");
    let html = app.get(&copy).await.text().await.unwrap();
    assert!(html.contains("Stretch (copy)") && html.contains("value=\"paused\" selected"), "{html}");

    // Editing: an error keeps the edit page and what was typed; a good edit is saved.
    let mut edit = form("Stretch", "cron", "not cron");
    let res = app.post_form(&format!("/schedules/{id}"), &edit).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("not cron"));
    edit[4] = ("spec", "30 7 * * *");
    let res = app.post_form(&format!("/schedules/{id}"), &edit).await;
    assert_eq!(res.status(), 303);
    let html = app.get("/schedules").await.text().await.unwrap();
    assert!(html.contains("Every day at 07:30, Europe/Madrid"), "{html}");

    // Delete asks first without JavaScript, then goes.
    let html = app.get(&format!("/schedules/{id}/delete")).await.text().await.unwrap();
    assert!(html.contains("Delete") && html.contains("Stretch"), "{html}");
    let res = app.post_htmx(&format!("/schedules/{id}/delete"), &[]).await;
    assert_eq!(res.status(), 200);
    let html = app.get("/schedules").await.text().await.unwrap();
    assert!(!html.contains(&format!("id=\"schedule-{id}\"")), "{html}");
}

/// Reads the SSE stream until `want` appears in it (panics after `secs`).
async fn read_until(res: &mut reqwest::Response, want: &[&str], secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut seen = String::new();
    while !want.iter().all(|w| seen.contains(w)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, res.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("the stream ended or stalled ({other:?}) before {want:?}; got: {seen}"),
        }
    }
    seen
}

#[tokio::test]
async fn runs_and_notifications_stream_live_and_ring_the_bell() {
    let app = logged_in_app().await;
    // Signed out, there is no stream.
    let res = client().get(app.url("/events")).send().await.unwrap();
    assert!(res.status() == 303 || res.status() == 401, "{}", res.status());

    let mut events = app.get("/events").await;
    assert_eq!(events.status(), 200);
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let html = app.get("/notifications/count").await.text().await.unwrap();
    assert!(html.contains("hidden"), "no unread yet: {html}");

    let html = app.post_htmx("/schedules", &form("Tea", "every", "1h")).await.text().await.unwrap();
    let id = first_row_id(&html);
    let res = app.post_htmx(&format!("/schedules/{id}/run"), &[]).await;
    assert!(res.text().await.unwrap().contains("Queued run"));

    // The run is queued, started and finished, and the notify agent's notification arrives.
    let seen =
        read_until(&mut events, &["event: run", "\"succeeded\"", "event: notification", "Tea"], 10).await;
    assert!(seen.contains(&format!("\"schedule_id\":{id}")), "{seen}");

    let html = app.get("/notifications/count").await.text().await.unwrap();
    assert!(html.contains(">1<"), "one unread: {html}");
    let html = app.get("/notifications").await.text().await.unwrap();
    assert!(html.contains("Stand up and stretch"), "{html}");

    // The run's row (as the live update fetches it) and the Runs pages.
    let html = app.get(&format!("/schedules/{id}/runs")).await.text().await.unwrap();
    assert!(html.contains("state-succeeded") && html.contains(&format!(">s{id}-")), "{html}");
    let html = app.get("/runs?state=failed").await.text().await.unwrap();
    assert!(!html.contains("state-succeeded\""), "filtered by state: {html}");

    let res = app.post_form("/notifications/read", &[]).await;
    assert_eq!(res.status(), 303);
    let html = app.get("/notifications/count").await.text().await.unwrap();
    assert!(html.contains("hidden"), "all read: {html}");

    // Stopping Steward ends open streams at once rather than after the drain timeout.
    let started = Instant::now();
    app.stopper.stop().await;
    assert!(started.elapsed() < Duration::from_secs(5), "stopped in {:?}", started.elapsed());
    let rest = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(Some(_)) = events.chunk().await {}
    })
    .await;
    assert!(rest.is_ok(), "the stream ended");
}

#[tokio::test]
async fn agents_are_added_checked_and_removed_from_the_page() {
    let receiver =
        crate::fakes::receiver::Receiver::start(crate::fakes::receiver::Behaviour::default()).await;
    let app = logged_in_app().await;
    let html = app.get("/agents").await.text().await.unwrap();
    assert!(html.contains("notify"), "the built-in agent is listed: {html}");

    let url = format!("{}/hook", receiver.url);
    let fields = [("name", "hook"), ("kind", "webhook"), ("url", url.as_str()), ("secret", "s3cret")];
    let res = app.post_htmx("/agents", &[("name", ".."), ("kind", "webhook"), ("url", url.as_str())]).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("only dots"));
    let res = app.post_htmx("/agents", &[("name", "bad"), ("kind", "webhook"), ("url", "ftp://x")]).await;
    assert_eq!(res.status(), 422);
    let res = app.post_htmx("/agents", &fields).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let html = app.get("/agents").await.text().await.unwrap();
    assert!(html.contains("hook") && !html.contains("s3cret"), "listed, secret not shown: {html}");

    let html = app.post_htmx("/agents/hook/check", &[]).await.text().await.unwrap();
    assert!(html.contains("check-ok"), "{html}");
    let res = app.post_htmx("/agents/hook/remove", &[]).await;
    assert_eq!(res.status(), 200);
    let html = app.get("/agents").await.text().await.unwrap();
    assert!(!html.contains(">hook<"), "{html}");
}

#[tokio::test]
async fn schedule_limits_are_set_in_settings() {
    let app = logged_in_app().await;
    let html = app.get("/settings").await.text().await.unwrap();
    assert!(html.contains("name=\"min_interval_secs\"") && html.contains("value=\"60\""), "{html}");
    let limits = |min: &'static str| {
        vec![("max_active", "50"), ("min_interval_secs", min), ("pause_after_failures", "5")]
    };
    let res = app.post_form("/settings/guards", &limits("0")).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("min_interval_secs: must be at least 1 second"));
    let res = app.post_form("/settings/guards", &limits("ten")).await;
    assert!(res.text().await.unwrap().contains("ten&#34; is not a whole number"));
    let res = app.post_form("/settings/guards", &limits("30")).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("value=\"30\""));
    // The form's preview follows the new minimum.
    let html =
        app.get_htmx("/schedules/preview?kind=every&spec=45s&tz=UTC", "preview").await.text().await.unwrap();
    assert!(html.contains("preview-times"), "{html}");
}
