//! The Tasks page: quick-add, preview, groups and paging, filters, inline edit, complete,
//! delete with undo, import and export.

use crate::helpers::*;

async fn list_html(app: &TestApp, query: &str) -> String {
    let res = app.get_htmx(&format!("/tasks{query}"), "task-list").await;
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

fn task_id(html: &str, title: &str) -> String {
    let at = html
        .find(&format!("aria-label=\"Complete: {title}\""))
        .unwrap_or_else(|| panic!("{title} not in page"));
    let before = &html[..at];
    let start = before.rfind("id=\"task-").unwrap() + 9;
    before[start..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn quick_add_from_the_page_puts_the_task_in_its_group() {
    let app = logged_in_app().await;
    let res = app.post_htmx("/tasks", &[("text", "Call mom tomorrow 5pm +family @phone p1")]).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"task-list\""), "the list is answered");
    assert!(html.contains("group-upcoming"));
    assert!(html.contains(">Call mom<") || html.contains("</span>Call mom</span>"), "{html}");
    assert!(html.contains("Tomorrow 17:00"));
    assert!(html.contains("+family") && html.contains("@phone") && html.contains("prio-A"));
    assert!(html.contains("hx-swap-oob=\"true\""), "a fresh quick-add form comes along");

    // The API shows what was stored.
    let api = app.api(&app.api_token().await);
    let (_, body) = api.get("/tasks").await;
    let task = &body["tasks"][0];
    assert_eq!(task["title"], "Call mom");
    assert_eq!(task["priority"], "A");
    assert_eq!(task["projects"], serde_json::json!(["family"]));
    assert_eq!(task["contexts"], serde_json::json!(["phone"]));
    assert!(task["due"].as_str().unwrap().ends_with("T17:00:00+01:00"), "{task}");
    assert_eq!(task["created_by"], "person");
}

#[tokio::test]
async fn quick_add_errors_show_inline_and_keep_the_text() {
    let app = logged_in_app().await;
    let res = app.post_htmx("/tasks", &[("text", "Pay rent due:2027-02-30")]).await;
    assert_eq!(res.status(), 422);
    assert_eq!(res.headers()["hx-retarget"], "#quick-add");
    let html = res.text().await.unwrap();
    assert!(html.contains("due:2027-02-30"), "the message names the piece: {html}");
    assert!(html.contains("value=\"Pay rent due:2027-02-30\""), "the text is kept");
    assert!(html.contains("aria-invalid=\"true\""));

    let res = app.post_htmx("/tasks", &[("text", "   ")]).await;
    assert_eq!(res.status(), 422);
    let long = "a".repeat(5000);
    let res = app.post_htmx("/tasks", &[("text", long.as_str())]).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("4000"));

    // Without JavaScript: the whole page comes back with the error and the text.
    let res = app.post_form("/tasks", &[("text", "Lunch feb 30")]).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("<html") && html.contains("value=\"Lunch feb 30\"") && html.contains("February"));
    assert!(list_html(&app, "").await.contains("Nothing here yet"));
}

#[tokio::test]
async fn preview_shows_what_quick_add_will_create() {
    let app = logged_in_app().await;
    let html = app.get("/tasks/preview?text=Water+plants+every+3+days+%2Bhome").await.text().await.unwrap();
    assert!(
        html.contains("Will add")
            && html.contains("Water plants")
            && html.contains("every 3 days")
            && html.contains("+home"),
        "{html}"
    );
    let html = app.get("/tasks/preview?text=Lunch+feb+30").await.text().await.unwrap();
    assert!(html.contains("preview-error") && html.contains("February"), "{html}");
    let html = app.get("/tasks/preview?text=").await.text().await.unwrap();
    assert!(html.trim().is_empty());
}

#[tokio::test]
async fn hostile_titles_render_as_text() {
    let app = logged_in_app().await;
    let hostile = "<script>alert('x')</script> <img src=x onerror=alert(1)>";
    let res = app.post_htmx("/tasks", &[("text", hostile)]).await;
    assert_eq!(res.status(), 200);
    assert!(!res.text().await.unwrap().contains("<script>alert"), "the list and the toast escape it");
    let page = app.get("/tasks").await.text().await.unwrap();
    assert!(!page.contains("<script>alert"), "script tag must be escaped");
    assert!(!page.contains("<img src=x"));
    assert!(
        page.contains("&#60;script&#62;alert(") || page.contains("&lt;script&gt;alert("),
        "escaped, shown as text"
    );
}

#[tokio::test]
async fn completing_a_recurring_task_creates_the_next_and_reopen_works() {
    let app = logged_in_app().await;
    app.post_htmx("/tasks", &[("text", "Water plants every 3 days")]).await;
    let html = list_html(&app, "").await;
    let id = task_id(&html, "Water plants");
    let res = app.post_htmx(&format!("/tasks/{id}/toggle"), &[("done", "true")]).await;
    assert_eq!(res.status(), 200);
    let row = res.text().await.unwrap();
    assert!(row.contains("class=\"task done\"") && row.contains(" checked"));
    assert!(row.contains("Next “Water plants”"), "a toast names the next one: {row}");
    let html = list_html(&app, "?status=open").await;
    assert_eq!(html.matches("Complete: Water plants").count(), 1, "one new open occurrence");
    assert!(html.contains("group-upcoming"));
    // Reopen: posting without `done` unchecks it.
    let res = app.post_htmx(&format!("/tasks/{id}/toggle"), &[]).await;
    assert!(!res.text().await.unwrap().contains(" checked"));
    // Toggling is idempotent: completing twice does not create two next occurrences.
    app.post_htmx(&format!("/tasks/{id}/toggle"), &[("done", "true")]).await;
    app.post_htmx(&format!("/tasks/{id}/toggle"), &[("done", "true")]).await;
    let api = app.api(&app.api_token().await);
    let (_, all) = api.get("/tasks?status=all").await;
    assert_eq!(all["tasks"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn edit_every_field_inline_with_errors_kept() {
    let app = logged_in_app().await;
    app.post_htmx("/tasks", &[("text", "Draft report +work")]).await;
    let id = task_id(&list_html(&app, "").await, "Draft report");
    let form = app.get_htmx(&format!("/tasks/{id}/edit"), &format!("task-{id}")).await.text().await.unwrap();
    assert!(
        form.contains("name=\"title\"")
            && form.contains("value=\"Draft report\"")
            && form.contains("value=\"work\"")
    );

    let fields = [
        ("title", "Final report"),
        ("priority", "B"),
        ("due", "2030-01-15"),
        ("threshold", "2030-01-10"),
        ("recurrence", "+1m"),
        ("projects", "work q1"),
        ("contexts", "desk"),
        ("extra", "owner:sam id:7"),
    ];
    let res = app.post_htmx(&format!("/tasks/{id}"), &fields).await;
    assert_eq!(res.status(), 200);
    let row = res.text().await.unwrap();
    assert!(
        row.contains("Final report")
            && row.contains("prio-B")
            && row.contains("+q1")
            && row.contains("@desk")
    );
    assert!(row.contains("owner:sam") && row.contains("monthly"), "{row}");

    let api = app.api(&app.api_token().await);
    let (_, task) = api.get(&format!("/tasks/{id}")).await;
    assert_eq!(task["due"], "2030-01-15");
    assert_eq!(task["threshold"], "2030-01-10");
    assert_eq!(task["recurrence"], "+1m");
    assert_eq!(task["extra"], serde_json::json!({"owner": "sam", "id": "7"}));
    assert_eq!(task["projects"], serde_json::json!(["work", "q1"]));

    // A bad value re-renders the form with the message and what was typed.
    let res = app
        .post_htmx(
            &format!("/tasks/{id}"),
            &[("title", "Final report"), ("due", "2030-02-31"), ("recurrence", "+1m")],
        )
        .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("due") && html.contains("value=\"2030-02-31\""), "{html}");
    let (_, task) = api.get(&format!("/tasks/{id}")).await;
    assert_eq!(task["due"], "2030-01-15", "nothing changed");
}

#[tokio::test]
async fn delete_then_undo() {
    let app = logged_in_app().await;
    app.post_htmx("/tasks", &[("text", "Throw away")]).await;
    let id = task_id(&list_html(&app, "").await, "Throw away");
    let res = app.post_htmx(&format!("/tasks/{id}/delete"), &[]).await;
    let html = res.text().await.unwrap();
    assert!(html.contains("Deleted “Throw away”") && html.contains("Undo"));
    assert!(!list_html(&app, "").await.contains("Throw away"));
    let res = app.post_htmx(&format!("/tasks/{id}/restore"), &[]).await;
    assert_eq!(res.status(), 200);
    assert!(list_html(&app, "").await.contains("Throw away"));
    // Restoring a live task is refused with a toast.
    let res = app.post_htmx(&format!("/tasks/{id}/restore"), &[]).await;
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["hx-retarget"], "#toasts");
}

#[tokio::test]
async fn groups_filters_and_paging() {
    let app = logged_in_app().await;
    let api = app.api(&app.api_token().await);
    for i in 0..120 {
        api.post("/tasks", serde_json::json!({"text": format!("Someday item {i:03} +later")})).await;
    }
    api.post("/tasks", serde_json::json!({"text": "Old thing due:2020-01-01 @desk"})).await;
    api.post("/tasks", serde_json::json!({"text": "(B) Standup notes today"})).await;
    api.post("/tasks", serde_json::json!({"text": "Next year thing due:2099-01-01"})).await;

    let html = list_html(&app, "").await;
    for group in ["group-overdue", "group-today", "group-upcoming", "group-nodate"] {
        assert!(html.contains(group), "{group}");
    }
    assert!(html.find("group-overdue").unwrap() < html.find("group-today").unwrap());
    let slice = steward::web::tasks::SLICE as usize;
    assert_eq!(html.matches("Complete: Someday item").count(), slice, "one slice");
    let more =
        html.split("hx-get=\"/tasks/more?").nth(1).unwrap().split('"').next().unwrap().replace("&amp;", "&");
    let next = app.get_htmx(&format!("/tasks/more?{more}"), "").await.text().await.unwrap();
    assert_eq!(next.matches("Complete: Someday item").count(), slice);
    assert!(next.contains(&format!("Someday item {slice:03}")));
    assert!(next.contains("/tasks/more?"), "a third slice exists");

    // Filters narrow the list and come back in the full page's form.
    let html = list_html(&app, "?context=desk").await;
    assert!(html.contains("Old thing") && !html.contains("Someday item"));
    let html = list_html(&app, "?q=year").await;
    assert!(html.contains("Next year thing") && !html.contains("Old thing"));
    let html = list_html(&app, "?priority=B").await;
    assert!(html.contains("Standup notes") && !html.contains("Old thing"));
    let html = list_html(&app, "?project=nothing-like-this").await;
    assert!(html.contains("No tasks match"));
    let page = app.get("/tasks?project=later").await.text().await.unwrap();
    assert!(page.contains("<option value=\"later\" selected>"), "the filter is kept in the form");
    assert_eq!(app.get("/tasks?status=bogus").await.status(), 422);
}

#[tokio::test]
async fn import_and_export_on_the_page() {
    let app = logged_in_app().await;
    let file = "(A) 2026-01-05 Call the bank +money @phone due:2026-02-01\nx 2026-01-03 2026-01-01 Old done thing\n\nBad date due:2027-02-30\n";
    let res = app.upload_todotxt(file, "query").await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("Imported 3 tasks"), "{page}");
    assert!(page.contains("line 4: due:2027-02-30"), "{page}");

    let res = app.get("/tasks/export").await;
    assert_eq!(res.headers()["content-disposition"], "attachment; filename=\"todo.txt\"");
    let exported = res.text().await.unwrap();
    let expected: Vec<&str> = file.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(exported.lines().collect::<Vec<_>>(), expected);

    // An empty file is refused with a message (the same rule as the CLI's).
    let res = app.upload_todotxt("\n  \n", "query").await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("has no tasks"));

    // An upload without the CSRF token changes nothing.
    let res = app.upload_todotxt("Sneaky\n", "none").await;
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn time_zone_setting_changes_how_dates_are_read() {
    let app = logged_in_app().await;
    // A plain form goes back to /settings (303), which shows the outcome.
    let res = app.post_form("/settings/timezone", &[("timezone", "Mars/Olympus")]).await;
    assert_eq!(res.status(), 303);
    assert!(app.get("/settings").await.text().await.unwrap().contains("Mars/Olympus"));
    let res = app.post_form("/settings/timezone", &[("timezone", "America/New_York")]).await;
    assert_eq!(res.status(), 303);
    let api = app.api(&app.api_token().await);
    let (_, task) = api.post("/tasks", serde_json::json!({"text": "Call 2030-07-01 9am"})).await;
    assert!(task["due"].as_str().unwrap().ends_with("T09:00:00-04:00"), "{task}");
}

#[tokio::test]
async fn changing_the_zone_moves_timed_tasks_between_days() {
    let clock = steward::clock::FixedClock::new("2026-06-10T12:00:00Z".parse().unwrap());
    let mut app = spawn_app_at(&clock, |_| {}).await;
    app.set_up().await;
    // 23:30 UTC is already tomorrow in Berlin (01:30), but still today in New York (19:30).
    let res = app.post_htmx("/tasks", &[("text", "Late call due:2026-06-10T23:30Z")]).await;
    assert_eq!(res.status(), 200);
    let in_group = |html: &str, group: &str| {
        html.split(&format!("id=\"group-{group}\"")).nth(1).is_some_and(|g| g.contains("Late call"))
    };
    let upcoming = |html: &str| in_group(html, "upcoming");
    let html = list_html(&app, "").await;
    assert!(upcoming(&html), "tomorrow in Berlin: {html}");
    assert_eq!(app.post_form("/settings/timezone", &[("timezone", "America/New_York")]).await.status(), 303);
    let html = list_html(&app, "").await;
    assert!(in_group(&html, "today") && !upcoming(&html), "today in New York: {html}");
}
