//! Values the server signs and later takes back (device cookies, one-click action links):
//! `base64url(payload).base64url(tag)`, the tag an HMAC-SHA256 under the server's key over a
//! domain naming the use and the payload, so a value signed for one use is refused by another.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

fn mac(key: &[u8], domain: &str, payload: &str) -> Option<Hmac<Sha256>> {
    // HMAC takes keys of any length: `None` cannot happen.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(domain.as_bytes());
    mac.update(b"|");
    mac.update(payload.as_bytes());
    Some(mac)
}

/// `payload`, signed with `key` for `domain`.
pub fn sign(key: &[u8], domain: &str, payload: &str) -> String {
    let tag = mac(key, domain, payload).map(|m| m.finalize().into_bytes().to_vec()).unwrap_or_default();
    format!("{}.{}", URL_SAFE_NO_PAD.encode(payload), URL_SAFE_NO_PAD.encode(tag))
}

/// The payload of `value`, if [`sign`] made it with this key for this domain.
pub fn open(key: &[u8], domain: &str, value: &str) -> Option<String> {
    let (payload, tag) = value.trim().split_once('.')?;
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    mac(key, domain, &payload)?.verify_slice(&tag).ok()?;
    Some(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_opens_only_with_its_key_and_domain_and_unaltered() {
        let value = sign(b"key", "use-a", "owner|42");
        assert_eq!(open(b"key", "use-a", &value).as_deref(), Some("owner|42"));
        assert_eq!(open(b"other key", "use-a", &value), None);
        assert_eq!(open(b"key", "use-b", &value), None);
        let (_, tag) = value.split_once('.').unwrap();
        let altered = format!("{}.{tag}", URL_SAFE_NO_PAD.encode("owner|43"));
        assert_eq!(open(b"key", "use-a", &altered), None);
        for junk in ["", ".", "no-dot", "!!.!!"] {
            assert_eq!(open(b"key", "use-a", junk), None, "{junk}");
        }
    }
}
