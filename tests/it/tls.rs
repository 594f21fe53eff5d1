//! Built-in TLS over real loopback connections: a CA and server certificates made at test time
//! (rcgen), clients that trust only the CA the test names. Logging in and pages over https, the
//! Secure cookie and HSTS, a renewal picked up without a restart (and a broken one ignored), the
//! plain-HTTP listener's redirect (and a forged `Host` that gets nowhere), and a start refused
//! with a sentence naming the wrong file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use reqwest::{Client, redirect};
use steward::app::Application;
use steward::config::Config;

use crate::helpers::{PASSWORD, TestApp, csrf_of};

/// A certificate authority the test trusts, and the server certificates it signs.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { pem: cert.pem(), issuer: Issuer::new(params, key) }
    }

    /// A server certificate for 127.0.0.1 and localhost: (chain PEM, key PEM).
    fn server(&self) -> (String, String) {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "steward test");
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A client that trusts this CA and nothing else (no built-in roots), keeps cookies, does
    /// not follow redirects, and opens a new connection for every request.
    fn client(&self) -> Client {
        Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.pem.as_bytes()).unwrap())
            .cookie_store(true)
            .redirect(redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    }
}

/// Replaces a file whole, as renewal tools do (write aside, rename over).
fn replace(path: &Path, text: &str) {
    let aside = path.with_extension("new");
    std::fs::write(&aside, text).unwrap();
    std::fs::rename(&aside, path).unwrap();
}

struct TlsApp {
    app: TestApp,
    cert: PathBuf,
    key: PathBuf,
    /// The plain-HTTP redirect listener's address.
    plain: String,
    port: u16,
}

/// Steward with built-in TLS (certificate from `ca`) and a redirect listener, checking its
/// files every 100 ms.
async fn spawn_tls_app(ca: &Ca, customise: impl FnOnce(&mut Config)) -> TlsApp {
    let dir = tempfile::tempdir().unwrap();
    let (cert_pem, key_pem) = ca.server();
    let (cert, key) = (dir.path().join("fullchain.pem"), dir.path().join("privkey.pem"));
    std::fs::write(&cert, cert_pem).unwrap();
    std::fs::write(&key, key_pem).unwrap();
    let mut config = Config {
        db: dir.path().join("steward.db"),
        bind: "127.0.0.1:0".into(),
        timezone: Some("Europe/Berlin".into()),
        tls_cert: Some(cert.clone()),
        tls_key: Some(key.clone()),
        http_bind: Some("127.0.0.1:0".into()),
        tls_poll: Duration::from_millis(100),
        ..Config::default()
    };
    customise(&mut config);
    config.validate().unwrap();
    let db_path = config.db.clone();
    let app = Application::build(config).await.expect("the app builds");
    let port = app.port();
    let plain = format!("http://127.0.0.1:{}", app.http_port().expect("a redirect listener"));
    let address = format!("https://127.0.0.1:{port}");
    let setup_url = app.setup_url().map(String::from);
    let stopper = app.stopper();
    tokio::spawn(app.run_until_stopped());
    let app = TestApp { address, db_path, setup_url, client: ca.client(), csrf: String::new(), dir, stopper };
    TlsApp { app, cert, key, plain, port }
}

/// Whether a fresh connection from `client` completes a request to `url`.
async fn reaches(client: &Client, url: &str) -> bool {
    client.get(url).send().await.is_ok()
}

async fn wait_until_reached(client: &Client, url: &str) {
    for _ in 0..100 {
        if reaches(client, url).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never answered a client trusting the new CA");
}

#[tokio::test]
async fn logging_in_and_pages_over_tls_with_a_secure_cookie_and_renewals_without_restart() {
    let ca = Ca::new("Steward test CA one");
    let TlsApp { mut app, cert, key, .. } = spawn_tls_app(&ca, |_| {}).await;
    let setup = app.setup_url.clone().unwrap();
    assert!(
        setup.starts_with(&format!("{}/setup?token=", app.address)),
        "the setup link says https: {setup}"
    );

    // A client that does not trust the CA gets no further than the handshake.
    let stranger = Ca::new("someone else").client();
    assert!(!reaches(&stranger, &app.url("/healthz")).await);

    app.set_up().await;
    // Logging in again over TLS: the session cookie is Secure and __Host- prefixed.
    let client = ca.client();
    let res = crate::helpers::login_at(&client, &app.address, PASSWORD).await;
    assert_eq!(res.status(), 303);
    let cookie = res.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
    assert!(cookie.starts_with("__Host-steward_session="), "{cookie}");
    assert!(cookie.split(';').any(|p| p.trim().eq_ignore_ascii_case("secure")), "{cookie}");
    for path in ["/", "/tasks", "/calendar", "/schedules", "/runs", "/chat", "/settings"] {
        let res = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let hsts = res.headers().get("strict-transport-security").map(|v| v.to_str().unwrap().to_string());
        assert_eq!(hsts.as_deref(), Some("max-age=31536000; includeSubDomains"), "{path}");
    }
    // A form post over TLS passes the origin check with the https origin.
    let page = client.get(app.url("/tasks")).send().await.unwrap().text().await.unwrap();
    let res = client
        .post(app.url("/tasks"))
        .header("Origin", &app.address)
        .header("X-CSRF-Token", csrf_of(&page))
        .form(&[("text", "Renew the certificate")])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success() || res.status().is_redirection(), "{}", res.status());

    // A renewal from another CA (so a new serial and issuer): new connections get it.
    let renewed = Ca::new("Steward test CA two");
    let (new_cert, new_key) = renewed.server();
    replace(&key, &new_key);
    replace(&cert, &new_cert);
    let only_new = renewed.client();
    wait_until_reached(&only_new, &app.url("/healthz")).await;
    assert!(!reaches(&ca.client(), &app.url("/healthz")).await, "the old certificate is no longer served");
    // The session lives on: a client trusting the new CA with the same cookie still sees pages.
    let res = only_new
        .get(app.url("/tasks"))
        .header("Cookie", cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Renew the certificate"));

    // A broken renewal: a certificate whose key is another's, then a file that is no PEM at
    // all. The working pair stays.
    replace(&cert, &Ca::new("Steward test CA three").server().0);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(reaches(&only_new, &app.url("/healthz")).await, "a mismatched pair keeps the old one");
    replace(&cert, "not a certificate\n");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(reaches(&only_new, &app.url("/healthz")).await, "an unreadable file keeps the old one");
    // And the next good pair is taken.
    let third = Ca::new("Steward test CA four");
    let (c, k) = third.server();
    replace(&key, &k);
    replace(&cert, &c);
    wait_until_reached(&third.client(), &app.url("/healthz")).await;
    app.stopper.stop().await;
}

fn plain_client() -> Client {
    Client::builder().redirect(redirect::Policy::none()).build().unwrap()
}

async fn location(client: &Client, url: &str, host: Option<&str>) -> (u16, Option<String>) {
    let mut req = client.get(url);
    if let Some(host) = host {
        req = req.header("Host", host);
    }
    let res = req.send().await.unwrap();
    let location = res.headers().get("location").map(|v| v.to_str().unwrap().to_string());
    (res.status().as_u16(), location)
}

#[tokio::test]
async fn plain_http_redirects_to_https_and_a_forged_host_goes_nowhere_foreign() {
    let ca = Ca::new("Steward test CA");
    let TlsApp { mut app, plain, port, .. } = spawn_tls_app(&ca, |_| {}).await;
    app.set_up().await;
    let client = plain_client();

    // The host the browser asked for, with the https port; path and query kept; any method.
    let (status, to) = location(&client, &format!("{plain}/tasks?q=due%3Atoday"), None).await;
    assert_eq!(
        (status, to.as_deref()),
        (308, Some(format!("https://127.0.0.1:{port}/tasks?q=due%3Atoday").as_str()))
    );
    let (status, to) = location(&client, &format!("{plain}/login"), Some("localhost:8080")).await;
    assert_eq!((status, to.as_deref()), (308, Some(format!("https://localhost:{port}/login").as_str())));
    let res = client.post(format!("{plain}/login")).form(&[("password", PASSWORD)]).send().await.unwrap();
    assert_eq!(res.status(), 308, "a form post is redirected too, never served over plain HTTP");
    // Nothing is served over plain HTTP, not even to a logged-in session's cookie.
    let res = client.get(format!("{plain}/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 308);

    // A forged Host the certificate does not name is refused, not redirected to.
    for forged in ["evil.example", "evil.example:443", "127.0.0.1.evil.example", "user@evil.example"] {
        let (status, to) = location(&client, &format!("{plain}/tasks"), Some(forged)).await;
        assert_eq!((status, to), (400, None), "{forged}");
    }
    // A path that looks like another host stays on ours.
    let (status, to) = location(&client, &format!("{plain}//evil.example/x"), None).await;
    assert_eq!(
        (status, to.as_deref()),
        (308, Some(format!("https://127.0.0.1:{port}//evil.example/x").as_str()))
    );
    app.stopper.stop().await;

    // With a public URL, every redirect goes to its origin, whatever Host says.
    let TlsApp { app, plain, .. } =
        spawn_tls_app(&ca, |c| c.public_url = Some("https://steward.example:8443/".into())).await;
    for host in [None, Some("evil.example"), Some("127.0.0.1:9")] {
        let (status, to) = location(&client, &format!("{plain}/calendar?week=1"), host).await;
        assert_eq!(
            (status, to.as_deref()),
            (308, Some("https://steward.example:8443/calendar?week=1")),
            "{host:?}"
        );
    }
    app.stopper.stop().await;
}

#[tokio::test]
async fn a_start_with_wrong_tls_files_names_the_file() {
    let ca = Ca::new("Steward test CA");
    let dir = tempfile::tempdir().unwrap();
    let (cert_pem, _) = ca.server();
    let (_, other_key) = ca.server();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, cert_pem).unwrap();
    std::fs::write(&key, other_key).unwrap();
    let config = |cert: &Path, key: &Path| Config {
        db: dir.path().join("steward.db"),
        bind: "127.0.0.1:0".into(),
        tls_cert: Some(cert.to_path_buf()),
        tls_key: Some(key.to_path_buf()),
        ..Config::default()
    };
    let err = Application::build(config(&cert, &key)).await.err().expect("a mismatched key stops the start");
    let text = format!("{err:#}");
    assert!(text.contains("tls_key") && text.contains(&key.display().to_string()), "{text}");
    let missing = dir.path().join("nowhere.pem");
    let err = Application::build(config(&missing, &key)).await.err().expect("a missing file stops the start");
    let text = format!("{err:#}");
    assert!(text.contains("cannot read") && text.contains("nowhere.pem"), "{text}");
}
