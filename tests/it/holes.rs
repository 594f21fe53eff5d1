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
        ("/\t/evil.example", "/"),
        ("/\n/evil.example", "/"),
        ("/\r\nSet-Cookie: a=b", "/"),
        ("/\\evil.example", "/"),
        ("/\\/evil.example", "/"),
        ("//evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
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
        assert!(page.contains("name=\"next\" value=\"/\""), "{query}: {page}");
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

/// Calls the `notify` tool over MCP, as an outside agent would.
async fn notify(app: &TestApp, token: &str, title: &str, body: &str) -> serde_json::Value {
    let call = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": "notify", "arguments": { "title": title, "body": body } },
    });
    let res = reqwest::Client::new()
        .post(app.url("/mcp"))
        .bearer_auth(token)
        .header("Accept", "application/json, text/event-stream")
        .json(&call)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let answer: serde_json::Value = res.json().await.unwrap();
    let text = answer["result"]["content"][0]["text"].as_str().unwrap_or_default().to_string();
    serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
}

#[tokio::test]
async fn notifications_are_capped_and_say_where() {
    let app = logged_in_app().await;
    let token = app.api_token().await;
    // 900 KB was accepted whole; 300 of them made a 179 MB page.
    let answer = notify(&app, &token, &"T".repeat(5000), &"b".repeat(900 * 1024)).await;
    assert_eq!(
        answer["cut"],
        "The title was cut to 200 characters, and the body was 900 KB; only its first 10 KB were kept.",
        "{answer}"
    );
    assert_eq!(
        notify(&app, &token, "Backup done", "All fine.").await,
        serde_json::json!({"id": 2, "sent": true})
    );
    let db = steward::db::Db::open(&app.db_path).unwrap();
    let mut conn = db.conn().unwrap();
    let (list, _) = steward::notifications::page(&mut conn, 1).unwrap();
    let big = list.iter().find(|n| n.id == 1).unwrap();
    assert_eq!(big.title.chars().count(), 200);
    assert!(big.title.ends_with('…'));
    assert!(big.body.len() <= 10 * 1024, "{}", big.body.len());
    assert!(big.body.ends_with("[Cut: the whole message was 900 KB; a notification keeps the first 10 KB.]"));
    let page = app.get("/notifications").await.text().await.unwrap();
    assert!(page.len() < 40 * 1024, "{} bytes", page.len());
    assert!(page.contains("a notification keeps the first 10 KB."));
}

#[tokio::test]
async fn the_notifications_page_is_paged() {
    let app = logged_in_app().await;
    let db = steward::db::Db::open(&app.db_path).unwrap();
    let mut conn = db.conn().unwrap();
    for i in 1..=120 {
        let n = steward::notifications::NewNotification {
            title: format!("Note {i}"),
            body: String::new(),
            level: "info",
            run_id: None,
            schedule_id: None,
            ..Default::default()
        };
        steward::notifications::add(&mut conn, &n, chrono::Utc::now()).unwrap();
    }
    let titles = |page: &str| -> Vec<String> {
        page.split("<strong class=\"title\">")
            .skip(1)
            .map(|s| s.split('<').next().unwrap().to_string())
            .collect()
    };
    let first = app.get("/notifications").await.text().await.unwrap();
    let shown = titles(&first);
    assert_eq!(shown.len(), 50);
    assert_eq!((shown[0].as_str(), shown[49].as_str()), ("Note 120", "Note 71"));
    assert!(first.contains("Page 1 of 3") && first.contains("href=\"/notifications?page=2\""), "{first}");
    assert!(!first.contains("rel=\"prev\""));
    let second = app.get("/notifications?page=2").await.text().await.unwrap();
    assert_eq!(titles(&second).first().map(String::as_str), Some("Note 70"));
    assert!(
        second.contains("rel=\"prev\" href=\"/notifications\"") && second.contains("?page=3"),
        "{second}"
    );
    // Past the end (or nonsense) shows the last (or first) page rather than an empty one.
    for (query, first_title, page) in [
        ("?page=3", "Note 20", "Page 3 of 3"),
        ("?page=99", "Note 20", "Page 3 of 3"),
        ("?page=x", "Note 120", "Page 1 of 3"),
    ] {
        let html = app.get(&format!("/notifications{query}")).await.text().await.unwrap();
        assert_eq!(titles(&html).first().map(String::as_str), Some(first_title), "{query}");
        assert!(html.contains(page), "{query}");
    }
    let last = app.get("/notifications?page=3").await.text().await.unwrap();
    assert_eq!(titles(&last).len(), 20);
    assert!(!last.contains("rel=\"next\""));
}

/// A live notification carries its title and the start of its body (what a toast shows), so
/// the hub, which keeps a bounded number of events for clients that do not read (unit-tested in
/// `web::events`), stays small: one client that never read pushed the server from 42 to 309 MB.
#[tokio::test]
async fn a_live_notification_carries_only_the_start_of_its_body() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = logged_in_app().await;
    let token = app.api_token().await;
    let login = app.login(PASSWORD).await;
    let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let address = app.address.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let request = format!("GET /events HTTP/1.1\r\nHost: {address}\r\nCookie: {cookie}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

    notify(&app, &token, "Report", &"word ".repeat(180_000)).await;
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !String::from_utf8_lossy(&seen).contains("level") {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf)).await.expect("the event").unwrap();
        assert!(n > 0);
        seen.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&seen);
    let data = text.lines().find(|l| l.starts_with("data:") && l.contains("Report")).unwrap();
    assert!(data.len() < 600, "{} bytes: {data}", data.len());
    assert!(data.contains("word word") && data.contains("…"), "{data}");
}

/// Sends a request's head and then its body a byte every 300 ms (chunked or with a length), as
/// the attack pass's slow clients did; returns what came back, how long the answer took, and
/// whether the server closed the connection.
async fn trickle(
    address: &str,
    path: &str,
    headers: &str,
    chunked: bool,
) -> (String, std::time::Duration, bool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let framing =
        if chunked { "Transfer-Encoding: chunked".to_string() } else { "Content-Length: 400".to_string() };
    let head = format!("POST {path} HTTP/1.1\r\nHost: {address}\r\n{headers}{framing}\r\n\r\n");
    writer.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let sending = tokio::spawn(async move {
        for _ in 0..400 {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let piece: &[u8] = if chunked { b"1\r\nx\r\n" } else { b"x" };
            if writer.write_all(piece).await.is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let mut answered = None;
    let mut closed = false;
    let give_up = tokio::time::Instant::now() + std::time::Duration::from_secs(8);
    while let Ok(read) = tokio::time::timeout_at(give_up, reader.read(&mut buf)).await {
        match read {
            Ok(0) | Err(_) => {
                closed = true;
                break;
            }
            Ok(n) => {
                answered.get_or_insert_with(|| started.elapsed());
                seen.extend_from_slice(&buf[..n]);
            }
        }
    }
    sending.abort();
    (String::from_utf8_lossy(&seen).into_owned(), answered.unwrap_or_else(|| started.elapsed()), closed)
}

#[tokio::test]
async fn slow_request_bodies_time_out() {
    let mut app = spawn_app_with(|c| {
        c.body_timeout_public_secs = 1;
        c.body_timeout_secs = 3;
    })
    .await;
    app.set_up().await;
    let token = app.api_token().await;
    let login = app.login(PASSWORD).await;
    let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let page = client().get(app.url("/tasks")).header("Cookie", &cookie).send().await.unwrap();
    let csrf = csrf_of(&page.text().await.unwrap());
    let address = app.address.trim_start_matches("http://").to_string();
    let origin = format!("Origin: {}\r\n", app.address);
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    let session = format!("Cookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\n{origin}{form}");
    let bearer = format!("Authorization: Bearer {token}\r\nContent-Type: application/json\r\n");
    let public = format!("{origin}{form}");
    // (path, headers, chunked, status, within): the public forms get 1 s, the rest 3 s.
    let cases = [
        ("/login", public.clone(), false, "408", 1.0..2.8),
        ("/login", public.clone(), true, "408", 1.0..2.8),
        ("/setup", public, false, "408", 1.0..2.8),
        ("/tasks", session, false, "408", 3.0..4.8),
        ("/api/v1/tasks", bearer, true, "408", 3.0..4.8),
    ];
    let runs = cases.iter().map(|(path, headers, chunked, ..)| trickle(&address, path, headers, *chunked));
    let answers = futures_util::future::join_all(runs).await;
    for ((path, _, chunked, status, within), (answer, took, closed)) in cases.iter().zip(answers) {
        let what = format!("{path} (chunked: {chunked}) after {took:?}: {answer}");
        assert!(answer.starts_with(&format!("HTTP/1.1 {status}")), "{what}");
        assert!(within.contains(&took.as_secs_f64()), "{what}");
        assert!(closed, "the connection stays open: {what}");
        assert!(answer.contains("did not arrive within"), "{what}");
    }
    // A body that arrives in time is read as ever.
    assert_eq!(app.login(PASSWORD).await.status(), 303);
}

/// A slow body sent where no session or token lets it in is refused without waiting for it.
#[tokio::test]
async fn a_slow_body_without_credentials_is_not_waited_for() {
    let mut app = spawn_app_with(|c| c.body_timeout_secs = 30).await;
    app.set_up().await;
    let address = app.address.trim_start_matches("http://").to_string();
    for (path, chunked) in [
        ("/tasks", false),
        ("/tasks", true),
        ("/api/v1/tasks", false),
        ("/api/v1/tasks", true),
        ("/mcp", true),
    ] {
        let (answer, took, closed) = trickle(&address, path, "", chunked).await;
        let what = format!("{path} (chunked: {chunked}) after {took:?}: {answer}");
        assert!(answer.starts_with("HTTP/1.1 3") || answer.starts_with("HTTP/1.1 4"), "{what}");
        assert!(took.as_secs_f64() < 3.0 && closed, "{what}");
    }
}
