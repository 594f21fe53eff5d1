//! The holes an attack pass found (issue 12): where `next` may lead after login, bounded
//! notifications and live events, slow request bodies, long searches, the chat's Markdown
//! allowlist (unit-tested in `chat::markdown`) and the API's answer to a bad path parameter.

use crate::helpers::*;

#[tokio::test]
async fn after_login_next_never_leaves_steward() {
    let mut app = spawn_app().await;
    app.set_up().await;
    // As the form sends them (decoded once): a tab or newline that browsers drop, a backslash
    // they read as a slash, another host, a scheme.
    for (next, expected) in [
        ("/settings", "/settings"),
        ("/tasks?q=milk", "/tasks?q=milk"),
        ("/\t/evil.example", "/tasks"),
        ("/\n/evil.example", "/tasks"),
        ("/\r\nSet-Cookie: a=b", "/tasks"),
        ("/\\evil.example", "/tasks"),
        ("/\\/evil.example", "/tasks"),
        ("//evil.example", "/tasks"),
        ("https://evil.example/", "/tasks"),
        ("javascript:alert(1)", "/tasks"),
    ] {
        let res = client()
            .post(app.url("/login"))
            .header("Origin", &app.address)
            .form(&[("password", PASSWORD), ("next", next)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "{next:?}");
        assert_eq!(res.headers()["location"], expected, "{next:?}");
    }
    // The login page carries `next` into its form only when it is local.
    for query in ["next=/%09/evil.example", "next=/%0a", "next=/%5Cevil", "next=//evil", "next=https://evil"]
    {
        let res = client().get(app.url(&format!("/login?{query}"))).send().await.unwrap();
        assert_eq!(res.status(), 200, "{query}");
        let page = res.text().await.unwrap();
        assert!(page.contains("name=\"next\" value=\"/tasks\""), "{query}: {page}");
    }
}

#[tokio::test]
async fn a_search_of_too_many_words_is_refused_in_words() {
    let app = logged_in_app().await;
    let api = app.api(&app.api_token().await);
    assert_eq!(api.post("/tasks", serde_json::json!({"text": "w1 w2 w3 milk"})).await.0, 201);
    let words = |n: usize| (1..=n).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ");
    // 32 words is a search (and may find nothing).
    let (status, body) = api.get(&format!("/tasks?q={}", words(32).replace(' ', "+"))).await;
    assert_eq!(status, 200, "{body}");
    // 1,001 words was a 500 (SQLite's expression depth); now a 422 that says why.
    let many = words(1001).replace(' ', "+");
    let (status, body) = api.get(&format!("/tasks?q={many}")).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "q");
    assert_eq!(
        body["error"]["message"],
        "A search takes at most 32 words, and this one has 1001; leave some out."
    );
    // The page says it under the search box, as a page and as htmx's list.
    for res in [
        app.get(&format!("/tasks?q={many}")).await,
        app.get_htmx(&format!("/tasks?q={many}"), "task-list").await,
    ] {
        assert_eq!(res.status(), 200);
        let page = res.text().await.unwrap();
        assert!(
            page.contains("role=\"alert\">A search takes at most 32 words, and this one has 1001"),
            "{page}"
        );
    }
}

#[tokio::test]
async fn a_bad_path_parameter_under_the_api_answers_json() {
    let app = logged_in_app().await;
    let api = app.api(&app.api_token().await);
    for path in [
        "/tasks/abc",
        "/tasks/-1x",
        "/tasks/99999999999999999999",
        "/tasks/abc/complete",
        "/runs/-1x",
        "/schedules/abc",
        "/schedules/abc/run",
        "/conversations/x",
        "/tasks/%ff",
        "/tasks/%00",
        "/tasks/1.5",
        "/runs/%20",
        "/tasks/1%2F2",
        "/agents/%ff",
        "/agents/%ff/check",
    ] {
        let res = api.client.get(format!("{}{path}", api.base)).send().await.unwrap();
        let status = res.status().as_u16();
        let kind = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
        let (_, body) = read(res).await;
        assert!((400..500).contains(&status), "{path}: {status} {body}");
        assert_eq!(kind.as_deref(), Some("application/json"), "{path}: {body}");
        assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string(), "{path}: {body}");
    }
}
