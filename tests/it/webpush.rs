//! Web Push channels, proven against an independent implementation: a loopback stand-in for
//! the push service records what Steward sends; PyPI's `http_ece` decrypts the body with the
//! subscription's private key and auth secret (made in Python, as a browser would), and
//! `cryptography` checks the VAPID token's ES256 signature. A push service that answers 410
//! removes the subscription, and the trace says so.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

/// The browser's side in Python: `keys` makes a subscription's P-256 key pair and auth secret;
/// `open` decrypts a push body (aes128gcm) and checks its VAPID token, printing what it found.
const BROWSER: &str = r#"
import base64, json, os, sys, time
import http_ece
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

def b64e(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

if sys.argv[1] == "keys":
    k = ec.generate_private_key(ec.SECP256R1())
    pub = k.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    d = k.private_numbers().private_value.to_bytes(32, "big")
    print(json.dumps({"d": b64e(d), "p256dh": b64e(pub), "auth": b64e(os.urandom(16))}))
else:
    req = json.load(sys.stdin)
    key = ec.derive_private_key(int.from_bytes(b64d(req["d"]), "big"), ec.SECP256R1())
    plain = http_ece.decrypt(base64.b64decode(req["body"]), private_key=key,
                             auth_secret=b64d(req["auth"]), version="aes128gcm")
    scheme, _, rest = req["authorization"].partition(" ")
    assert scheme == "vapid", scheme
    t, _, k = rest.partition(", k=")
    assert t.startswith("t="), t
    h, c, s = t[2:].split(".")
    sig = b64d(s)
    assert len(sig) == 64, len(sig)
    signer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64d(k))
    signer.verify(encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")),
                  (h + "." + c).encode(), ec.ECDSA(hashes.SHA256()))
    print(json.dumps({"payload": json.loads(plain), "header": json.loads(b64d(h)),
                      "claims": json.loads(b64d(c)), "k": k, "now": int(time.time())}))
"#;

fn python_ready() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import http_ece, cryptography"])
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        // CI installs them (.ci/run); there a missing package is a failure, not a skip.
        assert!(std::env::var_os("CI").is_none(), "PyPI's http_ece and cryptography are missing");
        eprintln!("skipping: python3 -m pip install http_ece cryptography (as .ci/run does)");
    }
    found
}

fn browser(args: &[&str], stdin: Option<&Value>) -> Result<Value, String> {
    let mut child = Command::new("python3")
        .args(["-c", BROWSER])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = stdin.map(|v| v.to_string()).unwrap_or_default();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).to_string());
    }
    Ok(serde_json::from_slice(&out.stdout).unwrap())
}

#[derive(Debug, Clone)]
struct Pushed {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Pushed {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Seen(Mutex<Vec<Pushed>>);

/// A push service on loopback: `/push/ok/...` accepts (201), `/push/gone/...` answers 410.
async fn push_service(req: HttpRequest, body: web::Bytes, seen: web::Data<Seen>) -> HttpResponse {
    let path = req.path().to_string();
    seen.0.lock().unwrap().push(Pushed {
        path: path.clone(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect(),
        body: body.to_vec(),
    });
    if path.starts_with("/push/gone/") {
        return HttpResponse::Gone().body("push subscription has unsubscribed or expired");
    }
    HttpResponse::Created().finish()
}

async fn start_push_service() -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let data = web::Data::from(seen.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server =
        HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(push_service)))
            .workers(1)
            .listen(listener)
            .unwrap()
            .run();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}"), seen)
}

/// Where the person reaches Steward (behind a TLS proxy); browsers send it as their Origin.
const PUBLIC: &str = "https://steward.example";

async fn app() -> TestApp {
    let mut app = spawn_app_with(|c| {
        c.channel_retry_ms = 100;
        c.public_url = Some(format!("{PUBLIC}/"));
    })
    .await;
    let setup = app.setup_url.clone().unwrap();
    let token = setup.split("token=").nth(1).unwrap().to_string();
    let password = crate::helpers::PASSWORD;
    let res = app
        .client
        .post(app.url("/setup"))
        .header("Origin", PUBLIC)
        .form(&[("token", token.as_str()), ("password", password), ("confirm", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    app.refresh_csrf().await;
    app
}

/// What the page's script posts after `pushManager.subscribe` (the session's CSRF header).
async fn subscribe(app: &TestApp, body: Value, ua: &str) -> (u16, Value) {
    let res = app
        .client
        .post(app.url("/push/subscribe"))
        .header("Origin", PUBLIC)
        .header("X-CSRF-Token", &app.csrf)
        .header("User-Agent", ua)
        .json(&body)
        .send()
        .await
        .unwrap();
    crate::helpers::read(res).await
}

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

#[tokio::test]
async fn a_push_is_encrypted_for_the_browser_and_signed_with_the_vapid_key() {
    if !python_ready() {
        return;
    }
    let (push, seen) = start_push_service().await;
    let app = app().await;
    // The service worker is public, served from the root (its scope is the whole app).
    let sw = app.client.get(app.url("/sw.js")).send().await.unwrap();
    assert_eq!(sw.status(), 200);
    assert!(sw.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert_eq!(sw.headers()["service-worker-allowed"], "/");
    assert!(sw.text().await.unwrap().contains("notificationclick"));
    let anonymous = crate::helpers::client().get(app.url("/sw.js")).send().await.unwrap();
    assert_eq!(anonymous.status(), 200);

    // The page hands out the public key (made on first use), never the private one.
    let page = app.get("/channels").await.text().await.unwrap();
    let key = page.split("data-vapid-key=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    assert_eq!(key.len(), 87, "65 bytes, base64url: {key}");
    let private = {
        let db = steward::db::Db::open(&app.db_path).unwrap();
        steward::db::settings::get(&mut db.conn().unwrap(), "vapid_private_key").unwrap().unwrap()
    };
    assert!(!page.contains(&private));
    assert!(page.contains("id=\"push-enable\""), "the button");
    assert!(!page.contains("href=\"/channels?kind=webpush"), "a browser adds itself, not by a form");

    // The browser subscribes: its keys are made in Python, as a browser would make them.
    let b = browser(&["keys"], None).unwrap();
    let endpoint = format!("{push}/push/ok/sub-1");
    let sub = json!({"endpoint": endpoint, "keys": {"p256dh": b["p256dh"], "auth": b["auth"]}});
    // Not without the session's CSRF token.
    let forged =
        app.client.post(app.url("/push/subscribe")).header("Origin", PUBLIC).json(&sub).send().await.unwrap();
    assert_eq!(forged.status(), 403);
    let (status, body) = subscribe(&app, sub.clone(), FIREFOX).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["added"], true);
    let name = body["name"].as_str().unwrap().to_string();
    assert!(name.starts_with("browser-firefox-"), "{name}");
    // Subscribing again renews the same channel.
    let (status, again) = subscribe(&app, sub, FIREFOX).await;
    assert_eq!((status, again["added"].clone(), again["name"].clone()), (200, json!(false), json!(name)));

    // The API shows the subscription; auth is write-only.
    let api = app.api(&app.api_token().await);
    let (_, list) = api.get("/channels").await;
    let ch = list["channels"].as_array().unwrap().iter().find(|c| c["name"] == name.as_str()).unwrap();
    assert_eq!(ch["kind"], "webpush");
    assert_eq!(ch["endpoint"], endpoint.as_str());
    assert_eq!(ch["p256dh"], b["p256dh"]);
    assert_eq!(ch["auth"], "set");
    assert!(!list.to_string().contains(b["auth"].as_str().unwrap()));
    // Bad keys are refused, naming the field.
    let (status, bad) = api
        .post(
            "/channels",
            json!({"name": "bad", "kind": "webpush", "endpoint": endpoint, "p256dh": "AAAA", "auth": b["auth"]}),
        )
        .await;
    assert_eq!((status, bad["error"]["field"].clone()), (422, json!("p256dh")), "{bad}");
    let (status, bad) = api
        .post(
            "/channels",
            json!({"name": "bad", "kind": "webpush", "endpoint": "http://push.example/x", "p256dh": b["p256dh"], "auth": b["auth"]}),
        )
        .await;
    assert_eq!((status, bad["error"]["field"].clone()), (422, json!("endpoint")), "{bad}");

    // The Test button: one push, which the browser's keys open.
    let (status, tested) = api.post(&format!("/channels/{name}/test"), json!({})).await;
    assert_eq!((status, tested["ok"].clone()), (200, json!(true)), "{tested}");
    let got = seen.0.lock().unwrap().last().cloned().unwrap();
    assert_eq!(got.path, "/push/ok/sub-1");
    assert_eq!(got.header("content-encoding"), Some("aes128gcm"));
    assert_eq!(got.header("ttl"), Some("86400"));
    assert_eq!(got.header("content-type"), Some("application/octet-stream"));
    let authorization = got.header("authorization").unwrap().to_string();
    assert!(authorization.starts_with("vapid t=") && authorization.contains(", k="), "{authorization}");
    let open = |body: &[u8]| {
        use base64::Engine;
        browser(
            &["open"],
            Some(&json!({
                "d": b["d"],
                "auth": b["auth"],
                "body": base64::engine::general_purpose::STANDARD.encode(body),
                "authorization": authorization,
            })),
        )
    };
    let opened = open(&got.body).unwrap();
    let p = &opened["payload"];
    assert_eq!(p["title"], "Test from Steward");
    assert!(p["body"].as_str().unwrap().contains(&name), "{p}");
    assert_eq!(p["url"], "https://steward.example/notifications");
    assert_eq!(p["actions"], json!([]));
    assert_eq!(opened["header"]["alg"], "ES256");
    assert_eq!(opened["k"], key.as_str(), "signed with the key the page gave the browser");
    let claims = &opened["claims"];
    assert_eq!(claims["aud"], push.as_str(), "the endpoint's origin");
    assert_eq!(claims["sub"], "https://steward.example");
    let left = claims["exp"].as_i64().unwrap() - opened["now"].as_i64().unwrap();
    assert!(left > 3600 && left <= 24 * 3600, "exp within 24 hours: {left} s");
    // The same check fails on a body changed in transit (so it can fail).
    let mut changed = got.body.clone();
    let last = changed.len() - 1;
    changed[last] ^= 1;
    assert!(open(&changed).is_err());

    // A notification delivered by the scheduler reaches it too.
    let (status, s) = api
        .post("/schedules", json!({"prompt": "Water the plants", "agent": "notify", "cron": "0 9 * * *"}))
        .await;
    assert_eq!(status, 201, "{s}");
    let before = seen.0.lock().unwrap().len();
    api.post(&format!("/schedules/{}/run", s["id"]), json!({})).await;
    let until = Instant::now() + Duration::from_secs(10);
    while seen.0.lock().unwrap().len() == before {
        assert!(Instant::now() < until, "never pushed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = seen.0.lock().unwrap().last().cloned().unwrap();
    let opened = open(&got.body).unwrap();
    assert_eq!(opened["payload"]["body"], "Water the plants", "{opened}");
    assert!(opened["payload"]["tag"].as_str().unwrap().starts_with("steward-"));
}

#[tokio::test]
async fn a_subscription_the_push_service_calls_gone_is_removed_and_the_trace_says_so() {
    let (push, seen) = start_push_service().await;
    let app = app().await;
    let api = app.api(&app.api_token().await);
    // Keys made in Rust here (this test needs no Python): a browser's P-256 key and auth secret.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let secret = p256::SecretKey::from_slice(&[9u8; 32]).unwrap();
    let p256dh = {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        b64.encode(secret.public_key().to_encoded_point(false).as_bytes())
    };
    let sub = |path: &str| json!({"endpoint": format!("{push}{path}"), "keys": {"p256dh": p256dh, "auth": b64.encode([3u8; 16])}});
    let (_, gone) = subscribe(&app, sub("/push/gone/old-laptop"), FIREFOX).await;
    let mut named = sub("/push/ok/phone");
    named["name"] = json!("phone");
    let (status, kept) = subscribe(&app, named, "curl/8").await;
    assert_eq!((status, kept["name"].clone()), (200, json!("phone")), "{kept}");
    let gone = gone["name"].as_str().unwrap().to_string();

    // The Test button says what the push service said, without removing anything.
    let (_, tested) = api.post(&format!("/channels/{gone}/test"), json!({})).await;
    assert_eq!(tested["ok"], false);
    assert!(tested["message"].as_str().unwrap().contains("410"), "{tested}");

    let (_, s) =
        api.post("/schedules", json!({"prompt": "Stretch", "agent": "notify", "cron": "0 9 * * *"})).await;
    api.post(&format!("/schedules/{}/run", s["id"]), json!({})).await;
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, list) = api.get("/channels").await;
        let names: Vec<&str> =
            list["channels"].as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
        if !names.contains(&gone.as_str()) {
            assert!(names.contains(&"phone"), "only the ended one goes: {names:?}");
            break;
        }
        assert!(Instant::now() < until, "never removed: {list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // One attempt (410 is final), not four.
    let to_gone = seen.0.lock().unwrap().iter().filter(|p| p.path.starts_with("/push/gone/")).count();
    assert_eq!(to_gone, 2, "the test and one delivery");
    // The trace: the delivery's error, and an in-app notification naming the channel.
    let db = steward::db::Db::open(&app.db_path).unwrap();
    let mut conn = db.conn().unwrap();
    let notes = steward::notifications::list(&mut conn, 50).unwrap();
    let told = notes
        .iter()
        .find(|n| n.title == format!("Channel “{gone}” could not be reached"))
        .expect("told in-app");
    assert!(told.body.contains("410") && told.body.contains("was removed"), "{}", told.body);
    let stretch = notes.iter().find(|n| n.body == "Stretch").unwrap();
    let rows = steward::notify::of_notification(&mut conn, stretch.id).unwrap();
    let row = rows.iter().find(|d| d.channel == gone).unwrap();
    assert_eq!((row.state.as_str(), row.attempts), ("failed", 1));
    assert!(row.error.as_deref().unwrap().contains("subscription has ended"), "{row:?}");
    let until = Instant::now() + Duration::from_secs(10);
    while !steward::notify::of_notification(&mut conn, stretch.id)
        .unwrap()
        .iter()
        .any(|d| d.channel == "phone" && d.state == "sent")
    {
        assert!(Instant::now() < until, "phone never got it");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
