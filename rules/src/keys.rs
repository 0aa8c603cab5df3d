//! The master key: 32 bytes that protect secrets at rest.
//!
//! Configured as hex in `COUNTERSIGN_MASTER_KEY`. On the embedded SQLite
//! default it is generated once and kept beside the database file
//! (`<db>.master.key`, mode 0600); with PostgreSQL it must be configured, and
//! every process of a deployment must share it.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The key itself; `Debug` never shows it. Clones share one cache of
/// opened secrets ([`MasterKey::open_cached`]).
#[derive(Clone)]
pub struct MasterKey([u8; 32], Opened);

/// Secrets opened so far, by context: the sealed text they were opened from
/// and the plaintext.
type Opened = Arc<Mutex<HashMap<String, (String, Arc<Vec<u8>>)>>>;

/// Opened secrets kept at most; the cache starts over beyond this.
const OPENED_MAX: usize = 10_000;

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("COUNTERSIGN_MASTER_KEY must be 64 hex characters (32 bytes)")]
    Malformed,
    #[error("master key file {0}: {1}")]
    Io(PathBuf, std::io::Error),
}

impl MasterKey {
    fn new(key: [u8; 32]) -> Self {
        Self(key, Arc::default())
    }

    pub fn from_hex(s: &str) -> Result<Self, KeyError> {
        let bytes = hex::decode(s.trim()).map_err(|_| KeyError::Malformed)?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Malformed)?;
        Ok(Self::new(arr))
    }

    /// The configured key, or the one kept beside the SQLite file (created on
    /// first start). Without a SQLite file (PostgreSQL) an unconfigured key is
    /// kept in `./countersign.master.key`, with a warning: every process of a
    /// deployment must share it, so production should configure it.
    pub fn load_or_create(configured: Option<&str>, database_url: &str) -> Result<Self, KeyError> {
        if let Some(hex) = configured {
            return Self::from_hex(hex);
        }
        let path = match sqlite_file(database_url) {
            Some(db) => PathBuf::from(format!("{}.master.key", db.display())),
            None => {
                tracing::warn!(
                    "COUNTERSIGN_MASTER_KEY is not set; using ./countersign.master.key (share it across processes)"
                );
                PathBuf::from("countersign.master.key")
            }
        };
        match std::fs::read_to_string(&path) {
            Ok(s) => Self::from_hex(&s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut key);
                write_private(&path, &hex::encode(key)).map_err(|e| KeyError::Io(path.clone(), e))?;
                tracing::info!(path = %path.display(), "generated a new master key");
                Ok(Self::new(key))
            }
            Err(e) => Err(KeyError::Io(path, e)),
        }
    }

    /// A token derived from the key and `parts`: reproducible by any process
    /// holding the key, unguessable without it. Used for one-time links, so
    /// the database and the job queue never hold the link itself.
    pub fn derive_token(&self, purpose: &str, parts: &[&str]) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        for p in parts {
            mac.update(b"\n");
            mac.update(p.as_bytes());
        }
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

impl MasterKey {
    /// 32 bytes derived from the key for one fixed `label` (HMAC-SHA256 of the
    /// label under the master key): independent keys for independent uses.
    fn derive_key(&self, label: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The key of the audit trail's HMAC-SHA256 chain.
    pub fn audit_mac_key(&self) -> [u8; 32] {
        self.derive_key("countersign/audit-chain-mac/v1")
    }

    /// The Ed25519 key that signs audit checkpoints: its seed derived from the
    /// master key, so every process of a deployment signs with the same key and
    /// the verification key is stable for as long as the master key is.
    pub fn audit_signing_key(&self) -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(&self.derive_key("countersign/audit-checkpoint-ed25519/v1"))
    }
}

impl MasterKey {
    /// Encrypts a secret for storage (AES-256-GCM, random nonce), bound to
    /// `context` (e.g. the key id) so a sealed value cannot be moved to another row.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> String {
        use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
        let cipher = aes_gcm::Aes256Gcm::new(&self.0.into());
        let nonce = aes_gcm::Aes256Gcm::generate_nonce(&mut OsRng);
        let ct = cipher.encrypt(&nonce, Payload { msg: plaintext, aad: context.as_bytes() }).unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend(ct);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// Decrypts what [`seal`](Self::seal) produced for the same `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Option<Vec<u8>> {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, ct) = bytes.split_at(12);
        let cipher = aes_gcm::Aes256Gcm::new(&self.0.into());
        cipher.decrypt(aes_gcm::Nonce::from_slice(nonce), Payload { msg: ct, aad: context.as_bytes() }).ok()
    }
}

impl MasterKey {
    /// [`open`](Self::open), remembering the plaintext per context: the
    /// per-request path of signed API-key requests opens the same few
    /// secrets again and again. A context whose sealed text changed (a
    /// rotated key) is opened afresh; nothing unopenable is remembered.
    pub fn open_cached(&self, context: &str, sealed: &str) -> Option<Arc<Vec<u8>>> {
        if let Ok(opened) = self.1.lock()
            && let Some((s, plain)) = opened.get(context)
            && s == sealed
        {
            return Some(plain.clone());
        }
        let plain = Arc::new(self.open(context, sealed)?);
        if let Ok(mut opened) = self.1.lock() {
            if opened.len() >= OPENED_MAX {
                opened.clear();
            }
            opened.insert(context.to_string(), (sealed.to_string(), plain.clone()));
        }
        Some(plain)
    }
}

/// The file path of a `sqlite://path?…` URL (None for in-memory or other databases).
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_derives() {
        assert!(MasterKey::from_hex("00").is_err());
        let k = MasterKey::from_hex(&"11".repeat(32)).unwrap();
        assert_eq!(k.derive_token("a", &["b"]), k.derive_token("a", &["b"]));
        assert_ne!(k.derive_token("a", &["b"]), k.derive_token("a", &["c"]));
        assert!(!format!("{k:?}").contains("11"));
        let sealed = k.seal("cs_a", b"secret");
        assert_eq!(k.open("cs_a", &sealed).unwrap(), b"secret");
        assert!(k.open("cs_b", &sealed).is_none(), "bound to its context");
        assert_eq!(k.open_cached("cs_a", &sealed).unwrap().as_slice(), b"secret");
        assert_eq!(k.clone().open_cached("cs_a", &sealed).unwrap().as_slice(), b"secret", "from the cache");
        assert!(k.open_cached("cs_b", &sealed).is_none());
        let resealed = k.seal("cs_a", b"rotated");
        assert_eq!(k.open_cached("cs_a", &resealed).unwrap().as_slice(), b"rotated", "a new sealed text is opened");
        assert!(!sealed.contains("secret"));
        assert_ne!(k.audit_mac_key(), k.audit_signing_key().to_bytes(), "one key per use");
        let other = MasterKey::from_hex(&"12".repeat(32)).unwrap();
        assert_eq!(k.audit_signing_key().verifying_key(), k.clone().audit_signing_key().verifying_key());
        assert_ne!(k.audit_signing_key().verifying_key(), other.audit_signing_key().verifying_key());
    }

    #[test]
    fn finds_the_sqlite_file() {
        assert_eq!(sqlite_file("sqlite://countersign.db?mode=rwc"), Some(PathBuf::from("countersign.db")));
        assert_eq!(sqlite_file("sqlite:///tmp/x.db"), Some(PathBuf::from("/tmp/x.db")));
        assert_eq!(sqlite_file("postgres://h/db"), None);
    }
}
