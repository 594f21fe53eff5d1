//! The Calendar page over HTTP, on a fixed clock (Monday 23 November 2026, 08:00 in Berlin):
//! the views and their ranges, quick-add and its preview, the event dialog's scopes, delete
//! with Undo, calendars and overlays, tasks ticked in place, ICS upload, and the style sheet.

use serde_json::json;
use steward::clock::FixedClock;

use crate::helpers::*;

async fn app_on_monday() -> TestApp {
    let clock = FixedClock::new("2026-11-23T07:00:00Z".parse().unwrap());
    let mut app = spawn_app_at(&clock, |_| {}).await;
    app.set_up().await;
    app
}

async fn page(app: &TestApp, path: &str) -> String {
    let res = app.get(path).await;
    assert_eq!(res.status(), 200, "{path}");
    res.text().await.unwrap()
}

/// The fixed clock's now: Monday 23 November 2026, 08:00 in Berlin.
fn monday() -> chrono::DateTime<chrono::Utc> {
    "2026-11-23T07:00:00Z".parse().unwrap()
}

/// Adds an event through the calendar service (as the API and the agent do), acting at `now`.
pub fn add_event_at(
    app: &TestApp,
    now: chrono::DateTime<chrono::Utc>,
    body: serde_json::Value,
) -> serde_json::Value {
    let db = steward::db::Db::open(&app.db_path).unwrap();
    let mut conn = db.conn().unwrap();
    let ctx =
        steward::services::Ctx { now, tz: chrono_tz::Europe::Berlin, actor: steward::services::Actor::API };
    let event = match body["text"].as_str() {
        Some(text) => steward::calendar::quickadd::create_from_text(&mut conn, &ctx, text, None),
        None => steward::calendar::service::create(&mut conn, &ctx, &serde_json::from_value(body).unwrap()),
    };
    let event = event.unwrap_or_else(|e| panic!("{e}"));
    json!({"id": event.id, "title": event.title, "start": event.start().to_api()})
}

async fn add_event(app: &TestApp, body: serde_json::Value) -> serde_json::Value {
    add_event_at(app, monday(), body)
}

#[tokio::test]
async fn views_show_their_range_and_keep_it_in_the_url() {
    let app = app_on_monday().await;
    add_event(&app, json!({"title": "Standup", "start": "2026-11-24T09:30", "end": "2026-11-24T09:45", "rrule": "FREQ=WEEKLY;COUNT=10"})).await;
    add_event(&app, json!({"title": "Call New York", "start": "2026-11-25T09:00", "end": "2026-11-25T10:00", "zone": "America/New_York"})).await;
    add_event(&app, json!({"title": "Next year", "start": "2027-06-01T09:00", "end": "2027-06-01T10:00"}))
        .await;

    let month = page(&app, "/calendar?view=month&date=2026-11-10").await;
    assert!(month.contains("November 2026"), "the title");
    assert_eq!(month.matches(">Standup<").count(), 2, "24 Nov and 1 Dec (the grid runs to 6 Dec)");
    assert!(!month.contains("Next year"), "only the visible range is read");
    // Shown in the person's zone (15:00 in Berlin), saying how it was written.
    assert!(month.contains("15:00") && month.contains("09:00 New York"), "{month}");
    assert!(month.contains(r#"href="/calendar?view=month&#38;date=2026-10-01""#), "prev");
    assert!(month.contains(r#"href="/calendar?view=month&#38;date=2026-12-01""#), "next");
    assert!(month.contains(r#"aria-label="Calendar""#) || month.contains(">Calendar</a>"), "nav link");

    let week = page(&app, "/calendar?view=week&date=2026-11-25").await;
    assert!(week.contains("23 – 29 November 2026"));
    assert_eq!(week.matches("class=\"tgrid-col").count(), 7);
    // Tuesday 09:30 = slot 114, a quarter of an hour = 3 slots.
    assert!(week.contains("tgrid-ev t-114 h-3 lane-0-1 short"), "{week}");
    assert!(week.contains("now-line t-96"), "the now-line at 08:00");
    let day = page(&app, "/calendar?view=day&date=2026-11-24").await;
    assert_eq!(day.matches("class=\"tgrid-col").count(), 1);
    assert!(day.contains("Tuesday 24 November 2026") && day.contains("Standup"));
    let agenda = page(&app, "/calendar?view=agenda&date=2026-11-23").await;
    assert!(agenda.contains("Tomorrow") && agenda.contains("Standup") && agenda.contains("Call New York"));
    // A bad date or view falls back to today's month rather than an error.
    let fallback = page(&app, "/calendar?view=nonsense&date=2026-99-99").await;
    assert!(fallback.contains("November 2026"));

    // htmx asks for the body alone.
    let res = app.get_htmx("/calendar?view=week&date=2026-11-30", "cal-body").await;
    let body = res.text().await.unwrap();
    assert!(body.starts_with("<section id=\"cal-body\"") || body.contains("<section id=\"cal-body\""));
    assert!(!body.contains("<html"), "a fragment");
}

#[tokio::test]
async fn quick_add_previews_adds_and_names_the_bad_word() {
    let mut app = app_on_monday().await;
    app.refresh_csrf().await;
    let res = app.get("/calendar/preview?text=Dentist+fri+3pm+for+1h+at+Main+St").await;
    let preview = res.text().await.unwrap();
    assert!(
        preview.contains("Dentist") && preview.contains("Fri 15:00 – 16:00") && preview.contains("Main St"),
        "{preview}"
    );
    let res = app.get("/calendar/preview?text=Standup+every+weekday+9%3A30+for+15m").await;
    assert!(res.text().await.unwrap().contains("every weekday"));
    let res = app.get("/calendar/preview?text=Call+tomorrow+9%3A00+New+York").await;
    let preview = res.text().await.unwrap();
    assert!(preview.contains("15:00") && preview.contains("09:00 New York"), "{preview}");
    let res = app.get("/calendar/preview?text=Lunch+feb+30").await;
    assert!(res.text().await.unwrap().contains("feb 30: February has no day 30"));

    let res = app.post_htmx("/calendar/events", &[("text", "Trip dec 20-27")]).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("Added “Trip” on Sun 20 Dec"), "{html}");
    let res = app.post_htmx("/calendar/events", &[("text", "Lunch feb 30")]).await;
    assert_eq!(res.status(), 422);
    assert_eq!(res.headers()["HX-Retarget"], "#quick-add");
    let html = res.text().await.unwrap();
    assert!(html.contains("February has no day 30") && html.contains("value=\"Lunch feb 30\""), "{html}");

    let month = page(&app, "/calendar?view=month&date=2026-12-01").await;
    assert_eq!(month.matches(">Trip<").count(), 8, "20 to 27 Dec");
    let agenda = page(&app, "/calendar?view=agenda&date=2026-12-20").await;
    assert_eq!(agenda.matches(">Trip<").count(), 8, "20 to 27 Dec");

    // Without JavaScript: a redirect to the day's month.
    let res = app.post_form("/calendar/events", &[("text", "Dinner tomorrow 19:00")]).await;
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn one_occurrence_is_edited_deleted_and_restored() {
    let mut app = app_on_monday().await;
    app.refresh_csrf().await;
    let made = add_event(&app, json!({"title": "Standup", "start": "2026-11-24T09:30", "end": "2026-11-24T09:45", "rrule": "FREQ=DAILY;COUNT=5"})).await;
    let id = made["id"].as_i64().unwrap().to_string();

    let dialog = page(&app, &format!("/calendar/events/{id}/edit?occurrence=2026-11-25T09:30")).await;
    assert!(
        dialog.contains("value=\"2026-11-25T09:30\"") && dialog.contains("value=\"2026-11-25T09:45\""),
        "{dialog}"
    );
    assert!(dialog.contains("This occurrence") && dialog.contains("This and following"));

    let res = app
        .post_htmx(
            &format!("/calendar/events/{id}"),
            &[
                ("title", "Standup, later"),
                ("start", "2026-11-25T10:00"),
                ("end", "2026-11-25T10:15"),
                ("zone", "Europe/Berlin"),
                ("calendar", "1"),
                ("rrule", "FREQ=DAILY;COUNT=5"),
                ("scope", "this"),
                ("occurrence", "2026-11-25T09:30"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let week = page(&app, "/calendar?view=week&date=2026-11-23").await;
    assert_eq!(week.matches(">Standup<").count(), 4);
    assert_eq!(week.matches(">Standup, later<").count(), 1);
    assert!(week.contains("t-120 h-3"), "moved to 10:00");

    // "All" from an occurrence moves the whole series by the same amount, from its own start.
    let res = app
        .post_htmx(
            &format!("/calendar/events/{id}"),
            &[
                ("title", "Standup"),
                ("start", "2026-11-26T09:00"),
                ("end", "2026-11-26T09:15"),
                ("zone", "Europe/Berlin"),
                ("calendar", "1"),
                ("rrule", "FREQ=DAILY;COUNT=5"),
                ("scope", "all"),
                ("occurrence", "2026-11-26T09:30"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let week = page(&app, "/calendar?view=week&date=2026-11-23").await;
    assert!(week.contains("t-108 h-3"), "Tuesday's standup now starts at 09:00: {week}");
    assert!(week.contains("t-120 h-3"), "Wednesday's moved one keeps 10:00");

    // Delete Thursday's occurrence; the toast's Undo puts it back.
    let res = app
        .post_htmx(
            &format!("/calendar/events/{id}/delete"),
            &[("scope", "this"), ("occurrence", "2026-11-26T09:00")],
        )
        .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("Deleted one occurrence of “Standup”") && html.contains("Undo"), "{html}");
    let week = page(&app, "/calendar?view=week&date=2026-11-23").await;
    assert_eq!(week.matches(">Standup<").count(), 3);
    let field = |name: &str| {
        let at = html.find(&format!("name=\"{name}\" value=\"")).unwrap() + name.len() + 15;
        html[at..].split('"').next().unwrap().replace("&quot;", "\"").replace("&#34;", "\"")
    };
    let (rows, rrule, exdates) = (field("rows"), field("rrule"), field("exdates"));
    let res = app
        .post_htmx(
            &format!("/calendar/events/{id}/undo"),
            &[("rows", &rows), ("rrule", &rrule), ("exdates", &exdates)],
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let week = page(&app, "/calendar?view=week&date=2026-11-23").await;
    assert_eq!(week.matches(">Standup<").count(), 4);

    // The whole series, and back.
    let res = app.post_htmx(&format!("/calendar/events/{id}/delete"), &[("scope", "all")]).await;
    let html = res.text().await.unwrap();
    assert!(html.contains("Deleted “Standup”"));
    assert_eq!(page(&app, "/calendar?view=week&date=2026-11-23").await.matches(">Standup").count(), 0);
    let rows = {
        let at = html.find("name=\"rows\" value=\"").unwrap() + 19;
        html[at..].split('"').next().unwrap().to_string()
    };
    let res = app.post_htmx(&format!("/calendar/events/{id}/undo"), &[("rows", &rows)]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(page(&app, "/calendar?view=week&date=2026-11-23").await.matches(">Standup<").count(), 4);
}

#[tokio::test]
async fn calendars_overlays_tasks_and_firings() {
    let mut app = app_on_monday().await;
    app.refresh_csrf().await;
    let res = app.post_htmx("/calendar/calendars", &[("name", "Work"), ("colour", "#ef4444")]).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let css = page(&app, "/calendar/style.css").await;
    assert!(css.contains(".cal-1 { --cal: #3b82f6; }") && css.contains("--cal: #ef4444;"), "{css}");
    assert!(css.contains(".t-96{top:33.333%}"));
    add_event(&app, json!({"title": "Review", "start": "2026-11-24T11:00", "end": "2026-11-24T12:00", "calendar": "Work"})).await;
    assert!(page(&app, "/calendar?view=week&date=2026-11-23").await.contains("Review"));

    // Hiding the calendar hides its events, and stays hidden.
    let res = app.post_htmx("/calendar/calendars/2", &[("visible", "false")]).await;
    assert_eq!(res.status(), 200);
    assert!(!page(&app, "/calendar?view=week&date=2026-11-23").await.contains("Review"));
    let res = app.post_htmx("/calendar/calendars/2", &[("name", "Office"), ("colour", "#10b981")]).await;
    assert_eq!(res.status(), 200);
    let html = page(&app, "/calendar?view=week&date=2026-11-23").await;
    assert!(html.contains("Office") && !html.contains("Review"));
    let res = app.post_htmx("/calendar/calendars/2", &[("visible", "true")]).await;
    assert_eq!(res.status(), 200);
    assert!(page(&app, "/calendar?view=week&date=2026-11-23").await.contains("Review"));
    // A name already taken is refused in words.
    let res = app.post_htmx("/calendar/calendars", &[("name", "Office"), ("colour", "#10b981")]).await;
    assert_eq!(res.status(), 422);

    // Overlays: a due task (ticked in place) and a schedule's coming firings.
    let api = app.api(&app.api_token().await);
    let (status, task) = api.post("/tasks", json!({"text": "Pay the rent on wed"})).await;
    assert_eq!(status, 201);
    let (status, _) = api
        .post(
            "/schedules",
            json!({"name": "Morning digest", "prompt": "Summarise", "cron": "0 8 * * *", "agent": "notify"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = api
        .post("/schedules", json!({"name": "Every minute", "prompt": "Ping", "cron": "* * * * *", "agent": "notify", "skip_validation": true}))
        .await;
    assert!(status == 201 || status == 422, "{status}");
    let week = page(&app, "/calendar?view=week&date=2026-11-23").await;
    assert!(week.contains("Pay the rent"));
    assert!(week.matches("Morning digest").count() >= 6, "tomorrow to Sunday at 08:00");
    assert!(!week.contains("2026-11-22"), "not before the week");
    if status == 201 {
        assert!(week.contains("Every minute ×"), "a frequent schedule is folded per day");
    }
    // A month cell lists the person's events before the overlays.
    let month = page(&app, "/calendar?view=month&date=2026-11-23").await;
    let cell = month
        .split("New event on Tuesday 24 November")
        .nth(1)
        .unwrap()
        .split("role=\"gridcell\"")
        .next()
        .unwrap();
    let (review, digest) = (cell.find("Review").unwrap(), cell.find("Morning digest").unwrap());
    assert!(review < digest, "the 11:00 event before the 08:00 firing: {cell}");
    let task_id = task["id"].as_i64().unwrap();
    let res = app.post_htmx(&format!("/calendar/tasks/{task_id}/toggle"), &[]).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Completed “Pay the rent”"));
    let (_, t) = api.get(&format!("/tasks/{task_id}")).await;
    assert_eq!(t["status"], "done", "{t}");

    let res = app.post_htmx("/calendar/overlays", &[("overlay", "prompts"), ("on", "false")]).await;
    assert_eq!(res.status(), 200);
    let res = app.post_htmx("/calendar/overlays", &[("overlay", "tasks"), ("on", "false")]).await;
    assert_eq!(res.status(), 200);
    let week = page(&app, "/calendar?view=week&date=2026-11-23").await;
    assert!(!week.contains("Morning digest") && !week.contains("Pay the rent"));
    let res = app.post_htmx("/calendar/overlays", &[("overlay", "weather"), ("on", "true")]).await;
    assert_eq!(res.status(), 422);
}

#[tokio::test]
async fn an_ics_upload_reports_what_it_did() {
    let mut app = app_on_monday().await;
    app.refresh_csrf().await;
    let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n\
BEGIN:VEVENT\r\nUID:a@test\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:20261125T140000Z\r\nDTEND:20261125T150000Z\r\nSUMMARY:Imported one\r\nEND:VEVENT\r\n\
BEGIN:VTODO\r\nUID:todo@test\r\nSUMMARY:A task\r\nEND:VTODO\r\n\
END:VCALENDAR\r\n";
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::text(ics).file_name("cal.ics"))
        .text("calendar", "1");
    let res = app
        .client
        .post(app.url("/calendar/import"))
        .header("Origin", &app.address)
        .header("X-CSRF-Token", &app.csrf)
        .header("HX-Request", "true")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("<strong>1</strong> imported"), "{html}");
    assert!(html.contains("todo@test"), "the skipped VTODO is named: {html}");
    assert!(page(&app, "/calendar?view=week&date=2026-11-23").await.contains("Imported one"));
}

#[tokio::test]
async fn the_api_takes_quick_add_text() {
    let app = app_on_monday().await;
    let api = app.api(&app.api_token().await);
    let (status, e) = api.post("/events", json!({"text": "Dentist fri 3pm for 1h at Main St"})).await;
    assert_eq!(status, 201, "{e}");
    assert_eq!(
        (
            e["title"].as_str(),
            e["start"].as_str(),
            e["end"].as_str(),
            e["location"].as_str(),
            e["zone"].as_str()
        ),
        (
            Some("Dentist"),
            Some("2026-11-27T15:00"),
            Some("2026-11-27T16:00"),
            Some("Main St"),
            Some("Europe/Berlin")
        )
    );
    let (status, e) = api.post("/events", json!({"text": "Standup every weekday 9:30 for 15m"})).await;
    assert_eq!(status, 201, "{e}");
    assert_eq!(e["rrule"], "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR");
    let (status, e) = api.post("/events", json!({"text": "Trip dec 20-27"})).await;
    assert_eq!(status, 201, "{e}");
    assert_eq!(
        (e["all_day"].as_bool(), e["start"].as_str(), e["end"].as_str()),
        (Some(true), Some("2026-12-20"), Some("2026-12-28"))
    );
    let (status, e) = api.post("/events", json!({"text": "Call tomorrow 9:00 New York"})).await;
    assert_eq!(status, 201, "{e}");
    assert_eq!(
        (e["start"].as_str(), e["zone"].as_str()),
        (Some("2026-11-24T09:00"), Some("America/New_York"))
    );

    let (status, e) = api.post("/events", json!({"text": "Lunch feb 30"})).await;
    assert_eq!(status, 422, "{e}");
    assert_eq!(e["error"]["field"], "text");
    assert!(
        e["error"]["message"].as_str().unwrap().to_lowercase().contains("feb 30: february has no day 30"),
        "{e}"
    );
    let (status, e) = api.post("/events", json!({"text": "Dentist"})).await;
    assert_eq!(status, 422, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("needs a day or a time"), "{e}");
    let (status, _) = api.post("/events", json!({"text": "Dentist fri 3pm", "title": "x"})).await;
    assert_eq!(status, 422);
}

#[test]
fn the_cli_adds_an_event_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_steward"))
            .arg("--db")
            .arg(&db)
            .args(args)
            .env("STEWARD_TIMEZONE", "Europe/Berlin")
            .output()
            .unwrap()
    };
    let out = run(&["event", "add", "Dentist fri 3pm for 1h at Main St", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((e["title"].as_str(), e["location"].as_str()), (Some("Dentist"), Some("Main St")));
    assert!(
        e["start"].as_str().unwrap().ends_with("T15:00") && e["end"].as_str().unwrap().ends_with("T16:00"),
        "{e}"
    );
    // Unquoted words work too; the calendar flag goes with them.
    let out =
        run(&["event", "add", "Standup", "every", "weekday", "9:30", "for", "15m", "--calendar", "Personal"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.starts_with("Added #2")
            && said.contains("Standup")
            && said.contains("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"),
        "{said}"
    );
    // A word that cannot be a date is named; words and fields together are refused.
    let out = run(&["event", "add", "Lunch feb 30"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).to_lowercase().contains("february has no day 30"));
    let out = run(&["event", "add", "Lunch tomorrow", "--title", "Lunch"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not both"));
}

#[tokio::test]
async fn a_click_on_an_empty_slot_starts_an_event_there() {
    let mut app = app_on_monday().await;
    app.refresh_csrf().await;
    let form = page(&app, "/calendar/new?start=2026-11-24T14:00").await;
    assert!(
        form.contains("New event")
            && form.contains("value=\"2026-11-24T14:00\"")
            && form.contains("value=\"2026-11-24T15:00\""),
        "{form}"
    );
    assert!(form.contains("value=\"Europe/Berlin\""));
    let res = app
        .post_htmx(
            "/calendar/events",
            &[
                ("title", "Coffee with Ana"),
                ("start", "2026-11-24T14:00"),
                ("end", "2026-11-24T14:30"),
                ("zone", "Europe/Berlin"),
                ("calendar", "1"),
                ("location", "Café Roma"),
                ("categories", "friends, coffee"),
                ("notes", "Bring the book"),
                ("rrule", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let week = page(&app, "/calendar?view=week&date=2026-11-24").await;
    assert!(week.contains("Coffee with Ana") && week.contains("t-168 h-6"), "14:00 for half an hour");
    // A day cell of the month starts an all-day event; the form's end is the last day.
    let form = page(&app, "/calendar/new?start=2026-11-26").await;
    assert!(form.contains("type=\"date\" name=\"start\" value=\"2026-11-26\""), "{form}");
    let res = app
        .post_htmx(
            "/calendar/events",
            &[
                ("title", "Conference"),
                ("all_day", "on"),
                ("start", "2026-11-26"),
                ("end", "2026-11-27"),
                ("calendar", "1"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let agenda = page(&app, "/calendar?view=agenda&date=2026-11-23").await;
    assert_eq!(agenda.matches(">Conference<").count(), 2, "Thursday and Friday");
    // Its dialog shows Friday as its last day again.
    let dialog = page(&app, "/calendar/events/2/edit").await;
    assert!(dialog.contains("Conference"));
    assert!(dialog.contains("name=\"end\" value=\"2026-11-27\""), "{dialog}");
    // A bad field is refused in words, nothing is added.
    let res = app
        .post_htmx("/calendar/events", &[("title", "Bad"), ("start", "tomorrow-ish"), ("calendar", "1")])
        .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().to_lowercase().contains("start"));
}

#[tokio::test]
async fn a_moved_occurrence_opens_with_its_series_choices() {
    let mut app = app_on_monday().await;
    app.refresh_csrf().await;
    let made = add_event(&app, json!({"title": "Standup", "start": "2026-11-24T09:30", "end": "2026-11-24T09:45", "rrule": "FREQ=DAILY;COUNT=5"})).await;
    let id = made["id"].as_i64().unwrap().to_string();
    let fields = |title: &'static str,
                  start: &'static str,
                  end: &'static str,
                  scope: &'static str,
                  occurrence: &'static str| {
        vec![
            ("title", title),
            ("start", start),
            ("end", end),
            ("zone", "Europe/Berlin"),
            ("calendar", "1"),
            ("rrule", "FREQ=DAILY;COUNT=5"),
            ("scope", scope),
            ("occurrence", occurrence),
        ]
    };
    let res = app
        .post_htmx(
            &format!("/calendar/events/{id}"),
            &fields("Standup, later", "2026-11-25T10:00", "2026-11-25T10:15", "this", "2026-11-25T09:30"),
        )
        .await;
    assert_eq!(res.status(), 200);
    // The week links the moved one to its own row, with its original start.
    let week = page(&app, "/calendar?view=week&date=2026-11-23").await;
    let at = week.find("Standup, later").unwrap();
    let link = week[..at].rfind("/calendar/events/").unwrap();
    let href = week[link..].split('"').next().unwrap().replace("&#38;", "&");
    let dialog = page(&app, &href).await;
    assert!(dialog.contains("This and following") && dialog.contains("FREQ=DAILY;COUNT=5"), "{dialog}");
    assert!(dialog.contains("value=\"2026-11-25T10:00\""), "its own moved time");
    // "All" from it renames the series and keeps every time as it was.
    let occurrence =
        dialog.split("name=\"occurrence\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    assert_eq!(occurrence, "2026-11-25T09:30");
    let override_id = href.split('/').nth(3).unwrap().to_string();
    let res = app
        .post_htmx(
            &format!("/calendar/events/{override_id}"),
            &fields("Daily sync", "2026-11-25T10:00", "2026-11-25T10:15", "all", "2026-11-25T09:30"),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let week = page(&app, "/calendar?view=week&date=2026-11-23").await;
    assert!(week.contains("t-114 h-3"), "the others still at 09:30: {week}");
    assert_eq!(week.matches("class=\"tgrid-ev").count(), 5, "no occurrence lost or doubled");
}
