//! Issue 16 §2: device cookies (a stranger's guessing locks only unknown devices), the login
//! history, "remember this device", re-authentication before sensitive actions, and landing on
//! Today after login.

use chrono::{DateTime, Duration, Utc};
use reqwest::{Client, Response, redirect};
use steward::clock::FixedClock;

use crate::helpers::*;

const PHONE_UA: &str = "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0";
const LAPTOP_UA: &str = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

fn browser(user_agent: &str) -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(redirect::Policy::none())
        .user_agent(user_agent)
        .build()
        .unwrap()
}

fn start() -> DateTime<Utc> {
    "2026-06-10T12:00:00Z".parse().unwrap()
}

/// A login post as a browser sends it, from `forwarded_for` as the trusted proxy on loopback
/// says, with the form's fields.
async fn login_via(
    app: &TestApp,
    client: &Client,
    forwarded_for: &str,
    password: &str,
    extra: &[(&str, &str)],
) -> Response {
    let mut form = vec![("password", password)];
    form.extend_from_slice(extra);
    client
        .post(app.url("/login"))
        .header("Origin", &app.address)
        .header("X-Forwarded-For", forwarded_for)
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// The value of the cookie `name` an answer sets, with its attributes.
fn set_cookie(res: &Response, name: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with(&format!("{name}=")))
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_string()
}

/// An app behind a "proxy" on loopback (so each request can claim its own client address),
/// on a clock that stays put (so locks do not run out during the test).
async fn app_behind_proxy(clock: &FixedClock) -> TestApp {
    let mut app = spawn_app_at(clock, |c| c.trusted_proxies = "127.0.0.1".parse().unwrap()).await;
    app.set_up().await;
    app
}

#[tokio::test]
async fn a_strangers_hundred_guesses_never_lock_the_owners_device() {
    let clock = FixedClock::new(start());
    let app = app_behind_proxy(&clock).await;
    // The owner's phone has logged in before: it holds a device cookie.
    let phone = browser(PHONE_UA);
    let res = login_via(&app, &phone, "127.3.0.1", PASSWORD, &[]).await;
    assert_eq!(res.status(), 303);
    let device = set_cookie(&res, "steward_device").expect("a device cookie after login");
    assert!(device.contains("HttpOnly") && device.contains("SameSite=Lax"), "{device}");
    assert!(device.contains("Max-Age=") && !device.contains("Secure"), "{device}");

    // A stranger with no device cookie tries 100 passwords from 100 addresses (a botnet).
    let mut refused = 0;
    for i in 0..100 {
        let stranger = browser("curl/8.5.0");
        let res = login_via(&app, &stranger, &format!("127.2.0.{i}"), &format!("guess {i}"), &[]).await;
        assert!(matches!(res.status().as_u16(), 422 | 429), "{}", res.status());
        if res.status() == 429 {
            refused += 1;
        }
    }
    assert!(refused >= 79, "every unknown device is locked after 20 wrong passwords: {refused} refused");
    // Unknown devices are locked, even with the right password ...
    let res = login_via(&app, &browser(LAPTOP_UA), "127.3.0.2", PASSWORD, &[]).await;
    assert_eq!(res.status(), 429, "a new browser waits");
    // ... but the owner's phone gets in at once, even from an address the stranger used.
    let res = login_via(&app, &phone, "127.2.0.7", PASSWORD, &[]).await;
    assert_eq!(res.status(), 303, "the known device is not locked");
    assert_eq!(res.headers()["location"], "/", "lands on Today");
    assert_eq!(phone.get(app.url("/")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_forged_or_altered_device_cookie_counts_as_unknown() {
    let clock = FixedClock::new(start());
    let app = app_behind_proxy(&clock).await;
    let phone = browser(PHONE_UA);
    let res = login_via(&app, &phone, "127.3.0.1", PASSWORD, &[]).await;
    let real = cookie_value(&set_cookie(&res, "steward_device").unwrap());
    // Lock unknown devices.
    for i in 0..25 {
        login_via(&app, &browser("curl/8.5.0"), &format!("127.2.0.{i}"), "wrong guess", &[]).await;
    }
    let (payload, tag) = real.split_once('.').unwrap();
    let first = if tag.starts_with('A') { "B" } else { "A" };
    let altered_tag = format!("{first}{}", &tag[1..]);
    let other_key = steward::auth::devices::sign(&[9u8; 32], "phone", start());
    for (what, cookie) in [
        ("another key", other_key),
        ("an altered tag", format!("{payload}.{altered_tag}")),
        ("no tag", payload.to_string()),
        ("garbage", "not-a-cookie".to_string()),
    ] {
        let bare =
            Client::builder().redirect(redirect::Policy::none()).user_agent(LAPTOP_UA).build().unwrap();
        let res = bare
            .post(app.url("/login"))
            .header("Origin", &app.address)
            .header("X-Forwarded-For", "127.3.0.9")
            .header("Cookie", format!("steward_device={cookie}"))
            .form(&[("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 429, "{what}: an unknown device, locked");
    }
    // The real one, sent the same way, is known.
    let bare = Client::builder().redirect(redirect::Policy::none()).build().unwrap();
    let res = bare
        .post(app.url("/login"))
        .header("Origin", &app.address)
        .header("X-Forwarded-For", "127.3.0.9")
        .header("Cookie", format!("steward_device={real}"))
        .form(&[("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn a_known_devices_own_failures_lock_only_it() {
    let clock = FixedClock::new(start());
    let app = app_behind_proxy(&clock).await;
    let phone = browser(PHONE_UA);
    let laptop = browser(LAPTOP_UA);
    // Both behind one NAT address.
    assert_eq!(login_via(&app, &phone, "127.3.0.1", PASSWORD, &[]).await.status(), 303);
    assert_eq!(login_via(&app, &laptop, "127.3.0.1", PASSWORD, &[]).await.status(), 303);
    for _ in 0..5 {
        assert_eq!(login_via(&app, &phone, "127.3.0.1", "fat fingers", &[]).await.status(), 422);
    }
    assert_eq!(login_via(&app, &phone, "127.3.0.1", PASSWORD, &[]).await.status(), 429, "the phone waits");
    assert_eq!(
        login_via(&app, &laptop, "127.3.0.1", PASSWORD, &[]).await.status(),
        303,
        "the laptop does not"
    );
    let new = browser(LAPTOP_UA);
    assert_eq!(
        login_via(&app, &new, "127.3.0.1", PASSWORD, &[]).await.status(),
        303,
        "nor an unknown device"
    );
    // The lock runs out.
    clock.set(start() + Duration::seconds(2));
    assert_eq!(login_via(&app, &phone, "127.3.0.1", PASSWORD, &[]).await.status(), 303);
}

#[tokio::test]
async fn the_login_history_lists_successes_and_failures_with_address_and_device() {
    let clock = FixedClock::new(start());
    let mut app = app_behind_proxy(&clock).await;
    let phone = browser(PHONE_UA);
    clock.set(start() + Duration::minutes(1));
    assert_eq!(login_via(&app, &phone, "127.4.0.1", PASSWORD, &[]).await.status(), 303);
    clock.set(start() + Duration::minutes(2));
    assert_eq!(login_via(&app, &phone, "127.4.0.1", "oops", &[]).await.status(), 422);
    clock.set(start() + Duration::minutes(3));
    assert_eq!(login_via(&app, &browser("curl/8.5.0"), "127.5.0.9", "guess", &[]).await.status(), 422);

    app.refresh_csrf().await;
    let page = app.get("/settings").await.text().await.unwrap();
    let history = page.split("id=\"logins\"").nth(1).unwrap().split("</section>").next().unwrap();
    assert_eq!(
        history.matches("<tr>").count(),
        5,
        "header, setup, phone ok, phone wrong, stranger: {history}"
    );
    let rows: Vec<&str> = history.split("<tr>").skip(2).collect();
    assert!(rows[0].contains("Wrong password") && rows[0].contains("127.5.0.9") && rows[0].contains("curl"));
    assert!(rows[0].contains("unknown device"), "{}", rows[0]);
    assert!(rows[1].contains("Wrong password") && rows[1].contains("Firefox on Android"));
    assert!(rows[1].contains("127.4.0.1") && !rows[1].contains("unknown device"), "known: {}", rows[1]);
    assert!(rows[2].contains("Signed in") && rows[2].contains("unknown device"), "first login: {}", rows[2]);
    assert!(rows[3].contains("Signed in"), "the setup: {}", rows[3]);

    // The API: admin only.
    let (status, _) = app.api(&app.api_token_with("read").await).get("/auth/logins").await;
    assert_eq!(status, 403);
    let api = app.api(&app.api_token().await);
    let (status, body) = api.get("/auth/logins?limit=3").await;
    assert_eq!(status, 200, "{body}");
    let logins = body["logins"].as_array().unwrap();
    assert_eq!(logins.len(), 3);
    assert_eq!(logins[0]["outcome"], "wrong_password");
    assert_eq!(logins[0]["address"], "127.5.0.9");
    assert_eq!(logins[0]["device"], "curl");
    assert_eq!(logins[0]["known_device"], false);
    assert_eq!(logins[1]["known_device"], true);
    assert_eq!(logins[1]["device"], "Firefox on Android");
    assert_eq!(logins[2]["outcome"], "success");
    assert_eq!(logins[2]["at"], "2026-06-10T12:01:00Z");
    let (status, body) = api.get("/auth/logins?limit=0").await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("between 1 and 1000"), "{body}");
}

#[tokio::test]
async fn the_login_history_stays_bounded() {
    let app = logged_in_app().await;
    let db = steward::db::Db::open(&app.db_path).unwrap();
    let mut conn = db.conn().unwrap();
    let who = steward::auth::sessions::Client { ip: "127.0.0.1".into(), user_agent: "curl/8".into() };
    let unknown = steward::auth::devices::Device::Unknown;
    let now = Utc::now();
    use steward::auth::login_history::{KEEP_ROWS, Outcome, list, record};
    // An entry older than 90 days goes at the next entry.
    record(&mut conn, &who, &unknown, Outcome::Success, now - Duration::days(91)).unwrap();
    for _ in 0..KEEP_ROWS + 5 {
        record(&mut conn, &who, &unknown, Outcome::WrongPassword, now).unwrap();
    }
    let all = list(&mut conn, 5000).unwrap();
    assert_eq!(all.len() as i64, KEEP_ROWS);
    assert!(all.iter().all(|e| e.outcome == "wrong_password"));
}

#[tokio::test]
async fn remember_this_device_keeps_the_session_for_30_days_and_only_then() {
    let clock = FixedClock::new(start());
    let app = spawn_app_at(&clock, |c| c.session_idle_minutes = 60).await;
    let mut app = app;
    app.set_up().await;
    let page = client().get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("name=\"remember\"") && page.contains("Remember this device for 30 days"));

    let kept = client();
    let res = kept
        .post(app.url("/login"))
        .header("Origin", &app.address)
        .form(&[("password", PASSWORD), ("remember", "on")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let session = set_cookie(&res, "steward_session").unwrap();
    assert!(session.contains(&format!("Max-Age={}", 30 * 86_400)), "{session}");

    let passing = client();
    let res = app.login_with(&passing, PASSWORD).await;
    let session = set_cookie(&res, "steward_session").unwrap();
    assert!(!session.contains("Max-Age") && !session.contains("Expires"), "ends with the browser: {session}");

    // Two idle hours end the passing session; the remembered one lives on, up to 30 days.
    clock.set(start() + Duration::hours(2));
    assert_eq!(passing.get(app.url("/tasks")).send().await.unwrap().status(), 303);
    assert_eq!(kept.get(app.url("/tasks")).send().await.unwrap().status(), 200);
    clock.set(start() + Duration::days(29));
    assert_eq!(kept.get(app.url("/tasks")).send().await.unwrap().status(), 200);
    clock.set(start() + Duration::days(30) + Duration::minutes(1));
    assert_eq!(kept.get(app.url("/tasks")).send().await.unwrap().status(), 303, "past 30 days");
}

fn token_form<'a>(name: &'a str, password: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![("name", name), ("scope_read", "on"), ("expires", "30d")];
    if let Some(p) = password {
        form.push(("reauth_password", p));
    }
    form
}

#[tokio::test]
async fn sensitive_actions_ask_for_the_password_after_ten_minutes() {
    let clock = FixedClock::new(start());
    let mut app = spawn_app_at(&clock, |_| {}).await;
    app.set_up().await;

    // Within 10 minutes of the login: no question.
    clock.set(start() + Duration::minutes(9));
    let res = app.post_htmx("/settings/tokens", &token_form("first", None)).await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("Token “first” created"), "{page}");
    assert!(!page.contains("name=\"reauth_password\""));

    // Later: refused until the password is typed again, and what was typed is kept.
    clock.set(start() + Duration::minutes(11));
    let settings = app.get("/settings").await.text().await.unwrap();
    assert_eq!(settings.matches("name=\"reauth_password\"").count(), 2, "token and export forms ask");
    let res = app.post_htmx("/settings/tokens", &token_form("second", None)).await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("type your password to confirm it is you"), "{page}");
    assert!(page.contains("value=\"second\""));
    let res = app.post_htmx("/settings/tokens", &token_form("second", Some("not it"))).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("That is not your password."));
    let res = app.post_htmx("/settings/tokens", &token_form("second", Some(PASSWORD))).await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("Token “second” created"), "the action goes on: {page}");
    assert!(!page.contains("name=\"reauth_password\""), "fresh again");
    let api = app.api(&app.api_token().await);
    let history = api.get("/auth/logins").await.1;
    let outcomes: Vec<&str> =
        history["logins"].as_array().unwrap().iter().map(|l| l["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes[..2], ["reauth", "reauth_failed"]);

    // Fresh for 10 minutes from the confirmation.
    clock.set(start() + Duration::minutes(20));
    assert_eq!(app.post_htmx("/settings/tokens", &token_form("third", None)).await.status(), 200);

    // Export everything: a plain form; refused back to the page with the question, then done.
    clock.set(start() + Duration::minutes(40));
    let res = app.post_form("/settings/export", &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/settings#export");
    let page = app.get("/settings").await.text().await.unwrap();
    assert!(page.contains("type your password to confirm it is you"));
    let res = app.post_form("/settings/export", &[("reauth_password", PASSWORD)]).await;
    assert_eq!(res.status(), 200);
    let disposition = res.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(disposition.starts_with("attachment; filename=\"steward-20260610T1240"), "{disposition}");
    // Streamed from the copy, whose length is known (a browser shows the download's progress).
    let length = res.content_length();
    let bytes = res.bytes().await.unwrap();
    assert!(bytes.starts_with(b"SQLite format 3\0"));
    assert_eq!(length, Some(bytes.len() as u64));
    let copy = app.dir.path().join("export-check.db");
    std::fs::write(&copy, &bytes).unwrap();
    let db = steward::db::Db::open(&copy).unwrap();
    let names: Vec<String> =
        steward::auth::tokens::list(&mut db.conn().unwrap()).unwrap().into_iter().map(|t| t.name).collect();
    assert!(names.contains(&"second".to_string()), "{names:?}");
    let leftovers: Vec<_> = std::fs::read_dir(app.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".steward-export"))
        .collect();
    assert!(leftovers.is_empty(), "the temporary copy is removed");

    // Changing the password always asks for the current one; a right one counts as fresh.
    clock.set(start() + Duration::minutes(60));
    let res = app
        .post_htmx(
            "/settings/password",
            &[("current", PASSWORD), ("new", "a new passphrase 2"), ("confirm", "a new passphrase 2")],
        )
        .await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("Password changed."));
    assert!(!page.contains("name=\"reauth_password\""));
}
