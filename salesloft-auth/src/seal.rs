//! Tokens sealed at rest: AES-256-GCM (RustCrypto's `aes-gcm`) with a key from the
//! environment, so a copy of the database (a dump, a backup, a replica) holds no usable token.
//!
//! Each sealed value is `v1.<key id>.<base64 of nonce and ciphertext>`: a fresh random nonce per
//! seal, and the connection it belongs to as associated data, so a sealed token copied into
//! another connection's row does not open. The key id (the first bytes of the key's SHA-256)
//! says which key sealed a value; a second, older key is accepted for opening while keys
//! rotate, and [`Sealer::sealed_with_old_key`] finds what to seal again.
//!
//! The key is 32 random bytes in base64, in `SALESLOFT_TOKEN_KEY` (the older one in
//! `SALESLOFT_TOKEN_KEY_OLD`); make one with `openssl rand -base64 32`. It is never written
//! anywhere, and neither it nor a token reaches `Debug` output or an error.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use salesloft_api::Secret;
use sha2::{Digest, Sha256};

/// The variable holding the key that seals.
pub const KEY_VAR: &str = "SALESLOFT_TOKEN_KEY";
/// The variable holding an older key, accepted for opening while keys rotate.
pub const OLD_KEY_VAR: &str = "SALESLOFT_TOKEN_KEY_OLD";

const VERSION: &str = "v1";
const NONCE_BYTES: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(
        "{var} is not set: tokens are sealed at rest with it. Make a key with `openssl rand -base64 32`, keep it outside the database, and set {var} to it"
    )]
    NoKey { var: &'static str },
    #[error("{var} is not a key: {why} (make one with `openssl rand -base64 32`)")]
    BadKey {
        var: &'static str,
        why: &'static str,
    },
    #[error(
        "a sealed token does not open: it was sealed with a key that is not {KEY_VAR} or {OLD_KEY_VAR}, for another connection, or was altered"
    )]
    DoesNotOpen,
    #[error("a stored token is not a sealed value of this program")]
    Malformed,
}

/// One key: the cipher and the id written beside what it seals.
struct SealKey {
    id: String,
    cipher: Aes256Gcm,
}

impl SealKey {
    fn from_base64(text: &str, var: &'static str) -> Result<Self, SealError> {
        let bytes = BASE64.decode(text.trim()).map_err(|_| SealError::BadKey {
            var,
            why: "not base64",
        })?;
        if bytes.len() != 32 {
            return Err(SealError::BadKey {
                var,
                why: "not 32 bytes",
            });
        }
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| SealError::BadKey {
            var,
            why: "not 32 bytes",
        })?;
        let digest = Sha256::digest(&bytes);
        let id = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        Ok(Self { id, cipher })
    }
}

/// Seals and opens tokens with the current key (and an older one, for opening).
pub struct Sealer {
    current: SealKey,
    old: Option<SealKey>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("key_id", &self.current.id)
            .field("old_key_id", &self.old.as_ref().map(|k| &k.id))
            .finish()
    }
}

impl Sealer {
    /// The keys of [`KEY_VAR`] and, if set, [`OLD_KEY_VAR`].
    pub fn from_env() -> Result<Self, SealError> {
        let current = std::env::var(KEY_VAR).map_err(|_| SealError::NoKey { var: KEY_VAR })?;
        let old = std::env::var(OLD_KEY_VAR)
            .ok()
            .filter(|k| !k.trim().is_empty());
        Self::new(&current, old.as_deref())
    }

    /// Keys given as base64 text: `current` seals and opens, `old` only opens.
    pub fn new(current: &str, old: Option<&str>) -> Result<Self, SealError> {
        Ok(Self {
            current: SealKey::from_base64(current, KEY_VAR)?,
            old: old
                .map(|old| SealKey::from_base64(old, OLD_KEY_VAR))
                .transpose()?,
        })
    }

    /// `secret` sealed for `context` (the connection it belongs to).
    pub fn seal(&self, secret: &Secret, context: &str) -> String {
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let payload = Payload {
            msg: secret.expose().as_bytes(),
            aad: context.as_bytes(),
        };
        // Encrypting into a vector fails only past GCM's length limit (64 GiB).
        let sealed = self
            .current
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{VERSION}.{}.{}", self.current.id, BASE64.encode(bytes))
    }

    /// The secret `sealed` holds, if it was sealed for `context` with one of the keys.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Secret, SealError> {
        let (key_id, bytes) = parts(sealed)?;
        let key = [Some(&self.current), self.old.as_ref()]
            .into_iter()
            .flatten()
            .find(|k| k.id == key_id)
            .ok_or(SealError::DoesNotOpen)?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let payload = Payload {
            msg: ciphertext,
            aad: context.as_bytes(),
        };
        let plain = key
            .cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| SealError::DoesNotOpen)?;
        String::from_utf8(plain)
            .map(Secret::new)
            .map_err(|_| SealError::Malformed)
    }

    /// Whether `sealed` was sealed with the older key (and is to be sealed again with the
    /// current one).
    pub fn sealed_with_old_key(&self, sealed: &str) -> bool {
        match (parts(sealed), &self.old) {
            (Ok((key_id, _)), Some(old)) => key_id == old.id,
            _ => false,
        }
    }
}

/// The key id and the nonce-and-ciphertext bytes of a sealed value.
fn parts(sealed: &str) -> Result<(&str, Vec<u8>), SealError> {
    let mut fields = sealed.trim().splitn(3, '.');
    let (Some(VERSION), Some(key_id), Some(body)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(SealError::Malformed);
    };
    let bytes = BASE64.decode(body).map_err(|_| SealError::Malformed)?;
    // A nonce and at least the 16-byte tag.
    if bytes.len() < NONCE_BYTES + 16 {
        return Err(SealError::Malformed);
    }
    Ok((key_id, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "q1Yr0x6m2wq4yK3r0mZ7kq8nQv1xJc5bT2y9sN4pD6E=";
    const OLD: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn a_sealed_token_opens_for_its_connection_only() {
        let sealer = Sealer::new(KEY, None).unwrap();
        let token = Secret::new("refresh-token-value");
        let sealed = sealer.seal(&token, "connection 7");
        assert!(!sealed.contains("refresh-token-value"));
        assert_eq!(
            sealer.open(&sealed, "connection 7").unwrap().expose(),
            "refresh-token-value"
        );
        assert!(matches!(
            sealer.open(&sealed, "connection 8"),
            Err(SealError::DoesNotOpen)
        ));
        // Sealed twice, two different values (a fresh nonce each time).
        assert_ne!(sealed, sealer.seal(&token, "connection 7"));
    }

    #[test]
    fn an_altered_or_foreign_value_does_not_open() {
        let sealer = Sealer::new(KEY, None).unwrap();
        let sealed = sealer.seal(&Secret::new("t"), "c");
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 2;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert!(sealer.open(&altered, "c").is_err());
        let other = Sealer::new(OLD, None).unwrap();
        assert!(matches!(
            other.open(&sealed, "c"),
            Err(SealError::DoesNotOpen)
        ));
        assert!(matches!(
            sealer.open("plain-token", "c"),
            Err(SealError::Malformed)
        ));
    }

    #[test]
    fn an_older_key_opens_while_keys_rotate() {
        let before = Sealer::new(OLD, None).unwrap();
        let sealed = before.seal(&Secret::new("t"), "c");
        let rotating = Sealer::new(KEY, Some(OLD)).unwrap();
        assert_eq!(rotating.open(&sealed, "c").unwrap().expose(), "t");
        assert!(rotating.sealed_with_old_key(&sealed));
        let again = rotating.seal(&Secret::new("t"), "c");
        assert!(!rotating.sealed_with_old_key(&again));
    }

    #[test]
    fn keys_never_show_and_bad_keys_say_how_to_make_one() {
        let sealer = Sealer::new(KEY, Some(OLD)).unwrap();
        let shown = format!("{sealer:?}");
        assert!(!shown.contains(KEY) && !shown.contains(OLD), "{shown}");
        for bad in ["not base64!", "c2hvcnQ="] {
            let error = Sealer::new(bad, None).unwrap_err().to_string();
            assert!(
                error.contains(KEY_VAR) && error.contains("openssl rand"),
                "{error}"
            );
            assert!(!error.contains(bad), "{error}");
        }
    }
}
