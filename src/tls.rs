//! Built-in TLS (rustls, ring): the certificate chain and key named by `tls_cert` / `tls_key`,
//! checked at start, and picked up again without a restart when a renewal replaces them.
//!
//! Renewal tools (certbot, Caddy, acme.sh) write new files in place or swap a symlink to them.
//! [`watch`] looks at both files' metadata every few seconds (following symlinks) and, when it
//! changed, loads the pair again: new handshakes then get the new certificate, connections open
//! already keep theirs. A pair that cannot be used (half written, key of another certificate) is
//! logged and the one in use stays; the next change is tried again.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{ClientHello, ParsedCertificate, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::error::AppError;

/// The pair in use, swapped whole when the files change.
pub struct CertStore {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    /// The files' stamps just before they were first read: [`watch`] starts from these, so a
    /// change between the start and the watcher's first look is not missed.
    loaded: (Option<Stamp>, Option<Stamp>),
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertStore").field("cert", &self.cert).field("key", &self.key).finish()
    }
}

impl CertStore {
    /// Loads the pair, or says which file is wrong and how.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<CertStore>, AppError> {
        let loaded = (stamp(cert), stamp(key));
        let pair = load_pair(cert, key)?;
        Ok(Arc::new(CertStore {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(pair),
            loaded,
        }))
    }

    /// The pair new handshakes get.
    pub fn current(&self) -> Arc<CertifiedKey> {
        // A poisoned lock still holds a whole pair: a writer only ever replaces the Arc.
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn replace(&self, pair: Arc<CertifiedKey>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = pair;
    }

    /// Whether the certificate in use names `host` (a DNS name or an IP address, no port).
    pub fn names(&self, host: &str) -> bool {
        let pair = self.current();
        let (Some(cert), Ok(name)) = (pair.cert.first(), ServerName::try_from(host)) else { return false };
        ParsedCertificate::try_from(cert)
            .is_ok_and(|parsed| rustls::client::verify_server_name(&parsed, &name).is_ok())
    }

    /// The rustls configuration for the https listener: this store picks the certificate.
    pub fn server_config(self: &Arc<Self>) -> Result<rustls::ServerConfig, AppError> {
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| AppError::Internal(anyhow::anyhow!("TLS versions: {e}")))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        Ok(config)
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads and checks both files: each readable and PEM, a certificate and a key, the key the
/// certificate's.
pub fn load_pair(cert_path: &Path, key_path: &Path) -> Result<Arc<CertifiedKey>, AppError> {
    let cert_bytes = read("tls_cert", "certificate", cert_path)?;
    let certs = CertificateDer::pem_slice_iter(&cert_bytes).collect::<Result<Vec<_>, _>>().map_err(|e| {
        AppError::invalid(
            "tls_cert",
            format!("{} is not a readable PEM certificate file: {e}", cert_path.display()),
        )
    })?;
    if certs.is_empty() {
        return Err(AppError::invalid(
            "tls_cert",
            format!(
                "{} holds no PEM certificate (a \"-----BEGIN CERTIFICATE-----\" block)",
                cert_path.display()
            ),
        ));
    }
    let key_bytes = read("tls_key", "private key", key_path)?;
    let key = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| {
        let why = match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "holds no PEM private key (a \"-----BEGIN PRIVATE KEY-----\", \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\" block)".to_string()
            }
            other => format!("is not a readable PEM private key file: {other}"),
        };
        AppError::invalid("tls_key", format!("{} {why}", key_path.display()))
    })?;
    let signer = provider().key_provider.load_private_key(key).map_err(|e| {
        AppError::invalid(
            "tls_key",
            format!("{} holds a private key TLS cannot use: {e}", key_path.display()),
        )
    })?;
    let pair = CertifiedKey::new(certs, signer);
    match pair.keys_match() {
        Ok(()) => Ok(Arc::new(pair)),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(AppError::invalid(
                "tls_key",
                format!(
                    "the private key in {} is not the key of the certificate in {} (the first certificate of the chain must be the server's own)",
                    key_path.display(),
                    cert_path.display()
                ),
            ))
        }
        Err(e) => Err(AppError::invalid(
            "tls_cert",
            format!("{} does not hold a usable certificate: {e}", cert_path.display()),
        )),
    }
}

fn read(field: &str, what: &str, path: &Path) -> Result<Vec<u8>, AppError> {
    std::fs::read(path)
        .map_err(|e| AppError::invalid(field, format!("cannot read the TLS {what} {}: {e}", path.display())))
}

/// What identifies one version of a file: a renewal changes at least one of these, whether it
/// rewrites the file or swaps a symlink to a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    inode: u64,
    modified: Option<SystemTime>,
    len: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    // `metadata` follows symlinks: a swapped link shows the new file's stamp.
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp { inode: meta.ino(), modified: meta.modified().ok(), len: meta.len() })
}

fn stamps(store: &CertStore) -> (Option<Stamp>, Option<Stamp>) {
    (stamp(&store.cert), stamp(&store.key))
}

/// Checks the files every `every` and swaps in the new pair when they changed; never returns
/// (the caller ends it with Steward).
pub async fn watch(store: Arc<CertStore>, every: Duration) {
    let mut seen = store.loaded.clone();
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let now = {
            let store = store.clone();
            match tokio::task::spawn_blocking(move || stamps(&store)).await {
                Ok(now) => now,
                Err(_) => continue,
            }
        };
        if now == seen {
            continue;
        }
        seen = now;
        let loaded = {
            let store = store.clone();
            tokio::task::spawn_blocking(move || load_pair(&store.cert, &store.key)).await
        };
        match loaded {
            Ok(Ok(pair)) => {
                store.replace(pair);
                tracing::info!(cert = %store.cert.display(), "TLS certificate reloaded");
            }
            Ok(Err(e)) => tracing::warn!(
                error = %e,
                "the changed TLS files cannot be used; the previous certificate is still served"
            ),
            Err(e) => tracing::warn!(error = %e, "reloading the TLS files failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(names: &[&str]) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn files(dir: &Path, cert: &str, key: &str) -> (PathBuf, PathBuf) {
        let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&c, cert).unwrap();
        std::fs::write(&k, key).unwrap();
        (c, k)
    }

    #[test]
    fn a_good_pair_loads_and_names_its_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pair(&["steward.example", "127.0.0.1"]);
        let (c, k) = files(dir.path(), &cert, &key);
        let store = CertStore::load(&c, &k).unwrap();
        assert!(store.names("steward.example"));
        assert!(store.names("127.0.0.1"));
        assert!(!store.names("evil.example"));
        assert!(!store.names("127.0.0.2"));
        assert!(!store.names("steward.example/x"));
    }

    #[test]
    fn each_broken_pair_names_the_file_at_fault() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pair(&["steward.example"]);
        let (_, other_key) = pair(&["steward.example"]);
        let missing = dir.path().join("missing.pem");
        // (case, certificate file, key file, what the error says, whether it names the key file)
        let cases: Vec<(&str, String, String, &str, bool)> = vec![
            ("no certificate", "just text\n".into(), key.clone(), "holds no PEM certificate", false),
            ("no key", cert.clone(), "just text\n".into(), "holds no PEM private key", true),
            ("a key for a certificate", key.clone(), key.clone(), "holds no PEM certificate", false),
            ("another key", cert.clone(), other_key, "is not the key of the certificate", true),
        ];
        for (case, cert_text, key_text, expected, names_key) in cases {
            let (c, k) = files(dir.path(), &cert_text, &key_text);
            let err = load_pair(&c, &k).unwrap_err().to_string();
            assert!(err.contains(expected), "{case}: {err}");
            let named = if names_key { &k } else { &c };
            assert!(err.contains(&named.display().to_string()), "{case}: {err}");
        }
        let (c, _) = files(dir.path(), &cert, &key);
        let err = load_pair(&c, &missing).unwrap_err().to_string();
        assert!(err.contains("cannot read the TLS private key") && err.contains("missing.pem"), "{err}");
        let err = load_pair(&missing, &c).unwrap_err().to_string();
        assert!(err.contains("cannot read the TLS certificate") && err.contains("missing.pem"), "{err}");
    }

    #[tokio::test]
    async fn a_renewal_is_picked_up_and_a_broken_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pair(&["old.example"]);
        let (c, k) = files(dir.path(), &cert, &key);
        let store = CertStore::load(&c, &k).unwrap();
        let watcher = tokio::spawn(watch(store.clone(), Duration::from_millis(20)));

        // A renewal through a symlink swap, as certbot's live/ directory does it.
        let (new_cert, new_key) = pair(&["new.example"]);
        let archive = dir.path().join("archive");
        std::fs::create_dir(&archive).unwrap();
        std::fs::write(archive.join("cert2.pem"), &new_cert).unwrap();
        std::fs::write(archive.join("key2.pem"), &new_key).unwrap();
        let link = |target: &str, name: &Path| {
            let tmp = dir.path().join("tmp-link");
            std::os::unix::fs::symlink(archive.join(target), &tmp).unwrap();
            std::fs::rename(&tmp, name).unwrap();
        };
        link("cert2.pem", &c);
        link("key2.pem", &k);
        wait_until(|| store.names("new.example")).await;

        // Half a renewal: a certificate whose key is not there. The new pair stays.
        std::fs::write(archive.join("cert3.pem"), pair(&["third.example"]).0).unwrap();
        link("cert3.pem", &c);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(store.names("new.example") && !store.names("third.example"));
        watcher.abort();
    }

    async fn wait_until(check: impl Fn() -> bool) {
        for _ in 0..200 {
            if check() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the condition did not come true in 2 s");
    }
}
