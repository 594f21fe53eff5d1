//! Login, setup, sessions, CSRF, throttling, API tokens, security headers.

use crate::helpers::*;

/// Every page route refuses a visitor without a session (to the login page), and every API
/// route refuses a client without a token (401 JSON).
#[tokio::test]
async fn every_route_refuses_anonymous_access() {
    let app = spawn_app().await;
    let anon = client();
    let pages = [
        ("GET", "/"),
        ("GET", "/tasks"),
        ("POST", "/tasks"),
        ("GET", "/tasks/preview?text=x"),
        ("GET", "/tasks/more?group=nodate&offset=0"),
        ("GET", "/tasks/export"),
        ("POST", "/tasks/import"),
        ("GET", "/tasks/1"),
        ("POST", "/tasks/1"),
        ("GET", "/tasks/1/edit"),
        ("POST", "/tasks/1/toggle"),
        ("POST", "/tasks/1/delete"),
        ("POST", "/tasks/1/restore"),
        ("GET", "/settings"),
        ("POST", "/settings/password"),
        ("POST", "/settings/timezone"),
        ("POST", "/settings/sessions/1/revoke"),
        ("POST", "/settings/tokens"),
        ("POST", "/settings/tokens/1/revoke"),
        ("POST", "/logout"),
        ("GET", "/no-such-page"),
        ("GET", "/?section=tasks"),
        ("POST", "/today/add"),
        ("GET", "/today/preview?text=x"),
        ("POST", "/today/tasks/1/toggle"),
        ("POST", "/today/overdue/move"),
        ("GET", "/settings/context"),
        ("POST", "/settings/context"),
    ];
    for (method, path) in pages {
        let res = anon.request(method.parse().unwrap(), app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 303, "{method} {path}");
        assert!(res.headers()["location"].to_str().unwrap().starts_with("/login?next="), "{method} {path}");
    }
    let api = [
        ("GET", "/api/v1/tasks"),
        ("POST", "/api/v1/tasks"),
        ("GET", "/api/v1/tasks/1"),
        ("PATCH", "/api/v1/tasks/1"),
        ("DELETE", "/api/v1/tasks/1"),
        ("POST", "/api/v1/tasks/1/complete"),
        ("GET", "/api/v1/nothing"),
        ("GET", "/api/v1/today"),
        ("POST", "/api/v1/tasks/move-overdue"),
    ];
    for (method, path) in api {
        let (status, body) =
            read(anon.request(method.parse().unwrap(), app.url(path)).send().await.unwrap()).await;
        assert_eq!(status, 401, "{method} {path}");
        assert_eq!(body["error"]["code"], "unauthorized", "{method} {path}");
    }
    // htmx requests are sent to the login page with HX-Redirect.
    let res = anon.get(app.url("/tasks")).header("HX-Request", "true").send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers()["hx-redirect"].to_str().unwrap().starts_with("/login"));
}

#[tokio::test]
async fn public_routes_are_public() {
    let app = spawn_app().await;
    let anon = client();
    let res = anon.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap(), serde_json::json!({"status": "ok"}));
    for path in
        ["/login", "/static/app.css", "/static/app.js", "/static/htmx-2.0.11.min.js", "/static/icon.svg"]
    {
        assert_eq!(anon.get(app.url(path)).send().await.unwrap().status(), 200, "{path}");
    }
    assert_eq!(anon.get(app.url("/static/nope.js")).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn security_headers_and_cookie_flags() {
    let mut app = spawn_app().await;
    app.set_up().await;
    let res = app.get("/tasks").await;
    let h = res.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h.contains_key("referrer-policy"));
    assert!(!h.contains_key("strict-transport-security"), "no HSTS over plain http");
    let html = res.text().await.unwrap();
    assert!(!html.contains("<script>"), "no inline script");

    let login = app.login(PASSWORD).await;
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("steward_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains("Secure"));
}

#[tokio::test]
async fn https_public_url_gives_secure_host_cookies_and_hsts() {
    let mut app = spawn_app_with(|c| c.public_url = Some("https://steward.example".into())).await;
    let token = app.setup_url.clone().unwrap().split("token=").nth(1).unwrap().to_string();
    assert!(app.setup_url.as_deref().unwrap().starts_with("https://steward.example/setup?token="));
    let res = app
        .client
        .post(app.url("/setup"))
        .header("Origin", "https://steward.example")
        .form(&[("token", token.as_str()), ("password", PASSWORD), ("confirm", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("__Host-steward_session=")
            && cookie.contains("Secure")
            && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(res.headers()["strict-transport-security"].to_str().unwrap().contains("max-age="));
    app.csrf.clear();
}

#[tokio::test]
async fn setup_link_works_once_and_checks_the_password() {
    let mut app = spawn_app().await;
    let setup = app.setup_url.clone().unwrap();
    let path = &setup[setup.find("/setup").unwrap()..];
    assert_eq!(app.get(path).await.status(), 200);
    assert_eq!(app.get("/setup?token=wrong").await.status(), 403);
    assert_eq!(app.get("/setup").await.status(), 403);
    let token = setup.split("token=").nth(1).unwrap();

    // A common password is refused with a message, and nothing is set.
    let res = app
        .client
        .post(app.url("/setup"))
        .header("Origin", &app.address)
        .form(&[("token", token), ("password", "password123"), ("confirm", "password123")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("commonly used"));
    let res = app
        .client
        .post(app.url("/setup"))
        .header("Origin", &app.address)
        .form(&[("token", token), ("password", "short"), ("confirm", "short")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("at least 8"));

    app.set_up().await;
    // The link is dead once a password exists.
    assert_eq!(app.get(path).await.status(), 403);
    assert_eq!(app.login(PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn login_logout_and_wrong_password() {
    let mut app = spawn_app().await;
    app.set_up().await;
    let res = app.login("not the password").await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("Wrong password."));

    let browser = client();
    let res = app.login_with(&browser, PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/tasks");
    let page = browser.get(app.url("/tasks")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csrf = csrf_of(&page.text().await.unwrap());

    // Logout needs the CSRF token like every other POST, and ends the session.
    let res = browser.post(app.url("/logout")).header("Origin", &app.address).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let res = browser
        .post(app.url("/logout"))
        .header("Origin", &app.address)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(browser.get(app.url("/tasks")).send().await.unwrap().status(), 303);
}

#[tokio::test]
async fn login_redirects_only_to_local_paths() {
    let mut app = spawn_app().await;
    app.set_up().await;
    for (next, expected) in
        [("/settings", "/settings"), ("https://evil.example/", "/"), ("//evil.example", "/")]
    {
        let res = client()
            .post(app.url("/login"))
            .header("Origin", &app.address)
            .form(&[("password", PASSWORD), ("next", next)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["location"], expected, "{next}");
    }
}

#[tokio::test]
async fn csrf_token_and_origin_are_required_for_changes() {
    let app = logged_in_app().await;
    let post = |csrf: Option<&str>, origin: &str| {
        let mut req =
            app.client.post(app.url("/tasks")).header("Origin", origin).form(&[("text", "Sneaky task")]);
        if let Some(csrf) = csrf {
            req = req.header("X-CSRF-Token", csrf);
        }
        req.send()
    };
    assert_eq!(post(None, &app.address).await.unwrap().status(), 403);
    assert_eq!(post(Some("wrong-token"), &app.address).await.unwrap().status(), 403);
    assert_eq!(post(Some(&app.csrf), "https://evil.example").await.unwrap().status(), 403);
    // Nothing was created by the refused requests.
    assert!(!app.get("/tasks").await.text().await.unwrap().contains("Sneaky task"));
    // htmx gets the refusal as a toast.
    let res = app
        .client
        .post(app.url("/tasks"))
        .header("Origin", &app.address)
        .header("HX-Request", "true")
        .form(&[("text", "Sneaky task")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(res.headers()["hx-retarget"], "#toasts");
    // With the token (header or hidden field) it works.
    assert_eq!(app.post_form("/tasks", &[("text", "Fine task")]).await.status(), 303);
    assert!(app.get("/tasks").await.text().await.unwrap().contains("Fine task"));
}

#[tokio::test]
async fn wrong_passwords_are_throttled_then_a_right_one_works() {
    let mut app = spawn_app().await;
    app.set_up().await;
    for _ in 0..5 {
        assert_eq!(app.login("wrong password!").await.status(), 422);
    }
    let res = app.login(PASSWORD).await;
    assert_eq!(res.status(), 429, "even the right password waits while locked");
    let wait: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    tokio::time::sleep(std::time::Duration::from_millis(wait * 1000 + 100)).await;
    // Another failure locks for longer.
    assert_eq!(app.login("wrong again").await.status(), 422);
    let res = app.login(PASSWORD).await;
    assert_eq!(res.status(), 429);
    let wait: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(wait >= 2, "backs off: {wait}");
    tokio::time::sleep(std::time::Duration::from_millis(wait * 1000 + 100)).await;
    assert_eq!(app.login(PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn sessions_are_listed_and_revocable_and_password_change_ends_others() {
    let mut app = spawn_app().await;
    app.set_up().await;
    let phone = client();
    assert_eq!(app.login_with(&phone, PASSWORD).await.status(), 303);
    assert_eq!(phone.get(app.url("/tasks")).send().await.unwrap().status(), 200);

    let settings = app.get("/settings").await.text().await.unwrap();
    assert_eq!(settings.matches("/settings/sessions/").count(), 2, "two sessions listed");
    assert!(settings.contains("this device"));

    // Revoke the phone's session from the first browser.
    let ids: Vec<&str> =
        settings.split("/settings/sessions/").skip(1).map(|s| s.split('/').next().unwrap()).collect();
    let mut revoked = false;
    for id in ids {
        let res = app.post_htmx(&format!("/settings/sessions/{id}/revoke"), &[]).await;
        if res.status() == 200 {
            revoked = true;
            break;
        }
    }
    assert!(revoked);
    assert_eq!(phone.get(app.url("/tasks")).send().await.unwrap().status(), 303, "phone is signed out");
    assert_eq!(app.get("/tasks").await.status(), 200, "this browser stays in");

    // A password change signs out every other session and keeps this one.
    let tablet = client();
    assert_eq!(app.login_with(&tablet, PASSWORD).await.status(), 303);
    let new = "a brand new passphrase";
    let res =
        app.post_form("/settings/password", &[("current", "wrong"), ("new", new), ("confirm", new)]).await;
    assert_eq!(res.status(), 303);
    assert!(app.get("/settings").await.text().await.unwrap().contains("The current password is wrong."));
    let res =
        app.post_form("/settings/password", &[("current", PASSWORD), ("new", new), ("confirm", new)]).await;
    assert_eq!(res.status(), 303);
    assert!(app.get("/settings").await.text().await.unwrap().contains("Password changed"));
    assert_eq!(tablet.get(app.url("/tasks")).send().await.unwrap().status(), 303);
    assert_eq!(app.get("/tasks").await.status(), 200);
    assert_eq!(app.login(PASSWORD).await.status(), 422);
    assert_eq!(app.login(new).await.status(), 303);
    app.refresh_csrf().await;
}

#[tokio::test]
async fn api_tokens_are_shown_once_used_and_revoked() {
    let app = logged_in_app().await;
    let res = app
        .post_form("/settings/tokens", &[("name", "laptop"), ("scope_write", "on"), ("expires", "90d")])
        .await;
    assert_eq!(res.status(), 303);
    let page = app.get("/settings").await.text().await.unwrap();
    let start = page.find("value=\"stw_").expect("the new token is shown") + 7;
    let token = page[start..].split('"').next().unwrap().to_string();
    // Only its hint is shown afterwards.
    let again = app.get("/settings").await.text().await.unwrap();
    assert!(!again.contains(&token));
    assert!(again.contains("laptop") && again.contains("never"));

    let api = app.api(&token);
    assert_eq!(api.get("/tasks").await.0, 200);
    assert!(!app.get("/settings").await.text().await.unwrap().contains(">never</td>"), "last use shown");
    let bad = app.api("stw_not-a-real-token");
    let (status, body) = bad.get("/tasks").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");

    // Duplicate names are refused.
    let res = app.post_form("/settings/tokens", &[("name", "laptop"), ("scope_write", "on")]).await;
    assert_eq!(res.status(), 303);
    assert!(
        app.get("/settings")
            .await
            .text()
            .await
            .unwrap()
            .contains("A token named &#34;laptop&#34; exists already.")
    );

    let id = again.split("/settings/tokens/").nth(1).unwrap().split('/').next().unwrap().to_string();
    let res = app.post_form(&format!("/settings/tokens/{id}/revoke"), &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(api.get("/tasks").await.0, 401);
}

#[tokio::test]
async fn cross_site_navigation_reloads_to_send_the_strict_cookie() {
    let app = spawn_app().await;
    let res =
        client().get(app.url("/tasks?q=x")).header("Sec-Fetch-Site", "cross-site").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("http-equiv=\"refresh\""));
}

#[tokio::test]
async fn sessions_end_when_idle_and_at_their_absolute_limit() {
    let start: chrono::DateTime<chrono::Utc> = "2026-06-10T12:00:00Z".parse().unwrap();
    let clock = steward::clock::FixedClock::new(start);
    let mut app = spawn_app_at(&clock, |c| {
        c.session_idle_minutes = 60;
        c.session_max_days = 1;
    })
    .await;
    app.set_up().await;
    let at = |minutes: i64| start + chrono::Duration::minutes(minutes);

    // Use keeps a session alive; an hour without a request ends it.
    clock.set(at(50));
    assert_eq!(app.get("/tasks").await.status(), 200);
    clock.set(at(109));
    assert_eq!(app.get("/tasks").await.status(), 200, "59 minutes after the last request");
    clock.set(at(170));
    assert_eq!(app.get("/tasks").await.status(), 303, "61 minutes idle");

    // However active, a session ends a day after login.
    assert_eq!(app.login_with(&app.client, PASSWORD).await.status(), 303);
    let mut minute = 170;
    while minute < 170 + 24 * 60 - 50 {
        minute += 50;
        clock.set(at(minute));
        assert_eq!(app.get("/tasks").await.status(), 200, "active at minute {minute}");
    }
    clock.set(at(170 + 24 * 60 + 1));
    assert_eq!(app.get("/tasks").await.status(), 303, "past the absolute limit");
}

#[tokio::test]
async fn login_and_setup_refuse_forms_from_another_site() {
    let app = spawn_app().await;
    let token = app.setup_url.clone().unwrap().split("token=").nth(1).unwrap().to_string();
    let res = client()
        .post(app.url("/setup"))
        .header("Origin", "https://evil.example")
        .form(&[("token", token.as_str()), ("password", PASSWORD), ("confirm", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("setup form was sent from another site"));
    let res = client()
        .post(app.url("/login"))
        .header("Origin", "https://evil.example")
        .form(&[("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

/// Every form on Settings leaves the person on /settings, which reloads fine: a plain form gets
/// 303 back to it (the outcome shown once), an htmx form the page in place with the address
/// kept (`HX-Push-Url: false`) and its error next to the form. No secret ever goes in a URL.
#[tokio::test]
async fn settings_forms_stay_on_settings_and_reload() {
    let app = logged_in_app().await;
    let new = "another good passphrase";
    // The form's path, its fields, the section of the page it is in, the error it gets.
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let forms: [Case; 7] = [
        (
            "/settings/timezone",
            vec![("timezone", "Mars/Olympus")],
            "timezone",
            "Time zone: &#34;Mars/Olympus&#34; is not an IANA time zone",
        ),
        (
            "/settings/guards",
            vec![("max_active", "0"), ("min_interval_secs", "60"), ("pause_after_failures", "5")],
            "guards",
            "Most active schedules must be at least 1.",
        ),
        (
            "/settings/chat",
            vec![("system_prompt", "Hi"), ("max_steps", "lots"), ("context_chars", "20000")],
            "chat",
            "Model turns per reply: &#34;lots&#34; is not a whole number.",
        ),
        (
            "/settings/password",
            vec![("current", PASSWORD), ("new", new), ("confirm", "something else")],
            "password",
            "The two passwords differ.",
        ),
        (
            "/settings/tokens",
            vec![("name", ""), ("scope_read", "on")],
            "tokens",
            "A token needs a name of 1 to 64 characters.",
        ),
        ("/settings/tokens", vec![("name", "x")], "tokens", "Tick at least one thing the token may do."),
        ("/settings/tokens/999/revoke", vec![], "tokens", "No API token with id 999."),
    ];
    for (path, form, section, error) in &forms {
        // Plain form: back to /settings, at the form, which shows the error once.
        let res = app.post_form(path, form).await;
        assert_eq!(res.status(), 303, "{path}");
        assert_eq!(res.headers()["location"], format!("/settings#{section}").as_str(), "{path}");
        let page = app.get("/settings").await.text().await.unwrap();
        let at = page.find(&format!("id=\"{section}\"")).unwrap_or_else(|| panic!("{path}: no #{section}"));
        let next = page[at + 1..].find("<section").map_or(page.len(), |n| at + 1 + n);
        assert!(page[at..next].contains(error), "{path}: the error is in #{section}: {}", &page[at..next]);
        assert!(!app.get("/settings").await.text().await.unwrap().contains(error), "{path}: shown once");

        // htmx: the page in place, the address bar stays on /settings.
        let res = app.post_htmx(path, form).await;
        assert_eq!(res.status(), 422, "{path}");
        assert_eq!(res.headers()["hx-push-url"], "false", "{path}");
        let page = res.text().await.unwrap();
        assert!(page.contains(error), "{path}: {page}");
    }
    // A form's address left in the history by an older version reloads as the page.
    for path in ["/settings/tokens", "/settings/timezone", "/settings/tokens/1/revoke"] {
        let res = app.get(path).await;
        assert_eq!((res.status().as_u16(), res.headers()["location"].to_str().unwrap()), (303, "/settings"));
    }
    // What was typed into a refused form is kept.
    let res = app.post_htmx("/settings/timezone", &[("timezone", "Mars/Olympus")]).await;
    assert!(res.text().await.unwrap().contains("value=\"Mars/Olympus\""));

    // A new token: shown once, never in a URL, whether the form is plain or htmx.
    let res = app.post_form("/settings/tokens", &[("name", "plain"), ("scope_read", "on")]).await;
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(location, "/settings#tokens");
    let page = app.get("/settings").await.text().await.unwrap();
    let start = page.find("value=\"stw_").expect("the new token is shown") + 7;
    let token = page[start..].split('"').next().unwrap().to_string();
    assert!(!app.get("/settings").await.text().await.unwrap().contains(&token), "shown once");
    let res = app.post_htmx("/settings/tokens", &[("name", "htmx"), ("scope_read", "on")]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["hx-push-url"], "false");
    assert!(res.headers().get("location").is_none());
    assert!(res.text().await.unwrap().contains("value=\"stw_"), "the htmx answer shows the new token");
    assert!(!app.get("/settings").await.text().await.unwrap().contains("value=\"stw_"));

    // Success, plain and htmx.
    let res = app.post_form("/settings/timezone", &[("timezone", "Europe/Paris")]).await;
    assert_eq!(res.status(), 303);
    assert!(app.get("/settings").await.text().await.unwrap().contains("Time zone set to Europe/Paris."));
    let res = app
        .post_htmx(
            "/settings/chat",
            &[("system_prompt", "Hi"), ("max_steps", "5"), ("context_chars", "20000")],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["hx-push-url"], "false");
    assert!(res.text().await.unwrap().contains("Chat settings saved."));
}

/// Before any password exists, /login explains how to set one instead of asking for it.
#[tokio::test]
async fn login_before_any_password_shows_the_setup_steps() {
    let mut app = spawn_app().await;
    let res = client().get(app.url("/login")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("steward passwd") && page.contains("setup link"), "{page}");
    assert!(!page.contains("type=\"password\""), "no password field that cannot work: {page}");

    // A bad setup password is refused in a sentence, without the field's name.
    let token = app.setup_url.clone().unwrap().split("token=").nth(1).unwrap().to_string();
    let res = app
        .client
        .post(app.url("/setup"))
        .header("Origin", &app.address)
        .form(&[("token", token.as_str()), ("password", "short"), ("confirm", "short")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("Password is 5 characters; use at least 8."), "{page}");

    app.set_up().await;
    let page = client().get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("type=\"password\"") && !page.contains("steward passwd"), "{page}");
    // A wrong password is a sentence too.
    let page = app.login("not it at all").await.text().await.unwrap();
    assert!(page.contains("Wrong password."), "{page}");
}

/// A logged-in person's error pages keep the site's navigation and speak in sentences.
#[tokio::test]
async fn error_pages_keep_the_navigation_when_logged_in() {
    let app = logged_in_app().await;
    for path in ["/no/such/page", "/chat/99999"] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 404, "{path}");
        let page = res.text().await.unwrap();
        assert!(
            page.contains("<nav aria-label=\"Main\">") && page.contains("href=\"/settings\""),
            "{path}: {page}"
        );
        let message = page.split("id=\"error-message\">").nth(1).unwrap().split('<').next().unwrap();
        assert!(message.starts_with(char::is_uppercase) && message.ends_with('.'), "{path}: {message}");
    }
    assert!(app.get("/no/such/page").await.text().await.unwrap().contains("There is no such page."));
}
