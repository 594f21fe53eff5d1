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
    // Added: back to the list (post/redirect/get, so a reload does not post again).
    let res = app.post_form("/agents", &fields).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert_eq!(res.headers()["location"], "/agents?added=hook");
    let html = app.get("/agents?added=hook").await.text().await.unwrap();
    assert!(html.contains("Added “hook”"), "{html}");
    assert!(html.contains("hook") && !html.contains("s3cret"), "listed, secret not shown: {html}");
    // Kinds in words, once; URLs on one line with the whole of them in the tooltip.
    assert!(html.contains("<h2>notify</h2>") && html.contains("— in-app notification (built in)"), "{html}");
    assert!(html.contains("— webhook</span>") && !html.contains("class=\"chip\">notify"), "{html}");
    assert!(html.contains(&format!("<dd class=\"url\"><code title=\"{url}\">")), "{html}");
    // Selects name an agent once, with its kind only when the name does not say it.
    let html = app.get("/schedules").await.text().await.unwrap();
    assert!(html.contains(">notify</option>") && !html.contains("notify (notify)"), "{html}");
    assert!(html.contains(">hook (webhook)</option>"), "{html}");

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
    // A plain form goes back to /settings (303), which shows the outcome.
    let res = app.post_form("/settings/guards", &limits("0")).await;
    assert_eq!(res.status(), 303);
    let settings = app.get("/settings").await.text().await.unwrap();
    assert!(settings.contains("Shortest time between firings must be at least 1 second."), "{settings}");
    let res = app.post_form("/settings/guards", &limits("ten")).await;
    assert_eq!(res.status(), 303);
    assert!(app.get("/settings").await.text().await.unwrap().contains("ten&#34; is not a whole number"));
    let res = app.post_form("/settings/guards", &limits("30")).await;
    assert_eq!(res.status(), 303);
    assert!(app.get("/settings").await.text().await.unwrap().contains("value=\"30\""));
    // The form's preview follows the new minimum.
    let html =
        app.get_htmx("/schedules/preview?kind=every&spec=45s&tz=UTC", "preview").await.text().await.unwrap();
    assert!(html.contains("preview-times"), "{html}");
}

/// The form as the page sends it now: one timing box, no kind.
fn phrase_form<'a>(name: &'a str, when: &'a str) -> Vec<(&'a str, &'a str)> {
    form(name, "", when).into_iter().filter(|(k, _)| *k != "kind").collect()
}

#[tokio::test]
async fn the_timing_box_reads_plain_language_raw_cron_and_says_what_it_understood() {
    let app = logged_in_app().await;
    let html = app.get("/schedules").await.text().await.unwrap();
    assert!(!html.contains("name=\"kind\""), "no kind to pick first (Cron was preselected)");

    // The preview says what it understood and the cron it becomes.
    let preview = |spec: &str| {
        let q = serde_urlencoded::to_string([("spec", spec), ("tz", "Europe/Madrid")]).unwrap();
        let app = &app;
        async move { app.get_htmx(&format!("/schedules/preview?{q}"), "preview").await.text().await.unwrap() }
    };
    let html = preview("every weekday at 9:00").await;
    assert!(html.contains("Every weekday at 09:00, Europe/Madrid"), "{html}");
    assert!(html.contains("cron 0 9 * * 1-5") && html.contains("preview-times"), "{html}");
    let html = preview("every month on the 1st at 8").await;
    assert!(html.contains("On the 1st of every month at 08:00") && html.contains("cron 0 8 1 * *"), "{html}");
    let html = preview("every 2 hours").await;
    assert!(html.contains("Every 2 hours") && html.contains("an interval of 2h"), "{html}");
    let html = preview("tomorrow 9am").await;
    assert!(html.contains("Once, ") && html.contains("a single run"), "{html}");
    let html = preview("in 20m").await;
    assert!(html.contains("Once, "), "{html}");
    let html = preview("@daily").await;
    assert!(html.contains("Every day at 00:00"), "{html}");

    // Created from the page: the phrase is stored as the cron it became.
    let res = app.post_htmx("/schedules", &phrase_form("Standup", "every weekday at 9:00")).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("Every weekday at 09:00, Europe/Madrid"), "{html}");
    let id = first_row_id(&html);
    let html = app.get(&format!("/schedules/{id}/edit")).await.text().await.unwrap();
    assert!(html.contains("value=\"0 9 * * 1-5\""), "the edit form shows the cron: {html}");
    // Saving the edit form unchanged keeps it; a new phrase replaces it.
    let res = app.post_form(&format!("/schedules/{id}"), &phrase_form("Standup", "0 9 * * 1-5")).await;
    assert_eq!(res.status(), 303);
    let res = app.post_form(&format!("/schedules/{id}"), &phrase_form("Standup", "every 2 hours")).await;
    assert_eq!(res.status(), 303);
    let html = app.get("/schedules").await.text().await.unwrap();
    assert!(html.contains("Every 2 hours"), "{html}");

    // The API takes the same phrase in `when`, and keeps at/cron/every as they were.
    let token = app.api_token().await;
    let api = app.api(&token);
    let (status, s) = api
        .post("/schedules", serde_json::json!({"prompt": "p", "agent": "notify", "when": "every weekday at 9:00", "tz": "UTC"}))
        .await;
    assert_eq!(status, 201, "{s}");
    assert_eq!((s["kind"].as_str(), s["cron"].as_str()), (Some("cron"), Some("0 9 * * 1-5")), "{s}");
    let (status, s) = api
        .post("/schedules", serde_json::json!({"prompt": "p", "agent": "notify", "when": "every 2 hours"}))
        .await;
    assert_eq!((status, s["every"].as_str()), (201, Some("2h")), "{s}");
    let (status, s) = api
        .post("/schedules", serde_json::json!({"prompt": "p", "agent": "notify", "cron": "0 9 * * 1-5"}))
        .await;
    assert_eq!((status, s["cron"].as_str()), (201, Some("0 9 * * 1-5")), "{s}");
    let (status, e) = api
        .post(
            "/schedules",
            serde_json::json!({"prompt": "p", "agent": "notify", "when": "in 2h", "cron": "@daily"}),
        )
        .await;
    assert_eq!(status, 422, "{e}");
    let (status, e) = api
        .post("/schedules", serde_json::json!({"prompt": "p", "agent": "notify", "when": "every weekday"}))
        .await;
    assert_eq!(status, 422);
    assert!(e["error"]["message"].as_str().unwrap().contains("needs a time of day"), "{e}");
}

#[tokio::test]
async fn cron_mistakes_are_told_in_words_never_in_the_library_s() {
    let app = logged_in_app().await;
    for (spec, want) in [
        ("61 25 * * *", "Minute 61 is out of range 0–59."),
        ("0 25 * * *", "Hour 25 is out of range 0–23."),
        ("0 9 * 13 *", "Month 13 is out of range 1–12"),
        ("0 9 * * 8", "Day of week 8 is out of range 0–7"),
        ("5/15 * * * *", "a step needs * or a range before it"),
    ] {
        let q = serde_urlencoded::to_string([("spec", spec), ("tz", "UTC")]).unwrap();
        let html = app.get_htmx(&format!("/schedules/preview?{q}"), "preview").await.text().await.unwrap();
        assert!(html.contains(want), "{spec}: {html}");
        for leak in ["Component error", "out of bounds", "CronPattern", "Invalid pattern"] {
            assert!(!html.contains(leak), "{spec}: {html}");
        }
        // The same from the form (by its field) and from the API's `cron` field.
        let res = app.post_htmx("/schedules", &phrase_form("Bad", spec)).await;
        assert_eq!(res.status(), 422);
        let html = res.text().await.unwrap();
        assert!(html.contains("sf-spec-error") && html.contains(want), "{spec}: {html}");
    }
    let token = app.api_token().await;
    let (status, e) = app
        .api(&token)
        .post("/schedules", serde_json::json!({"prompt": "p", "agent": "notify", "cron": "61 25 * * *"}))
        .await;
    assert_eq!(status, 422);
    let message = e["error"]["message"].as_str().unwrap();
    assert!(message.contains("Minute 61 is out of range 0–59.") && !message.contains("Component"), "{e}");
}

#[tokio::test]
async fn opening_notifications_marks_them_read_and_shows_which_were_new() {
    let app = logged_in_app().await;
    let token = app.api_token().await;
    let (status, run) = app
        .api(&token)
        .post("/trigger", serde_json::json!({"prompt": "Take the bins out", "agent": "notify"}))
        .await;
    assert_eq!(status, 202, "{run}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let html = app.get("/notifications/count").await.text().await.unwrap();
        if html.contains(">1<") {
            break;
        }
        assert!(Instant::now() < deadline, "no notification arrived: {html}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The first visit shows it as new, and the bell on that page is already out.
    let html = app.get("/notifications").await.text().await.unwrap();
    assert!(html.contains("Take the bins out") && html.contains("chip-new"), "{html}");
    assert!(html.contains("id=\"bell-count\" class=\"bell-count\" hidden"), "{html}");
    let html = app.get("/notifications/count").await.text().await.unwrap();
    assert!(html.contains("hidden"), "read once seen: {html}");
    // The next visit shows it as seen.
    let html = app.get("/notifications").await.text().await.unwrap();
    assert!(html.contains("Take the bins out") && !html.contains("chip-new"), "{html}");
}

/// Waits until the API's newest run is in `state`, and returns its id.
async fn newest_run_in(api: &Api, state: &str) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = api.get("/runs").await;
        if body["runs"][0]["state"] == state {
            return body["runs"][0]["id"].as_i64().unwrap();
        }
        assert!(Instant::now() < deadline, "no run became {state}: {body:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_run_opens_into_a_panel_with_rendered_output_and_internals_folded() {
    let app = logged_in_app().await;
    let api = app.api(&app.api_token().await);
    // A command agent that answers with the prompt it was given (added by the person).
    let res = app.post_form("/agents", &[("name", "echo"), ("kind", "command"), ("argv", "cat")]).await;
    assert!(res.status().is_success() || res.status() == 303, "{}", res.status());
    let prompt =
        "**Done**: see [the notes](https://example.com/n)\n\n<script>alert(1)</script>\n\n- one\n- two";
    let (status, body) = api.post("/trigger", serde_json::json!({"prompt": prompt, "agent": "echo"})).await;
    assert_eq!(status, 202, "{body}");
    let id = newest_run_in(&api, "succeeded").await;
    let (_, run) = api.get(&format!("/runs/{id}")).await;
    let key = run["idempotency_key"].as_str().unwrap().to_string();

    let html = app.get(&format!("/runs/{id}/row")).await.text().await.unwrap();
    let (summary, panel) = html.split_once("class=\"run-panel\"").expect("a panel");
    assert!(summary.contains("<summary") && summary.contains("state-succeeded"), "{summary}");
    assert!(!summary.contains(&key), "no idempotency key in the summary line: {summary}");
    assert!(!summary.contains("attempt"), "no 'attempt 1/5' on a success: {summary}");
    // The output is Markdown rendered and sanitised.
    assert!(panel.contains("<strong>Done</strong>") && panel.contains("<li>one</li>"), "{panel}");
    assert!(panel.contains("href=\"https://example.com/n\""), "{panel}");
    assert!(!panel.contains("<script>alert"), "sanitised: {panel}");
    assert!(!panel.contains("<h3>Attempts</h3>"), "one good attempt is not listed: {panel}");
    // The key is still there for whoever needs it, folded.
    let (_, internals) = panel.split_once("Technical details").expect("folded internals");
    assert!(internals.contains(&key), "{internals}");

    // The runs page has no separate narrow details column any more.
    let html = app.get("/runs").await.text().await.unwrap();
    assert!(html.contains(&format!("id=\"run-{id}\"")) && !html.contains("<th>Details</th>"), "{html}");
}

#[tokio::test]
async fn a_retried_run_says_how_many_attempts_and_over_how_long() {
    let receiver = crate::fakes::receiver::Receiver::start(crate::fakes::receiver::Behaviour {
        fail_first: 2,
        ..crate::fakes::receiver::Behaviour::default()
    })
    .await;
    let app = logged_in_app().await;
    let api = app.api(&app.api_token().await);
    let url = format!("{}/hook", receiver.url);
    let (status, body) = api
        .post(
            "/agents",
            serde_json::json!({"name": "flaky", "kind": "webhook", "url": url, "secret": "s3cret"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = api
        .post(
            "/schedules",
            serde_json::json!({"prompt": "p", "agent": "flaky", "when": "in 1s", "retry_base_secs": 1, "retry_attempts": 4}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = newest_run_in(&api, "succeeded").await;
    let html = app.get(&format!("/runs/{id}/row")).await.text().await.unwrap();
    let (summary, panel) = html.split_once("class=\"run-panel\"").unwrap();
    // Took: the last attempt's delivery (well under a second here), then the retries in words.
    assert!(summary.contains("3 attempts over "), "{summary}");
    let took = summary.split("data-label=\"Took\">").nth(1).unwrap();
    let took = took.split('<').next().unwrap().trim();
    assert!(
        took.ends_with(" ms") || took.starts_with("0."),
        "the last attempt's time, not 3 s of retrying: {took}"
    );
    assert!(
        panel.contains("<h3>Attempts</h3>") && panel.contains("503"),
        "attempts listed when retried: {panel}"
    );
}
