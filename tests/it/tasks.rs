//! The Tasks page: quick-add, preview, groups and paging, filters, inline edit, complete,
//! delete with undo, import and export.

use crate::helpers::*;

async fn list_html(app: &TestApp, query: &str) -> String {
    let res = app.get_htmx(&format!("/tasks{query}"), "task-list").await;
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

/// An htmx post from the Tasks page at `page` (htmx names it in `HX-Current-URL`).
async fn post_from(app: &TestApp, page: &str, path: &str, form: &[(&str, &str)]) -> String {
    let res = app
        .client
        .post(app.url(path))
        .header("Origin", &app.address)
        .header("X-CSRF-Token", &app.csrf)
        .header("HX-Request", "true")
        .header("HX-Current-URL", app.url(page))
        .form(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{path}");
    res.text().await.unwrap()
}

/// The part of a list's HTML that is one group's rows (empty when the group is not shown).
fn group<'a>(html: &'a str, slug: &str) -> &'a str {
    html.split(&format!("id=\"group-{slug}\"")).nth(1).map_or("", |g| g.split("</ul>").next().unwrap_or(""))
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
    let list = res.text().await.unwrap();
    assert!(list.contains("id=\"count-done\">1<"), "it moved to Done: {list}");
    assert!(list.contains("Next “Water plants”"), "a toast names the next one: {list}");
    let html = list_html(&app, "?status=open").await;
    assert_eq!(html.matches("Complete: Water plants").count(), 1, "one new open occurrence");
    assert!(html.contains("group-upcoming"));
    // Reopen: posting without `done` reopens it.
    let res = app.post_htmx(&format!("/tasks/{id}/toggle"), &[]).await;
    let list = res.text().await.unwrap();
    assert!(list.contains("Reopened “Water plants”") && !list.contains("count-done"), "{list}");
    // Without JavaScript the row's button says what to do, and the answer is a redirect.
    let res = app.post_form(&format!("/tasks/{id}/toggle"), &[("set", "true")]).await;
    assert_eq!(res.status(), 303);
    assert!(list_html(&app, "?status=done").await.contains("Reopen: Water plants"));
    app.post_form(&format!("/tasks/{id}/toggle"), &[("set", "false")]).await;
    // Toggling is idempotent: completing twice does not create two next occurrences.
    app.post_htmx(&format!("/tasks/{id}/toggle"), &[("done", "true")]).await;
    app.post_htmx(&format!("/tasks/{id}/toggle"), &[("done", "true")]).await;
    let api = app.api(&app.api_token().await);
    let (_, all) = api.get("/tasks?status=all").await;
    // The first, and one next occurrence for each of the three completions.
    assert_eq!(all["tasks"].as_array().unwrap().len(), 4);
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

/// Open pages (Today) hear of every change made on the Tasks page: edit, delete, undo.
#[tokio::test]
async fn edits_deletes_and_undos_reach_open_pages() {
    let app = logged_in_app().await;
    app.post_htmx("/tasks", &[("text", "Live one")]).await;
    let id = task_id(&list_html(&app, "").await, "Live one");
    let mut events = app.get("/events").await;
    let changed = format!("{{\"type\":\"tasks_changed\",\"id\":{id}}}");
    app.post_htmx(&format!("/tasks/{id}"), &[("title", "Live one, renamed")]).await;
    read_until(&mut events, &["event: tasks", &changed], 10).await;
    app.post_htmx(&format!("/tasks/{id}/delete"), &[]).await;
    read_until(&mut events, &["event: tasks", &changed], 10).await;
    app.post_htmx(&format!("/tasks/{id}/restore"), &[]).await;
    read_until(&mut events, &["event: tasks", &changed], 10).await;
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
    let mut app = logged_in_app().await;
    let file = "(A) 2026-01-05 Call the bank +money @phone due:2026-02-01\nx 2026-01-03 2026-01-01 Old done thing\n\nBad date due:2027-02-30\n";
    // A plain form: the token is a hidden field in the body, and the answer is a redirect to
    // the page, which says what happened (a reload does not import again).
    let res = app.upload_todotxt(file, "field").await;
    assert_eq!(res.status(), 303);
    let to = res.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(to, "/tasks?imported=3&unreadable=1");
    let page = app.get(&to).await.text().await.unwrap();
    assert!(page.contains("Imported 3 tasks"), "{page}");
    assert!(page.contains("1 value could not be read"), "{page}");

    let res = app.get("/tasks/export").await;
    assert_eq!(res.headers()["content-disposition"], "attachment; filename=\"todo.txt\"");
    let exported = res.text().await.unwrap();
    let expected: Vec<&str> = file.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(exported.lines().collect::<Vec<_>>(), expected);

    // An empty file is refused with a message (the same rule as the CLI's).
    let res = app.upload_todotxt("\n  \n", "field").await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("has no tasks"));
    let res = app.upload_todotxt("\n  \n", "header").await;
    assert_eq!(res.status(), 422);
    assert_eq!(res.headers()["hx-retarget"], "#toasts");

    // An upload without the CSRF token changes nothing; nor does one with the token in the URL.
    let res = app.upload_todotxt("Sneaky\n", "none").await;
    assert_eq!(res.status(), 403);
    let res = app.upload_todotxt("Sneaky\n", "query").await;
    assert_eq!(res.status(), 403);
    app.refresh_csrf().await;
    assert!(!list_html(&app, "").await.contains("Sneaky"));
}

#[tokio::test]
async fn no_token_in_a_url_and_an_htmx_import_answers_its_report_with_the_list() {
    let app = logged_in_app().await;
    let page = app.get("/tasks").await.text().await.unwrap();
    assert!(!page.contains("csrf_token="), "no token in a form's action or a link");
    assert!(page.contains("hx-encoding=\"multipart/form-data\""), "htmx sends the import");

    let file = "Call the bank +money @phone\nBad date due:2027-02-30\n";
    let res = app.upload_todotxt(file, "header").await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.starts_with("<div id=\"import-report\">"), "the report replaces its place: {html}");
    assert!(html.contains("Imported 2 tasks") && html.contains("line 2: due:2027-02-30"), "{html}");
    // The list and the filter menus come along out of band, with what was imported.
    assert!(html.contains("id=\"task-list\" class=\"task-list\" hx-swap-oob=\"true\""), "{html}");
    assert!(html.contains("Complete: Call the bank"));
    assert!(html.contains("<option value=\"money\">+money</option>"), "{html}");
}

#[tokio::test]
async fn every_action_answers_lists_and_counts_that_agree_with_the_store() {
    let app = logged_in_app().await;
    app.post_htmx("/tasks", &[("text", "Water plants today every 3 days +home")]).await;
    app.post_htmx("/tasks", &[("text", "Throw away +junk")]).await;
    app.post_htmx("/tasks", &[("text", "Keep this")]).await;
    let html = list_html(&app, "").await;
    let (water, junk, keep) =
        (task_id(&html, "Water plants"), task_id(&html, "Throw away"), task_id(&html, "Keep this"));
    assert!(group(&html, "today").contains("Water plants"));

    // Completing a recurring task: it leaves Today for Done, the next one is in Upcoming.
    let list = post_from(&app, "/tasks", &format!("/tasks/{water}/toggle"), &[("done", "true")]).await;
    assert!(list.starts_with("<div id=\"task-list\""), "the whole list is answered: {list}");
    assert!(!group(&list, "today").contains("Water plants"), "{list}");
    assert!(group(&list, "upcoming").contains("Complete: Water plants"), "{list}");
    assert!(list.contains("id=\"count-upcoming\">1<") && list.contains("id=\"count-done\">1<"), "{list}");

    // Deleting: the row says so (with Undo) and its group's count follows, out of band; the
    // project it alone used leaves the filter menu.
    let res = post_from(&app, "/tasks", &format!("/tasks/{junk}/delete"), &[]).await;
    assert!(res.contains("Deleted “Throw away”"));
    assert!(res.contains("<span class=\"count\" id=\"count-nodate\" hx-swap-oob=\"true\">1</span>"), "{res}");
    assert!(
        res.contains("id=\"facet-project\" hx-swap-oob=\"true\"") && !res.contains("+junk</option>"),
        "{res}"
    );
    // Under a filter, the count is the filtered one.
    let res = post_from(&app, "/tasks?q=Keep", &format!("/tasks/{keep}/delete"), &[]).await;
    assert!(res.contains("id=\"count-nodate\" hx-swap-oob=\"true\">0<"), "{res}");

    // Undo puts it back in its group.
    let list = post_from(&app, "/tasks", &format!("/tasks/{junk}/restore"), &[]).await;
    assert!(
        group(&list, "nodate").contains("Throw away") && list.contains("id=\"count-nodate\">1<"),
        "{list}"
    );
    assert!(list.contains("+junk</option>"), "its project is back in the menu");
    post_from(&app, "/tasks", &format!("/tasks/{keep}/restore"), &[]).await;

    // An edit that changes the due date moves the task to its new group.
    let list =
        post_from(&app, "/tasks", &format!("/tasks/{keep}"), &[("title", "Keep this"), ("due", "tomorrow")])
            .await;
    assert!(group(&list, "upcoming").contains("Keep this") && !group(&list, "nodate").contains("Keep this"));
    assert!(list.contains("id=\"count-upcoming\">2<"), "{list}");

    // The list answered is the one the person looks at: the page's filters apply.
    let list = post_from(&app, "/tasks?status=open&q=plants", &format!("/tasks/{water}/toggle"), &[]).await;
    assert!(!list.contains("group-done") && !list.contains("Keep this"), "{list}");
    assert_eq!(list.matches("Complete: Water plants").count(), 2, "reopened, and the next one");
}

#[tokio::test]
async fn the_edit_form_shows_the_due_in_local_words_and_says_what_it_accepts() {
    let app = logged_in_app().await;
    app.post_htmx("/tasks", &[("text", "Call mom due:2026-12-03T17:00Z")]).await;
    let id = task_id(&list_html(&app, "").await, "Call mom");
    let form = app.get_htmx(&format!("/tasks/{id}/edit"), &format!("task-{id}")).await.text().await.unwrap();
    // 17:00 UTC is 18:00 in Berlin, the person's zone.
    assert!(form.contains("name=\"due\" value=\"2026-12-03 18:00\""), "{form}");
    assert!(!form.contains("2026-12-03T17:00"), "not RFC 3339: {form}");
    assert!(form.contains("fri 5pm") && form.contains("Europe/Berlin"), "a hint says what it accepts");
    assert!(form.contains("type=\"date\"") && form.contains("value=\"2026-12-03\""), "a date picker");

    // Saved with the due left as shown, the task's line keeps its value exactly.
    post_from(
        &app,
        "/tasks",
        &format!("/tasks/{id}"),
        &[("title", "Call mum"), ("due", "2026-12-03 18:00"), ("due_was", "2026-12-03 18:00")],
    )
    .await;
    let exported = app.get("/tasks/export").await.text().await.unwrap();
    assert!(exported.contains("Call mum due:2026-12-03T17:00+00:00"), "{exported}");
    // Words are read in the person's zone.
    post_from(
        &app,
        "/tasks",
        &format!("/tasks/{id}"),
        &[("title", "Call mum"), ("due", "2030-01-04 5pm"), ("due_was", "2026-12-03 18:00")],
    )
    .await;
    let form = app.get_htmx(&format!("/tasks/{id}/edit"), &format!("task-{id}")).await.text().await.unwrap();
    assert!(form.contains("value=\"2030-01-04 17:00\""), "{form}");
}

#[tokio::test]
async fn a_lone_sigil_is_text_everywhere() {
    let app = logged_in_app().await;
    let res = app.post_htmx("/tasks", &[("text", "Buy bread + @ today")]).await;
    assert_eq!(res.status(), 200);
    let file = "Fix C++ build ++ @@ +@ @+ +home\n(B) Sum a + b @ 5pm\n";
    assert_eq!(app.upload_todotxt(file, "field").await.status(), 303);

    let page = app.get("/tasks").await.text().await.unwrap();
    let menus =
        page.split("id=\"filter-project\"").nth(1).unwrap().split("id=\"filter-priority\"").next().unwrap();
    let options: Vec<&str> =
        menus.split("<option value=\"").skip(1).map(|o| o.split('"').next().unwrap()).collect();
    assert_eq!(options, ["", "home", ""], "only real projects and contexts are offered: {menus}");
    assert!(page.contains("Buy bread + @"), "the title keeps the sigils: {page}");

    let api = app.api(&app.api_token().await);
    let (_, body) = api.get("/tasks").await;
    let projects: Vec<_> = body["tasks"].as_array().unwrap().iter().map(|t| t["projects"].clone()).collect();
    assert_eq!(projects, [serde_json::json!([]), serde_json::json!(["home"]), serde_json::json!([])]);
    // The imported lines come back exactly as written.
    let exported = app.get("/tasks/export").await.text().await.unwrap();
    for line in file.lines() {
        assert!(exported.lines().any(|l| l == line), "{line} round-trips: {exported}");
    }
    // The edit form does not take a sigil alone as a name.
    let id = body["tasks"][0]["id"].to_string();
    let res = app.post_htmx(&format!("/tasks/{id}"), &[("title", "Buy bread + @"), ("projects", "@")]).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("needs a letter or a digit"));
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
