//! Password rules and hashing: argon2id with m=19456 KiB, t=2, p=1 (OWASP's minimum), run by
//! callers off the async workers because one hash costs tens of milliseconds.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::AppError;

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 256;

/// Django's list of 20,000 common passwords (BSD licence), lower-cased, the ones of 8+ characters,
/// sorted for binary search.
const COMMON: &str = include_str!("common-passwords.txt");

fn argon2() -> Result<Argon2<'static>, AppError> {
    let params = Params::new(19_456, 2, 1, None).map_err(|e| anyhow::anyhow!("argon2 params: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Refuses passwords that are too short, too long or on the common list.
pub fn check_policy(password: &str) -> Result<(), AppError> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(AppError::invalid("password", format!("is {len} characters; use at least {MIN_LEN}")));
    }
    if len > MAX_LEN {
        return Err(AppError::invalid("password", format!("is {len} characters; the limit is {MAX_LEN}")));
    }
    if is_common(password) {
        return Err(AppError::invalid(
            "password",
            "is on the list of commonly used passwords; choose another",
        ));
    }
    Ok(())
}

fn is_common(password: &str) -> bool {
    static LIST: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    let list = LIST.get_or_init(|| COMMON.lines().collect());
    list.binary_search(&password.to_lowercase().as_str()).is_ok()
}

pub fn hash(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    let hash = argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the stored PHC string.
pub fn verify(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    argon2().is_ok_and(|a| a.verify_password(password.as_bytes(), &parsed).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        let cases = [
            ("short", false),
            ("password", false),
            ("PassWord1", false),
            ("qwertyuiop", false),
            ("iloveyou2", false),
            ("correct horse battery", true),
            ("kx8Pq2mZ", true),
            ("ünïcödé-pässwörd", true),
        ];
        for (pw, ok) in cases {
            assert_eq!(check_policy(pw).is_ok(), ok, "{pw}");
        }
        assert!(check_policy(&"a".repeat(MAX_LEN + 1)).is_err());
        assert!(check_policy(&"abcdefgh1234".repeat(30)[..MAX_LEN]).is_ok());
    }

    #[test]
    fn common_list_is_sorted_and_lower_case() {
        let lines: Vec<&str> = COMMON.lines().collect();
        assert!(lines.len() > 5000);
        assert!(lines.windows(2).all(|w| w[0] < w[1]));
        assert!(lines.iter().all(|l| *l == l.to_lowercase()));
    }

    #[test]
    fn hash_and_verify() {
        let stored = hash("correct horse battery").unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("correct horse battery", &stored));
        assert!(!verify("correct horse batterY", &stored));
        assert!(!verify("x", "not a hash"));
    }
}
