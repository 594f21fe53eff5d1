//! Issue 16: history that stays bounded. The retention settings (page, API, validation) and
//! `/api/v1/status` staying right when history is pruned. (The pruning rules themselves are
//! unit-tested in `src/retention.rs`.)

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use serde_json::json;
use steward::clock::{Clock, FixedClock, to_ms};
use steward::db::Db;
use steward::retention::{NextDue, Retention};

use crate::helpers::{logged_in_app, spawn_app_at};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn retention_is_set_through_the_api_with_errors_naming_field_and_value() {
    let app = logged_in_app().await;
    let api = app.api(&app.api_token().await);
    let (status, body) = api.get("/settings/retention").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"runs_days": 90, "failed_days": 365, "keep_per_schedule": 100, "notifications_days": 90})
    );
    let (status, body) = api.patch("/settings/retention", json!({"runs_days": 30, "failed_days": 180})).await;
    assert_eq!(
        (status, body["runs_days"].as_i64(), body["failed_days"].as_i64()),
        (200, Some(30), Some(180))
    );
    assert_eq!(api.get("/settings/retention").await.1["keep_per_schedule"], 100, "the rest stays");

    let (status, err) = api.patch("/settings/retention", json!({"failed_days": 7})).await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("failed_days")), "{err}");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(message.contains("Days to keep failed runs") && message.contains("not 7"), "{message}");
    let (status, err) = api.patch("/settings/retention", json!({"keep_per_schedule": 5})).await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("keep_per_schedule")), "{err}");
    let (status, err) = api.patch("/settings/retention", json!({"runs_day": 5})).await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("runs_day")), "{err}");
    assert_eq!(api.get("/settings/retention").await.1["failed_days"], 180, "refused changes save nothing");

    // A setting, so admin only.
    let reader = app.api(&app.api_token_with("read").await);
    assert_eq!(reader.get("/settings/retention").await.0, 403);
}

#[tokio::test]
async fn retention_is_set_on_the_settings_page() {
    let app = logged_in_app().await;
    let html = app.get("/settings").await.text().await.unwrap();
    assert!(html.contains("id=\"retention\"") && html.contains("The database is"), "{html}");
    assert!(html.contains("name=\"runs_days\"") && html.contains("value=\"90\""), "{html}");
    let form = |runs: &'static str| {
        vec![
            ("runs_days", runs),
            ("failed_days", "365"),
            ("keep_per_schedule", "100"),
            ("notifications_days", "30"),
        ]
    };
    // htmx: the page again in place, 422 with the error next to the form and what was typed.
    let res = app.post_htmx("/settings/retention", &form("400")).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("Days to keep failed runs must be 0 (forever) or at least 400"), "{html}");
    assert!(html.contains("value=\"400\""), "{html}");
    let res = app.post_form("/settings/retention", &form("many")).await;
    assert_eq!(res.status(), 303);
    let html = app.get("/settings").await.text().await.unwrap();
    assert!(html.contains("Days to keep runs: &#34;many&#34; is not a whole number."), "{html}");
    let res = app.post_htmx("/settings/retention", &form("60")).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("History settings saved"));
    let api = app.api(&app.api_token().await);
    let (_, body) = api.get("/settings/retention").await;
    assert_eq!((body["runs_days"].as_i64(), body["notifications_days"].as_i64()), (Some(60), Some(30)));
}

#[tokio::test]
async fn status_stays_right_when_history_is_pruned() {
    let now = at("2026-12-02T12:00:00Z");
    let clock = FixedClock::new(now);
    let mut app = spawn_app_at(&clock, |c| c.scheduler = false).await;
    app.set_up().await;
    let api = app.api(&app.api_token().await);
    let db = Db::open(&app.db_path).unwrap();
    let ms = to_ms(now);
    let hour = 3_600_000i64;
    {
        let mut conn = db.conn().unwrap();
        // A schedule with 300 runs an hour apart, the newest an hour ago: every 7th failed; the
        // three newest failures are within the last day. Plus one queued run and one old
        // running one.
        conn.batch_execute(&format!(
            "INSERT INTO schedules (id, name, prompt, agent, kind, spec, tz, anchor_at, next_fire_at, created_at, updated_at)
             VALUES (90, 'hourly', 'p', 'notify', 'interval', '1h', 'UTC', 0, {next}, 0, 0);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
             INSERT INTO runs (schedule_id, idempotency_key, agent, prompt, priority, scheduled_for, state,
                               max_attempts, retry_base_secs, not_before, finished_at, created_at)
             SELECT 90, 'k' || i, 'notify', 'p', 2, {ms} - i * {hour},
                    CASE WHEN i % 7 = 0 THEN 'failed' ELSE 'succeeded' END, 1, 30, 0, {ms} - i * {hour} + 1000, 0
             FROM n;
             INSERT INTO runs (schedule_id, idempotency_key, agent, prompt, priority, scheduled_for, state,
                               max_attempts, retry_base_secs, not_before, created_at)
             VALUES (90, 'queued', 'notify', 'p', 2, {ms} - 10, 'queued', 1, 30, {ms} + 60000, 0),
                    (NULL, 'running', 'notify', 'p', 2, {ms} - 200 * 86400000, 'running', 1, 30, 0, 0);",
            next = ms + hour,
        ))
        .unwrap();
    }
    let expected = json!({
        "next_wake": "2026-12-02T12:01:00Z",
        "active_schedules": 1,
        "queued": 1,
        "running": 1,
        "failures_24h": 3,
    });
    let (status, before) = api.get("/status").await;
    assert_eq!((status, &before), (200, &expected));

    // 12 days of history, keep the last 100 (the queued run and the 99 newest): the 201 older
    // ones go, failed or not (none of them recent).
    let keep = Retention { runs_days: 1, failed_days: 2, ..Retention::default() };
    let clock: Arc<dyn Clock> = Arc::new(clock);
    let report = steward::retention::prune(&db, &clock, &keep, &NextDue::default()).await.unwrap();
    assert_eq!(report.runs, 201, "{report:?}");
    let (_, after) = api.get("/status").await;
    assert_eq!(after, expected);
    let (_, runs) = api.get("/runs?schedule=90&limit=500").await;
    assert_eq!(runs["runs"].as_array().unwrap().len(), 100);
}
