//! The server's keys: for hashing resident registration numbers, sealing names and phone
//! numbers, and signing session tokens. Created at first start in the data directory (mode 0600)
//! and kept across restarts, so hashes stay comparable and sessions survive a deploy. A national
//! deployment would hold these in a key-management service; the file is the embedded default.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use rand::Rng;
use std::io::Write;
use std::path::Path;

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

#[derive(Clone)]
pub struct Secrets {
    rrn_key: [u8; KEY_LEN],
    seal_key: [u8; KEY_LEN],
    token_key: [u8; KEY_LEN],
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("cannot read or write the secrets file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("the secrets file {0} is damaged (expected {KEY_LEN}×3 bytes)")]
    Damaged(String),
}

impl Secrets {
    /// Reads the keys from `dir/secrets.key`, creating the file with fresh keys if absent.
    pub fn load_or_create(dir: &Path, rng: &mut impl Rng) -> Result<Secrets, SecretsError> {
        let path = dir.join("secrets.key");
        let io = |source| SecretsError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read(&path) {
            Ok(bytes) => Secrets::from_bytes(&bytes)
                .ok_or_else(|| SecretsError::Damaged(path.display().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let secrets = Secrets::generate(rng);
                write_private_file(&path, &secrets.to_bytes()).map_err(io)?;
                Ok(secrets)
            }
            Err(e) => Err(io(e)),
        }
    }

    pub fn generate(rng: &mut impl Rng) -> Secrets {
        let mut key = || {
            let mut k = [0; KEY_LEN];
            rng.fill_bytes(&mut k);
            k
        };
        Secrets {
            rrn_key: key(),
            seal_key: key(),
            token_key: key(),
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        [self.rrn_key, self.seal_key, self.token_key].concat()
    }

    fn from_bytes(bytes: &[u8]) -> Option<Secrets> {
        let key = |i: usize| bytes.get(i * KEY_LEN..(i + 1) * KEY_LEN)?.try_into().ok();
        (bytes.len() == 3 * KEY_LEN).then_some(())?;
        Some(Secrets {
            rrn_key: key(0)?,
            seal_key: key(1)?,
            token_key: key(2)?,
        })
    }

    pub fn rrn_key(&self) -> &[u8] {
        &self.rrn_key
    }

    pub fn token_key(&self) -> &[u8; KEY_LEN] {
        &self.token_key
    }

    /// Encrypts personal data for storage: a random nonce, then the ciphertext and tag.
    pub fn seal(&self, plaintext: &[u8], rng: &mut impl Rng) -> Vec<u8> {
        let cipher = ChaCha20Poly1305::new(&self.seal_key.into());
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(&Nonce::from(nonce), plaintext)
            .expect("ChaCha20-Poly1305 encrypts any message under 256 GiB");
        [&nonce[..], &sealed].concat()
    }

    pub fn unseal(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN)?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        let cipher = ChaCha20Poly1305::new(&self.seal_key.into());
        cipher.decrypt(&Nonce::from(nonce), ciphertext).ok()
    }
}

/// Writes a file only its owner can read (mode 0600), durably: to a temporary file first, synced,
/// then renamed into place, so a crash never leaves half a key behind.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temp = path.with_extension("tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(temp, path)
}

/// Compares secrets without leaking, through timing, where they first differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rng() -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(7)
    }

    #[test]
    fn sealed_data_opens_only_with_the_same_key_and_untouched() {
        let secrets = Secrets::generate(&mut rng());
        let sealed = secrets.seal("홍길동|01012345678".as_bytes(), &mut rng());
        assert!(!sealed.windows(4).any(|w| w == b"0101"));
        assert_eq!(
            secrets.unseal(&sealed).unwrap(),
            "홍길동|01012345678".as_bytes()
        );
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(secrets.unseal(&tampered), None);
        let other = Secrets::generate(&mut rand::rngs::StdRng::seed_from_u64(8));
        assert_eq!(other.unseal(&sealed), None);
        assert_eq!(secrets.unseal(&sealed[..5]), None);
    }

    #[test]
    fn keys_persist_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let first = Secrets::load_or_create(dir.path(), &mut rng()).unwrap();
        let mut other_rng = rand::rngs::StdRng::seed_from_u64(99);
        let again = Secrets::load_or_create(dir.path(), &mut other_rng).unwrap();
        assert_eq!(first.to_bytes(), again.to_bytes());
        std::fs::write(dir.path().join("secrets.key"), b"short").unwrap();
        assert!(matches!(
            Secrets::load_or_create(dir.path(), &mut rng()),
            Err(SecretsError::Damaged(_))
        ));
    }
}
