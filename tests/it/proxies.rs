//! Trusted proxies: forwarded headers (`X-Forwarded-For`, `Forwarded`, `X-Forwarded-Proto`,
//! `X-Forwarded-Host`) change the client's address and origin only when the connection comes
//! from one of `trusted_proxies`. The test client on loopback plays both: a stranger sending
//! the headers itself (no proxies configured), and a proxy (`trusted_proxies = 127.0.0.1`).

use reqwest::{Client, Response};

use crate::helpers::{PASSWORD, TestApp, client, spawn_app, spawn_app_with};

/// The login form's post, with extra headers (and an `Origin` of the app's own address unless
/// one of them is an `Origin`).
async fn login(app: &TestApp, client: &Client, password: &str, headers: &[(&str, &str)]) -> Response {
    let origin = headers.iter().find(|(name, _)| *name == "Origin").map_or(app.address.as_str(), |(_, v)| v);
    let mut req = client
        .post(app.url("/login"))
        .header("Origin", origin)
        .form(&[("password", password), ("next", "/tasks")]);
    for (name, value) in headers.iter().filter(|(name, _)| *name != "Origin") {
        req = req.header(*name, *value);
    }
    req.send().await.unwrap()
}

/// A task added from the Tasks page, with this origin and extra headers.
async fn add_task(app: &TestApp, origin: &str, headers: &[(&str, &str)], text: &str) -> u16 {
    let mut req = app
        .client
        .post(app.url("/tasks"))
        .header("Origin", origin)
        .header("X-CSRF-Token", &app.csrf)
        .form(&[("text", text)]);
    for (name, value) in headers.iter().filter(|(name, _)| *name != "Origin") {
        req = req.header(*name, *value);
    }
    req.send().await.unwrap().status().as_u16()
}

/// The Address column of the sessions list.
async fn session_addresses(app: &TestApp) -> Vec<String> {
    let settings = app.get("/settings").await.text().await.unwrap();
    settings
        .split("<td data-label=\"Address\">")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().to_string())
        .collect()
}

fn secure_cookie(res: &Response) -> bool {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().split(';').any(|part| part.trim().eq_ignore_ascii_case("secure")))
}

#[tokio::test]
async fn forged_forwarded_headers_from_an_untrusted_peer_change_nothing() {
    let mut app = spawn_app().await;
    app.set_up().await;

    // The session remembers the connection's address, not the claimed one, and a claimed
    // https does not make the cookie Secure.
    let forged = [
        ("X-Forwarded-For", "203.0.113.9"),
        ("Forwarded", "for=198.51.100.7;proto=https"),
        ("X-Forwarded-Proto", "https"),
    ];
    let res = login(&app, &client(), PASSWORD, &forged).await;
    assert_eq!(res.status(), 303);
    assert!(!secure_cookie(&res), "a forged X-Forwarded-Proto does not make the cookie Secure");
    let addresses = session_addresses(&app).await;
    assert_eq!(addresses, ["127.0.0.1", "127.0.0.1"], "{addresses:?}");

    // A foreign origin does not pass with a forged forwarded host.
    for headers in [
        &[("X-Forwarded-Host", "evil.example"), ("X-Forwarded-Proto", "https")][..],
        &[("Forwarded", "for=203.0.113.9;host=evil.example;proto=https")][..],
    ] {
        assert_eq!(add_task(&app, "https://evil.example", headers, "Sneaky task").await, 403, "{headers:?}");
    }
    let res = client()
        .post(app.url("/login"))
        .header("Origin", "https://evil.example")
        .header("X-Forwarded-Host", "evil.example")
        .header("X-Forwarded-Proto", "https")
        .form(&[("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "the login form too");
    // Our own origin still works with the same headers (they are ignored, not refused).
    let headers = [("X-Forwarded-Host", "evil.example"), ("X-Forwarded-Proto", "https")];
    assert_eq!(add_task(&app, &app.address, &headers, "Fine task").await, 303);
    let tasks = app.get("/tasks").await.text().await.unwrap();
    assert!(tasks.contains("Fine task") && !tasks.contains("Sneaky task"));

    // A stranger cannot dodge the lockout by claiming a new address on every try.
    for i in 0..5 {
        let claimed = format!("203.0.113.{i}");
        let forwarded = format!("for=198.51.100.{i}");
        let headers = [("X-Forwarded-For", claimed.as_str()), ("Forwarded", forwarded.as_str())];
        assert_eq!(login(&app, &client(), "wrong password!", &headers).await.status(), 422);
    }
    let headers = [("X-Forwarded-For", "203.0.113.77"), ("Forwarded", "for=198.51.100.77")];
    let res = login(&app, &client(), PASSWORD, &headers).await;
    assert_eq!(res.status(), 429, "the connection's address is locked, whatever it claims");
}

#[tokio::test]
async fn a_trusted_proxy_is_believed() {
    let mut app = spawn_app_with(|c| c.trusted_proxies = "127.0.0.1".parse().unwrap()).await;
    app.set_up().await;

    // Two people behind the proxy are throttled apart: one's guessing does not lock the other.
    for _ in 0..5 {
        let headers = [("X-Forwarded-For", "203.0.113.1")];
        assert_eq!(login(&app, &client(), "wrong password!", &headers).await.status(), 422);
    }
    let res = login(&app, &client(), PASSWORD, &[("X-Forwarded-For", "203.0.113.1")]).await;
    assert_eq!(res.status(), 429, "the guesser is locked");
    // A client's own list is appended to by the proxy: the address the proxy saw counts.
    let res = login(&app, &client(), PASSWORD, &[("X-Forwarded-For", "10.9.9.9, 203.0.113.1")]).await;
    assert_eq!(res.status(), 429, "claiming another address in front does not help");
    let res = login(&app, &client(), PASSWORD, &[("X-Forwarded-For", "203.0.113.2")]).await;
    assert_eq!(res.status(), 303, "the owner behind the same proxy is not");
    assert!(!secure_cookie(&res), "plain http to the proxy");
    let res = login(
        &app,
        &client(),
        PASSWORD,
        &[
            ("Forwarded", "for=\"[2001:db8::7]:4711\";proto=https;host=steward.example"),
            ("Origin", "https://steward.example"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303, "RFC 7239 Forwarded");
    assert!(secure_cookie(&res), "https to the proxy makes the cookie Secure");
    let proxied = [("Forwarded", "for=203.0.113.3;proto=https;host=steward.example")];
    let res = login(&app, &client(), PASSWORD, &proxied).await;
    assert_eq!(
        res.status(),
        403,
        "the proxy says the page was https://steward.example, not the app's address"
    );

    // The sessions list shows the forwarded addresses.
    let addresses = session_addresses(&app).await;
    assert!(addresses.contains(&"203.0.113.2".to_string()), "{addresses:?}");
    assert!(addresses.contains(&"2001:db8::7".to_string()), "{addresses:?}");
    assert!(addresses.contains(&"127.0.0.1".to_string()), "the setup came without a proxy: {addresses:?}");

    // The Origin check uses the forwarded host and scheme.
    let public = [("X-Forwarded-Host", "steward.example"), ("X-Forwarded-Proto", "https")];
    assert_eq!(add_task(&app, "https://steward.example", &public, "Through the proxy").await, 303);
    let forwarded = [("Forwarded", "for=203.0.113.2;host=steward.example;proto=https")];
    assert_eq!(add_task(&app, "https://steward.example", &forwarded, "Through Forwarded").await, 303);
    assert_eq!(add_task(&app, "https://evil.example", &public, "Sneaky task").await, 403);
    assert_eq!(add_task(&app, "http://steward.example", &public, "Sneaky task").await, 403, "scheme counts");
    let tasks = app.get("/tasks").await.text().await.unwrap();
    assert!(tasks.contains("Through the proxy") && tasks.contains("Through Forwarded"));
    assert!(!tasks.contains("Sneaky task"));
}

#[tokio::test]
async fn event_streams_tell_nginx_not_to_buffer_them() {
    let app = crate::helpers::logged_in_app().await;
    let res = app.get("/events").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    assert_eq!(res.headers()["x-accel-buffering"], "no");
    assert!(app.get("/tasks").await.headers().get("x-accel-buffering").is_none(), "pages are left alone");
}
