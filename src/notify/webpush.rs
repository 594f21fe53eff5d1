//! Web Push (RFC 8030): notifications to a browser through its vendor's push service, with the
//! message encrypted for that browser alone (RFC 8291, `aes128gcm`, by `web-push-native`) and
//! the request signed by Steward's VAPID key (RFC 8292: an ES256 JWT signed here with `p256`).
//!
//! - The VAPID key pair (P-256) is made on first use and kept in the `settings` table. The page
//!   gets the public key ([`public_key`]); the private key never leaves the database and this
//!   module (its `Debug` says `…`).
//! - A browser's subscription is a channel of kind `webpush`: `endpoint` and `p256dh` are its
//!   settings, `auth` is its write-only secret.
//! - A push service that answers 404 or 410 has dropped the subscription for good: the channel
//!   is removed ([`super::deliver`]) and the delivery's error and an in-app notification say so.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use serde::Serialize;
use serde_json::json;

use super::Channel;
use super::send::Message;
use crate::agents::deliver::Failure;
use crate::db::{Conn, settings};
use crate::error::AppError;

/// The settings rows that hold the VAPID key pair (base64url: the 32-byte private scalar, the
/// 65-byte uncompressed public point).
pub const PRIVATE_KEY: &str = "vapid_private_key";
pub const PUBLIC_KEY: &str = "vapid_public_key";

/// How long a push service keeps a message for a browser that is offline (seconds).
pub const TTL_SECS: u32 = 24 * 60 * 60;
/// How long a VAPID token is valid (RFC 8292 allows at most 24 hours).
const JWT_HOURS: i64 = 12;
/// What a push service must accept: 4096 bytes of ciphertext, so at most 3993 of JSON
/// (86 bytes of header and 17 of padding and tag).
const MAX_PAYLOAD: usize = 3993;

/// Steward's VAPID key pair.
#[derive(Clone)]
pub struct Vapid {
    key: SigningKey,
    public: String,
}

impl std::fmt::Debug for Vapid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vapid").field("public", &self.public).field("key", &"…").finish()
    }
}

impl Vapid {
    fn from_private(b64: &str) -> Option<Vapid> {
        let bytes = URL_SAFE_NO_PAD.decode(b64.trim()).ok()?;
        let secret = p256::SecretKey::from_slice(&bytes).ok()?;
        Some(Vapid::of(&secret))
    }

    fn of(secret: &p256::SecretKey) -> Vapid {
        let public = URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(false).as_bytes());
        Vapid { key: SigningKey::from(secret), public }
    }

    fn generate() -> Result<(Vapid, String), AppError> {
        // A random 32-byte string is a valid scalar all but ~2^-128 of the time; try again then.
        for _ in 0..8 {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes)
                .map_err(|e| AppError::Internal(anyhow::anyhow!("no randomness: {e}")))?;
            if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
                return Ok((Vapid::of(&secret), URL_SAFE_NO_PAD.encode(bytes)));
            }
        }
        Err(AppError::Internal(anyhow::anyhow!("could not make a VAPID key")))
    }

    /// The public key as the browser's `applicationServerKey` wants it (base64url).
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// The `Authorization` header for a push to `endpoint`: `vapid t=<JWT>, k=<public key>`,
    /// the JWT's audience the endpoint's origin, valid for 12 hours from `now`.
    pub fn authorization(
        &self,
        endpoint: &str,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<String, Failure> {
        let url = reqwest::Url::parse(endpoint)
            .map_err(|_| Failure::permanent("the subscription's endpoint is not a URL"))?;
        let aud = url.origin().ascii_serialization();
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let exp = now.timestamp() + JWT_HOURS * 3600;
        let claims = json!({ "aud": aud, "exp": exp, "sub": subject });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{header}.{claims}");
        let sig: Signature = self.key.sign(signed.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(sig.to_bytes());
        Ok(format!("vapid t={signed}.{sig}, k={}", self.public))
    }
}

/// The stored key pair, if one was made.
pub fn keys(conn: &mut Conn) -> Result<Option<Vapid>, AppError> {
    Ok(settings::get(conn, PRIVATE_KEY)?.as_deref().and_then(Vapid::from_private))
}

/// The stored key pair, made and stored now if there is none (first use).
pub fn ensure_keys(conn: &mut Conn) -> Result<Vapid, AppError> {
    crate::db::write(conn, |conn| {
        if let Some(v) = keys(conn)? {
            return Ok(v);
        }
        let (v, private) = Vapid::generate()?;
        settings::set(conn, PRIVATE_KEY, &private)?;
        settings::set(conn, PUBLIC_KEY, &v.public)?;
        tracing::info!("made the VAPID key pair for Web Push");
        Ok(v)
    })
}

/// The public key the page subscribes with (made on first use).
pub fn public_key(conn: &mut Conn) -> Result<String, AppError> {
    Ok(ensure_keys(conn)?.public)
}

/// What signing a push needs besides the channel: the key, who to contact (the JWT's `sub`)
/// and the time. Loaded per send by [`super::prepare`].
#[derive(Debug, Clone)]
pub struct Signer {
    pub vapid: Arc<Vapid>,
    pub subject: String,
    pub now: DateTime<Utc>,
}

/// The JWT's `sub`: the public https address, else a mailto (RFC 8292 wants one of them).
pub fn subject(public_url: Option<&str>) -> String {
    match public_url.map(|u| u.trim().trim_end_matches('/')) {
        Some(u) if u.starts_with("https://") => u.to_string(),
        _ => "mailto:steward@localhost".to_string(),
    }
}

/// A button on a notification: its id, its label and where it leads. `method: "POST"` makes
/// the service worker send a POST there (Done, Snooze) instead of opening it (Open).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Action {
    pub action: String,
    pub title: String,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

/// The JSON the service worker reads (`static/sw.js`): title, body, where a click leads and
/// the action buttons. Cut to what a push service carries (the body is shortened first).
pub fn payload(m: &Message, click: Option<&str>, actions: &[Action]) -> Vec<u8> {
    let title: String = m.title.chars().take(200).collect();
    let build = |body: &str| {
        json!({
            "title": title,
            "body": body,
            "url": click,
            "actions": actions,
            "tag": format!("steward-{}", m.id),
            "level": m.level,
        })
        .to_string()
        .into_bytes()
    };
    let mut body: String = m.body.clone();
    let mut out = build(&body);
    // Each turn cuts at least what is over (JSON escapes make a byte of text cost more).
    while out.len() > MAX_PAYLOAD && body != "…" {
        let mut end = body.len().saturating_sub(out.len() - MAX_PAYLOAD + "…".len());
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        body = format!("{}…", &body[..end]);
        out = build(&body);
    }
    out
}

/// How a push went wrong: `gone` when the push service says the subscription no longer exists.
#[derive(Debug)]
pub struct Refused {
    pub failure: Failure,
    pub gone: bool,
}

impl From<Failure> for Refused {
    fn from(failure: Failure) -> Refused {
        Refused { failure, gone: false }
    }
}

fn decode(field: &str, v: &str) -> Result<Vec<u8>, String> {
    let v = v.trim().trim_end_matches('=');
    URL_SAFE_NO_PAD
        .decode(v)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(v))
        .map_err(|_| format!("{field} is not base64url"))
}

/// The browser's public key (`p256dh`), checked.
pub fn browser_key(v: &str) -> Result<p256::PublicKey, String> {
    let bytes = decode("p256dh", v)?;
    if bytes.len() != 65 {
        return Err(format!("p256dh is {} bytes; a browser's P-256 key is 65", bytes.len()));
    }
    p256::PublicKey::from_sec1_bytes(&bytes).map_err(|_| "p256dh is not a P-256 public key".to_string())
}

/// The subscription's authentication secret (`auth`), checked.
pub fn auth_secret(v: &str) -> Result<[u8; 16], String> {
    let bytes = decode("auth", v)?;
    <[u8; 16]>::try_from(bytes.as_slice())
        .map_err(|_| format!("auth is {} bytes; a subscription's auth secret is 16", bytes.len()))
}

/// Sends `m` to the browser behind `ch`, with `click` and `actions` (see [`payload`]).
pub async fn push(
    http: &reqwest::Client,
    ch: &Channel,
    m: &Message,
    click: Option<&str>,
    actions: &[Action],
) -> Result<(), Refused> {
    let signer = ch
        .signer
        .as_ref()
        .ok_or_else(|| Failure::permanent("Steward's VAPID key is missing (open the Channels page once)"))?;
    let endpoint = ch.settings.endpoint.clone().unwrap_or_default();
    let host = super::send::host_of(&endpoint);
    let key = browser_key(ch.settings.p256dh.as_deref().unwrap_or_default()).map_err(Failure::permanent)?;
    let auth = auth_secret(ch.secret.as_deref().unwrap_or_default()).map_err(Failure::permanent)?;
    let body = web_push_native::encrypt(payload(m, click, actions), &key, &web_push_native::Auth::from(auth))
        .map_err(|e| Failure::permanent(format!("the message could not be encrypted: {e}")))?;
    let authorization = signer.vapid.authorization(&endpoint, &signer.subject, signer.now)?;
    let resp = http
        .post(&endpoint)
        .header("TTL", TTL_SECS.to_string())
        .header("Urgency", if m.level == "error" { "high" } else { "normal" })
        .header("Content-Encoding", "aes128gcm")
        .header("Content-Type", "application/octet-stream")
        .header("Authorization", authorization)
        .body(body)
        .send()
        .await
        .map_err(|e| super::send::transport(&host, &e))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let text = resp.text().await.unwrap_or_default();
    if matches!(status.as_u16(), 404 | 410) {
        return Err(Refused {
            failure: Failure::permanent(format!(
                "the push service at {host} answered {status}: this browser's subscription has ended"
            )),
            gone: true,
        });
    }
    Err(super::send::status_failure(&host, status, &text).into())
}

/// A browser's subscription as `PushSubscription.toJSON()` gives it, with the name the person
/// chose (if any).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Subscription {
    pub endpoint: String,
    pub keys: SubscriptionKeys,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct SubscriptionKeys {
    pub p256dh: String,
    pub auth: String,
}

/// Stores a browser's subscription as a `webpush` channel: a new one named as the person chose
/// or after the browser ([`name_for`]); a known endpoint gets its keys renewed instead (the
/// browser subscribed again). Says whether the channel is new.
pub fn subscribe(
    conn: &mut Conn,
    now: DateTime<Utc>,
    sub: Subscription,
    user_agent: &str,
) -> Result<(Channel, bool), AppError> {
    let endpoint = sub.endpoint.trim().to_string();
    let input = |name: Option<String>, kind: Option<String>| super::ChannelInput {
        name,
        kind,
        endpoint: Some(endpoint.clone()),
        p256dh: Some(sub.keys.p256dh.clone()),
        auth: Some(sub.keys.auth.clone()),
        ..super::ChannelInput::default()
    };
    let known = super::list(conn)?
        .into_iter()
        .find(|c| c.kind == "webpush" && c.settings.endpoint.as_deref() == Some(endpoint.as_str()));
    if let Some(c) = known {
        let (ch, _) = super::update_noting(conn, now, &c.name, input(None, None))?;
        return Ok((ch, false));
    }
    let chosen = sub.name.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(str::to_string);
    let name = chosen.unwrap_or_else(|| name_for(user_agent));
    let ch = super::add(conn, now, input(Some(name), Some("webpush".into())))?;
    Ok((ch, true))
}

/// A channel name for a browser that subscribed without one: `browser-firefox-3fa9`.
pub fn name_for(user_agent: &str) -> String {
    let ua = user_agent.to_ascii_lowercase();
    let browser = if ua.contains("edg/") {
        "edge"
    } else if ua.contains("firefox") {
        "firefox"
    } else if ua.contains("chrome") || ua.contains("chromium") {
        "chrome"
    } else if ua.contains("safari") {
        "safari"
    } else {
        "browser"
    };
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    format!("browser-{browser}-{:02x}{:02x}", b[0], b[1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier;

    fn message(body: &str) -> Message {
        Message {
            id: 7,
            title: "Stretch".into(),
            body: body.into(),
            level: "info".into(),
            link: None,
            created_at: 0,
            subject: None,
            actions: Vec::new(),
            priority: 3,
        }
    }

    #[test]
    fn the_jwt_is_signed_by_the_public_key_and_names_the_origin() {
        let (v, private) = Vapid::generate().unwrap();
        assert_eq!(Vapid::from_private(&private).unwrap().public, v.public);
        let now = DateTime::parse_from_rfc3339("2026-12-02T09:00:00Z").unwrap().with_timezone(&Utc);
        let h = v.authorization("https://push.example:8443/wpush/v2/abc?x=1", "mailto:a@b", now).unwrap();
        let (t, k) = h.strip_prefix("vapid t=").unwrap().split_once(", k=").unwrap();
        assert_eq!(k, v.public);
        let parts: Vec<&str> = t.split('.').collect();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["aud"], "https://push.example:8443");
        assert_eq!(claims["exp"], now.timestamp() + 12 * 3600);
        assert_eq!(claims["sub"], "mailto:a@b");
        let key = VerifyingKey::from_sec1_bytes(&URL_SAFE_NO_PAD.decode(k).unwrap()).unwrap();
        let sig = Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
        key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig).unwrap();
        let mut tampered = parts[1].to_string();
        tampered.push('A');
        assert!(key.verify(format!("{}.{tampered}", parts[0]).as_bytes(), &sig).is_err());
        assert!(!format!("{v:?}").contains(&private), "Debug never shows the private key");
    }

    #[test]
    fn the_payload_carries_click_and_actions_and_fits_a_push() {
        let actions = [Action {
            action: "done".into(),
            title: "Done".into(),
            url: "https://s.example/a/done".into(),
            method: Some("POST".into()),
        }];
        let p: serde_json::Value =
            serde_json::from_slice(&payload(&message("b"), Some("https://s.example/tasks"), &actions))
                .unwrap();
        assert_eq!(p["url"], "https://s.example/tasks");
        assert_eq!(p["actions"][0]["action"], "done");
        assert_eq!(p["actions"][0]["method"], "POST");
        assert_eq!(p["tag"], "steward-7");
        let long = "é".repeat(5000);
        let out = payload(&message(&long), None, &actions);
        assert!(out.len() <= MAX_PAYLOAD, "{}", out.len());
        let p: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(p["body"].as_str().unwrap().ends_with('…'));
        assert!(p["body"].as_str().unwrap().len() > 3000, "cut no more than needed");
    }

    #[test]
    fn subscription_keys_are_checked_and_names_follow_the_browser() {
        let secret = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
        let p = URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(false).as_bytes());
        assert!(browser_key(&p).is_ok());
        assert!(browser_key(&format!("{p}==")).is_ok());
        assert!(browser_key("AAAA").unwrap_err().contains("65"));
        assert!(auth_secret("AAAAAAAAAAAAAAAAAAAAAA").is_ok());
        assert!(auth_secret("AAAA").unwrap_err().contains("16"));
        assert!(auth_secret("!!").is_err());
        for (ua, kind) in [
            ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "firefox"),
            ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36", "chrome"),
            ("Mozilla/5.0 AppleWebKit/537.36 Chrome/131.0 Safari/537.36 Edg/131.0", "edge"),
            ("Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 Version/17.0 Safari/605.1.15", "safari"),
            ("curl/8", "browser"),
        ] {
            let n = name_for(ua);
            assert!(n.starts_with(&format!("browser-{kind}-")) && n.len() == 13 + kind.len(), "{n}");
        }
    }
}
