//! Password rules and hashing: argon2id with m=19456 KiB, t=2, p=1 (OWASP's minimum), run by
//! callers off the async workers because one hash costs tens of milliseconds.
//!
//! Checks run one at a time in one 19 MiB buffer kept for the life of the process
//! ([`verify`]). Each check allocating its own buffer let the allocator keep one per worker
//! thread: 50 logins at once took the server from 37 to 340 MB, and a stranger's burst of
//! guesses could use every core.

use argon2::password_hash::rand_core::OsRng;
use std::sync::Mutex;

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

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

/// Whether `password` matches the stored PHC string (argon2 of any parameters).
pub fn verify(password: &str, stored: &str) -> bool {
    static MEMORY: Mutex<Vec<Block>> = Mutex::new(Vec::new());
    let Ok(parsed) = PasswordHash::new(stored) else { return false };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return false };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(parsed.algorithm), Params::try_from(&parsed))
    else {
        return false;
    };
    let version = parsed.version.map_or(Ok(Version::V0x13), Version::try_from);
    let mut salt_bytes = [0u8; 64];
    let (Ok(version), Ok(salt)) = (version, salt.decode_b64(&mut salt_bytes)) else { return false };
    let mut out = vec![0u8; expected.len()];
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    // A panic while holding it leaves only scratch memory behind.
    let mut memory = MEMORY.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let hashed =
        argon2.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..blocks]);
    drop(memory);
    hashed.is_ok() && super::constant_time_eq_bytes(&out, expected.as_bytes())
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
        // Other parameters (an older or stronger hash) verify too, in the same shared memory.
        let salt = SaltString::generate(&mut OsRng);
        let strong =
            Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(32_768, 3, 1, None).unwrap())
                .hash_password(b"correct horse battery", &salt)
                .unwrap()
                .to_string();
        assert!(verify("correct horse battery", &strong));
        assert!(!verify("correct horse battery!", &strong));
        assert!(verify("correct horse battery", &stored));
    }
}
