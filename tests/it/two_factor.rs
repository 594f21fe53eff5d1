//! Two-factor authentication, driven like a browser on an app with a fixed clock: setup from
//! Settings (QR code, key, confirmation), the login's second step (codes computed here from the
//! key the page showed), wrong and replayed codes, recovery codes that work once, the 5-minute
//! limit, turning it off, and `steward passwd --reset-2fa` from the terminal.

use std::process::Command;

use chrono::{DateTime, Duration, Utc};
use reqwest::{Client, Response};
use steward::auth::totp;
use steward::clock::{Clock, FixedClock};

use crate::helpers::*;

fn code(secret: &str, at: DateTime<Utc>) -> String {
    totp::code_at(&totp::base32_decode(secret).unwrap(), at.timestamp(), totp::DIGITS)
}

/// A 6-digit code the window does not accept at `at`.
fn wrong_code(secret: &str, at: DateTime<Utc>) -> String {
    let taken: Vec<String> = (-1..=1).map(|o| code(secret, at + Duration::seconds(30 * o))).collect();
    ["123456", "654321", "111111"].into_iter().find(|c| !taken.iter().any(|t| t == c)).unwrap().to_string()
}

fn location(res: &Response) -> String {
    res.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

/// The text between `start` and the next `end` after it.
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html.find(start).unwrap_or_else(|| panic!("{start:?} not in the page:\n{html}")) + start.len();
    &html[from..from + html[from..].find(end).unwrap()]
}

async fn page(app: &TestApp, path: &str) -> String {
    let res = app.get(path).await;
    assert_eq!(res.status(), 200, "{path}");
    res.text().await.unwrap()
}

async fn send_code(app: &TestApp, client: &Client, code: &str) -> Response {
    client
        .post(app.url("/login/2fa"))
        .header("Origin", &app.address)
        .form(&[("code", code), ("next", "/tasks")])
        .send()
        .await
        .unwrap()
}

/// Password, then the code form: returns the client, waiting for its code.
async fn password_step(app: &TestApp) -> Client {
    let client = client();
    let res = app.login_with(&client, PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login/2fa?next=%2Ftasks", "a right password asks for the code");
    let cookie = res.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
    assert!(cookie.starts_with("steward_2fa="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/login")
    );
    let tasks = client.get(app.url("/tasks")).send().await.unwrap();
    assert_eq!(tasks.status(), 303, "no session before the code");
    let form = client.get(app.url("/login/2fa?next=%2Ftasks")).send().await.unwrap();
    assert_eq!(form.status(), 200);
    assert!(form.text().await.unwrap().contains("name=\"code\""));
    client
}

async fn status(api: &Api) -> serde_json::Value {
    let (code, body) = api.get("/auth/2fa").await;
    assert_eq!(code, 200, "{body}");
    body
}

/// Starts the setup from Settings and confirms it; returns the key and the recovery codes.
async fn turn_on(app: &TestApp, clock: &FixedClock) -> (String, Vec<String>) {
    let res = app.post_form("/settings/2fa/start", &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/settings/2fa#setup");
    let html = page(app, "/settings/2fa").await;
    let secret: String = between(&html, "class=\"mono secret-key\">", "<").split_whitespace().collect();
    assert_eq!(secret.len(), 32, "160 bits in base32: {secret}");
    let uri = between(&html, "value=\"otpauth://totp/", "\"");
    assert!(
        uri.contains(&format!(
            "secret={secret}&#38;issuer=Steward&#38;algorithm=SHA1&#38;digits=6&#38;period=30"
        )),
        "{uri}"
    );
    assert!(uri.starts_with("Steward:127.0.0.1%3A"), "{uri}");
    let qr = between(&html, "<figure class=\"qr\"", "</figure>");
    assert!(qr.contains("<svg") && qr.contains("<path"), "an inline SVG QR code");
    assert!(!html.contains("<?xml"));

    // A wrong code leaves it off, and says so next to the form.
    let now = clock.now();
    let res = app.post_form("/settings/2fa/confirm", &[("code", &wrong_code(&secret, now))]).await;
    assert_eq!(location(&res), "/settings/2fa#setup");
    let html = page(app, "/settings/2fa").await;
    assert!(html.contains("That code is not right, or it was used already"), "{html}");
    assert!(html.contains("secret-key"), "the setup is still waiting");

    let res = app.post_form("/settings/2fa/confirm", &[("code", &code(&secret, now))]).await;
    assert_eq!(res.status(), 303);
    assert!(!location(&res).contains(&secret));
    let html = page(app, "/settings/2fa").await;
    assert!(html.contains("Two-factor authentication is on"));
    let list = between(&html, "<ol class=\"recovery-codes mono\">", "</ol>");
    let codes: Vec<String> =
        list.split("<li>").skip(1).map(|li| li.split("</li>").next().unwrap().trim().to_string()).collect();
    assert_eq!(codes.len(), 10, "{list}");
    assert!(!html.contains("secret-key"), "the key is not shown once it is on");
    let again = page(app, "/settings/2fa").await;
    assert!(!again.contains("recovery-codes mono"), "the codes are shown once");
    assert!(again.contains("10 of 10 left."));
    (secret, codes)
}

#[tokio::test]
async fn totp_setup_login_recovery_codes_and_reset() {
    let start: DateTime<Utc> = "2026-12-02T10:00:10Z".parse().unwrap();
    let clock = FixedClock::new(start);
    let mut app = spawn_app_at(&clock, |_| {}).await;
    app.set_up().await;
    let api = app.api(&app.api_token().await);
    assert_eq!(
        status(&api).await,
        serde_json::json!({"enabled": false, "enabled_at": null, "recovery_codes_left": 0})
    );
    assert!(page(&app, "/settings").await.contains("Set up two-factor authentication"));

    let (secret, codes) = turn_on(&app, &clock).await;
    let on = status(&api).await;
    assert_eq!(on["enabled"], true);
    assert_eq!(on["recovery_codes_left"], 10);
    assert!(!on.to_string().contains(&secret), "the API never shows the key");
    assert!(page(&app, "/settings").await.contains("10 of 10 recovery codes left"));
    // The session that turned it on stays signed in.
    assert_eq!(app.get("/tasks").await.status(), 200);

    // Login: the code that confirmed the setup was used; it is refused within its window.
    let browser = password_step(&app).await;
    let res = send_code(&app, &browser, &code(&secret, start)).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("That code is not right, or it was used already"), "{html}");
    let res = send_code(&app, &browser, &wrong_code(&secret, start)).await;
    assert_eq!(res.status(), 422);
    assert_eq!(browser.get(app.url("/tasks")).send().await.unwrap().status(), 303);
    // Thirty seconds on, the app's new code signs in.
    clock.set(start + Duration::seconds(30));
    let res = send_code(&app, &browser, &code(&secret, clock.now())).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert_eq!(location(&res), "/tasks");
    assert_eq!(browser.get(app.url("/tasks")).send().await.unwrap().status(), 200);

    // A recovery code works once, typed however.
    let phone_lost = password_step(&app).await;
    let res = send_code(&app, &phone_lost, &codes[3].to_uppercase().replace('-', " ")).await;
    assert_eq!(res.status(), 303);
    assert_eq!(phone_lost.get(app.url("/tasks")).send().await.unwrap().status(), 200);
    assert_eq!(status(&api).await["recovery_codes_left"], 9);
    let again = password_step(&app).await;
    assert_eq!(send_code(&app, &again, &codes[3]).await.status(), 422, "a used recovery code");
    assert!(page(&app, "/settings").await.contains("9 of 10 recovery codes left"));

    // The second step lasts five minutes; then the password again.
    let slow = password_step(&app).await;
    clock.set(clock.now() + Duration::minutes(6));
    let res = slow.get(app.url("/login/2fa?next=%2Ftasks")).send().await.unwrap();
    assert_eq!(location(&res), "/login?next=%2Ftasks");
    let res = send_code(&app, &slow, &code(&secret, clock.now())).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("enter your password again") && html.contains("href=\"/login?next=/tasks\""),
        "{html}"
    );
    // Without the cookie there is nothing to answer.
    assert_eq!(send_code(&app, &client(), &code(&secret, clock.now())).await.status(), 422);

    // From the terminal: off, saying what it removed.
    let out = Command::new(env!("CARGO_BIN_EXE_steward"))
        .arg("--db")
        .arg(&app.db_path)
        .args(["passwd", "--reset-2fa"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("Two-factor authentication is now off"), "{text}");
    assert!(text.contains("9 unused recovery code(s)"), "{text}");
    assert_eq!(status(&api).await["enabled"], false);
    let res = app.login(PASSWORD).await;
    assert_eq!(location(&res), "/tasks", "the password alone signs in again");
    let out = Command::new(env!("CARGO_BIN_EXE_steward"))
        .arg("--db")
        .arg(&app.db_path)
        .args(["passwd", "--reset-2fa"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("already off; nothing changed"));

    // On again; turning it off in Settings takes the password.
    app.refresh_csrf().await;
    turn_on(&app, &clock).await;
    let res = app.post_form("/settings/2fa/disable", &[("password", "not my password")]).await;
    assert_eq!(location(&res), "/settings/2fa#disable");
    let html = page(&app, "/settings/2fa").await;
    assert!(html.contains("The password is wrong"), "{html}");
    assert_eq!(status(&api).await["enabled"], true);
    let res = app.post_form("/settings/2fa/recovery", &[("password", PASSWORD)]).await;
    assert_eq!(location(&res), "/settings/2fa#recovery");
    assert!(page(&app, "/settings/2fa").await.contains("the old ones no longer work"));
    let res = app.post_form("/settings/2fa/disable", &[("password", PASSWORD)]).await;
    assert_eq!(location(&res), "/settings/2fa#status");
    assert!(page(&app, "/settings/2fa").await.contains("Two-factor authentication is off"));
    assert_eq!(status(&api).await["enabled"], false);
    assert_eq!(location(&app.login(PASSWORD).await), "/tasks");
}

/// Wrong codes count against the login throttle: a password does not buy unlimited guesses.
#[tokio::test]
async fn wrong_codes_lock_like_wrong_passwords() {
    let start: DateTime<Utc> = "2026-12-02T10:00:10Z".parse().unwrap();
    let clock = FixedClock::new(start);
    let mut app = spawn_app_at(&clock, |_| {}).await;
    app.set_up().await;
    let (secret, _) = turn_on(&app, &clock).await;
    let wrong = wrong_code(&secret, start);
    let browser = password_step(&app).await;
    for _ in 0..4 {
        assert_eq!(send_code(&app, &browser, &wrong).await.status(), 422);
    }
    // The fifth ends this sign-in and locks the client for a moment.
    let res = send_code(&app, &browser, &wrong).await;
    assert!(res.text().await.unwrap().contains("Too many wrong codes for this sign-in"));
    let res = app.login(PASSWORD).await;
    assert_eq!(res.status(), 429, "the throttle holds after five wrong codes");
    // Re-entering the password does not reset the count: after the wait, another wrong code
    // locks for longer.
    clock.set(start + Duration::seconds(2));
    let browser = password_step(&app).await;
    assert_eq!(send_code(&app, &browser, &wrong).await.status(), 422);
    assert_eq!(app.login(PASSWORD).await.status(), 429);
    clock.set(start + Duration::seconds(40));
    let res = send_code(&app, &browser, &code(&secret, clock.now())).await;
    assert_eq!(location(&res), "/tasks");
}
