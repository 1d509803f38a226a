//! The server's keys: for hashing resident registration numbers, sealing names and phone
//! numbers, and signing the server's own tokens (identity sessions, consents, sign-in cookies).
//! Created at first start in the data directory (mode 0600) and kept across restarts, so hashes
//! stay comparable and sessions survive a deploy. A national deployment would hold these in a
//! key-management service; the files are the embedded default.
//!
//! Signing keys rotate: `DATA_DIR/signing.keys` (the same "id created_unix_s hex" lines as the
//! waiting room's `queue.keys`) lists every key still accepted; the newest signs. At first start
//! it is made with one line, key id 0, holding `secrets.key`'s token key (so tokens signed before
//! the file existed stay valid). Rotating is adding a newer line on every node; retiring is
//! deleting one.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use rand::Rng;
use std::io::Write;
use std::path::Path;
use token::{KeyId, KeyMaterial, Keyring, KeyringError};

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

#[derive(Clone)]
pub struct Secrets {
    rrn_key: [u8; KEY_LEN],
    seal_key: [u8; KEY_LEN],
    /// Signed tokens before `signing.keys`; still the root of the node-to-node forwarding key.
    token_key: [u8; KEY_LEN],
    /// Signs and checks identity sessions, consents and sign-in cookies.
    signing: Keyring,
}

/// The key id `secrets.key`'s token key has in `signing.keys`.
pub const TOKEN_KEY_ID: KeyId = KeyId(0);

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
    #[error("the registration-number key {0} is not {KEY_LEN} bytes or 64 hex digits")]
    BadRrnKey(String),
    #[error("the signing keys in {path}: {source}")]
    SigningKeys { path: String, source: KeysFileError },
}

/// Where the key for registration-number hashes lives when it is kept out of the data
/// directory: birth dates plus the short space of the remaining digits make a copied database
/// and its key enough to recover every number, so the two should not travel together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RrnKeySource {
    /// A file (created with the current key, mode 0600, when absent).
    File(std::path::PathBuf),
    /// 64 hex digits, e.g. from the environment (`YEYAK_RRN_KEY`).
    Hex(String),
}

impl Secrets {
    /// Reads the keys from `dir/secrets.key`, creating the file with fresh keys if absent, and
    /// the signing keys from `dir/signing.keys` (made from the token key if absent).
    pub fn load_or_create(dir: &Path, rng: &mut impl Rng) -> Result<Secrets, SecretsError> {
        let path = dir.join("secrets.key");
        let io = |source| SecretsError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut secrets = match std::fs::read(&path) {
            Ok(bytes) => Secrets::from_bytes(&bytes)
                .ok_or_else(|| SecretsError::Damaged(path.display().to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let secrets = Secrets::generate(rng);
                write_private_file(&path, &secrets.to_bytes()).map_err(io)?;
                secrets
            }
            Err(e) => return Err(io(e)),
        };
        secrets.signing = secrets.load_signing_keys(&dir.join("signing.keys"))?;
        Ok(secrets)
    }

    /// The keys in `path`, or — when it does not exist yet — a file made with the token key
    /// alone as [`TOKEN_KEY_ID`].
    fn load_signing_keys(&self, path: &Path) -> Result<Keyring, SecretsError> {
        let failed = |source| SecretsError::SigningKeys {
            path: path.display().to_string(),
            source,
        };
        let lines = match read_keys_file(path).map_err(failed)? {
            Some(lines) => lines,
            None => {
                let first = [KeyLine {
                    id: TOKEN_KEY_ID,
                    created_s: 0,
                    material: KeyMaterial(self.token_key),
                }];
                write_keys_file(path, &first)
                    .map_err(KeysFileError::Io)
                    .map_err(failed)?;
                first.to_vec()
            }
        };
        keyring_of(&lines).map_err(failed)
    }

    /// Several nodes on one database: the signing keys become the union of this node's
    /// `dir/signing.keys` and the list shared through the database (a key an operator added to
    /// one node's file reaches the others at their next start), stored back when this node adds
    /// any. The same key id with other material on two nodes stops the start: one of them holds
    /// a wrong file.
    pub fn share_signing_keys(
        mut self,
        shared: &dyn store::SharedKeys,
        dir: &Path,
    ) -> Result<Secrets, SharedKeysError> {
        let own = read_keys_file(&dir.join("signing.keys"))?.unwrap_or_default();
        let keys = update_shared_keys(shared, "signing.keys", |keys, _| {
            let before = keys.len();
            for key in &own {
                match keys.iter().find(|k| k.id == key.id) {
                    Some(k) if k.material != key.material => {
                        return Err(SharedKeysError::Conflict(key.id.0));
                    }
                    Some(_) => {}
                    None => keys.push(key.clone()),
                }
            }
            Ok(keys.len() != before)
        })?;
        self.signing = keyring_of(&keys)?;
        Ok(self)
    }

    /// Like [`Secrets::load_or_create`], with the registration-number key taken from `source`.
    /// The copy in `dir/secrets.key` is then zeroed, so the data directory alone no longer
    /// holds it. A file named by `source` that does not exist yet is created with the key in
    /// use (so switching keeps every stored hash valid), or a fresh one on a new install.
    pub fn load_with(
        dir: &Path,
        source: Option<&RrnKeySource>,
        rng: &mut impl Rng,
    ) -> Result<Secrets, SecretsError> {
        let mut secrets = Secrets::load_or_create(dir, rng)?;
        let Some(source) = source else {
            return Ok(secrets);
        };
        let current = (secrets.rrn_key != [0; KEY_LEN]).then_some(secrets.rrn_key);
        secrets.rrn_key = match source {
            RrnKeySource::Hex(text) => parse_key(text.as_bytes())
                .ok_or_else(|| SecretsError::BadRrnKey("YEYAK_RRN_KEY".into()))?,
            RrnKeySource::File(path) => external_key(path, current, rng)?,
        };
        if current.is_some() {
            let stored = Secrets {
                rrn_key: [0; KEY_LEN],
                ..secrets.clone()
            };
            let path = dir.join("secrets.key");
            write_private_file(&path, &stored.to_bytes()).map_err(|source| SecretsError::Io {
                path: path.display().to_string(),
                source,
            })?;
        }
        Ok(secrets)
    }

    pub fn generate(rng: &mut impl Rng) -> Secrets {
        let mut key = || {
            let mut k = [0; KEY_LEN];
            rng.fill_bytes(&mut k);
            k
        };
        let (rrn_key, seal_key, token_key) = (key(), key(), key());
        Secrets::new(rrn_key, seal_key, token_key)
    }

    /// Keys as read from `secrets.key`, signing with the token key alone.
    fn new(rrn_key: [u8; KEY_LEN], seal_key: [u8; KEY_LEN], token_key: [u8; KEY_LEN]) -> Secrets {
        Secrets {
            rrn_key,
            seal_key,
            token_key,
            signing: Keyring::new(TOKEN_KEY_ID, &KeyMaterial(token_key)),
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        [self.rrn_key, self.seal_key, self.token_key].concat()
    }

    fn from_bytes(bytes: &[u8]) -> Option<Secrets> {
        let key = |i: usize| bytes.get(i * KEY_LEN..(i + 1) * KEY_LEN)?.try_into().ok();
        (bytes.len() == 3 * KEY_LEN).then_some(())?;
        Some(Secrets::new(key(0)?, key(1)?, key(2)?))
    }

    pub fn rrn_key(&self) -> &[u8] {
        &self.rrn_key
    }

    /// The root of the key nodes sign forwarded writes with (`forward`), which every node of a
    /// deployment shares; not for tokens (see [`Secrets::signing`]).
    pub fn token_key(&self) -> &[u8; KEY_LEN] {
        &self.token_key
    }

    /// The keys that sign identity sessions, consents and sign-in cookies.
    pub fn signing(&self) -> &Keyring {
        &self.signing
    }

    /// The key identity sessions and consents of the earlier format were signed with, while it is
    /// still accepted (as key 0 in `signing.keys`). Accepted for one release; then removed.
    pub fn legacy_session_key(&self) -> Option<&[u8; KEY_LEN]> {
        self.signing
            .accepts(TOKEN_KEY_ID)
            .then_some(&self.token_key)
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

/// 32 raw bytes, or 64 hex digits (surrounding whitespace ignored).
fn parse_key(bytes: &[u8]) -> Option<[u8; KEY_LEN]> {
    if let Ok(key) = <[u8; KEY_LEN]>::try_from(bytes) {
        return Some(key);
    }
    let text = std::str::from_utf8(bytes).ok()?.trim();
    if text.len() != 2 * KEY_LEN {
        return None;
    }
    let mut key = [0; KEY_LEN];
    for (i, slot) in key.iter_mut().enumerate() {
        *slot = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(key)
}

fn external_key(
    path: &Path,
    current: Option<[u8; KEY_LEN]>,
    rng: &mut impl Rng,
) -> Result<[u8; KEY_LEN], SecretsError> {
    let io = |source| SecretsError::Io {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read(path) {
        Ok(bytes) => {
            parse_key(&bytes).ok_or_else(|| SecretsError::BadRrnKey(path.display().to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = current.unwrap_or_else(|| {
                let mut k = [0; KEY_LEN];
                rng.fill_bytes(&mut k);
                k
            });
            write_private_file(path, &key).map_err(io)?;
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}

/// Creates the data directory (and any missing parents) so only its owner can enter it (0700),
/// and tightens an existing one to that.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    #[cfg(unix)]
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    Ok(())
}

/// Creates an empty file only its owner can read (0600) if it does not exist, so a database
/// created in it (and SQLite's WAL and shared-memory files, which copy its mode) is private.
pub fn private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?;
    #[cfg(unix)]
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    Ok(())
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

/// One line of a keys file (`queue.keys`, `signing.keys`): "id created_unix_s hex".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLine {
    pub id: KeyId,
    /// When the key was made (seconds since the Unix epoch): the newest signs.
    pub created_s: i64,
    pub material: KeyMaterial,
}

/// Why the signing keys could not be shared through the database.
#[derive(Debug, thiserror::Error)]
pub enum SharedKeysError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Keys(#[from] KeysFileError),
    #[error("key {0} has other material in this node's signing.keys than in the database")]
    Conflict(u16),
    #[error("the shared keys changed under every attempt to store them")]
    Contended,
}

#[derive(Debug, thiserror::Error)]
pub enum KeysFileError {
    #[error("{0}")]
    Io(std::io::Error),
    #[error("line {0} is not \"id created_unix_s 64-hex-digits\"")]
    Damaged(usize),
    #[error("no key")]
    Empty,
    #[error(transparent)]
    Keyring(#[from] KeyringError),
}

/// The lines of a keys file, or `None` when it does not exist.
pub fn read_keys_file(path: &Path) -> Result<Option<Vec<KeyLine>>, KeysFileError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(KeysFileError::Io(e)),
    };
    parse_keys(&text).map(Some)
}

/// The lines of a keys text (a keys file's, or a list shared through the database).
pub fn parse_keys(text: &str) -> Result<Vec<KeyLine>, KeysFileError> {
    let mut keys = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split_whitespace();
        let mut field = || fields.next();
        let parsed = (|| {
            Some(KeyLine {
                id: KeyId(field()?.parse().ok()?),
                created_s: field()?.parse().ok()?,
                material: KeyMaterial(parse_key(field()?.as_bytes())?),
            })
        })();
        keys.push(parsed.ok_or(KeysFileError::Damaged(number + 1))?);
    }
    Ok(keys)
}

/// Writes a keys file (mode 0600, durably).
pub fn write_keys_file(path: &Path, keys: &[KeyLine]) -> std::io::Result<()> {
    write_private_file(path, keys_text(keys).as_bytes())
}

/// Keys as the text of a keys file.
pub fn keys_text(keys: &[KeyLine]) -> String {
    keys.iter()
        .map(|k| {
            let hex: String = k.material.0.iter().map(|b| format!("{b:02x}")).collect();
            format!("{} {} {hex}\n", k.id.0, k.created_s)
        })
        .collect()
}

/// A ring that signs with the newest key (the highest id among equally new ones) and accepts
/// every other.
pub fn keyring_of(keys: &[KeyLine]) -> Result<Keyring, KeysFileError> {
    keyring_signing_with(keys, |_| true)
}

/// A ring that signs with the newest key `may_sign` allows (the newest of all when it allows
/// none) and accepts every other.
pub fn keyring_signing_with(
    keys: &[KeyLine],
    may_sign: impl Fn(&KeyLine) -> bool,
) -> Result<Keyring, KeysFileError> {
    let newest = |allowed: &dyn Fn(&KeyLine) -> bool| {
        keys.iter()
            .enumerate()
            .filter(|(_, k)| allowed(k))
            .max_by_key(|(_, k)| (k.created_s, k.id))
    };
    let (at, signing) = newest(&may_sign)
        .or_else(|| newest(&|_| true))
        .ok_or(KeysFileError::Empty)?;
    let older = keys
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != at)
        .map(|(_, k)| (k.id, &k.material));
    Ok(Keyring::with_older((signing.id, &signing.material), older)?)
}

/// Attempts at a change of a shared key list before giving up: each failed one means another
/// node changed it first.
const SHARED_KEYS_ATTEMPTS: usize = 8;

/// Reads the shared key list `name`, lets `change` edit it (told whether one was stored; an
/// empty list when not) and, when it changed or none was stored, stores it by compare-and-swap,
/// reading it again when another node changed it first. The list as stored.
pub fn update_shared_keys(
    shared: &dyn store::SharedKeys,
    name: &str,
    mut change: impl FnMut(&mut Vec<KeyLine>, bool) -> Result<bool, SharedKeysError>,
) -> Result<Vec<KeyLine>, SharedKeysError> {
    for _ in 0..SHARED_KEYS_ATTEMPTS {
        let stored = shared.shared_keys(name)?;
        let (mut keys, base) = match &stored {
            Some((text, revision)) => (parse_keys(text)?, Some(*revision)),
            None => (Vec::new(), None),
        };
        let changed = change(&mut keys, base.is_some())?;
        if (changed || base.is_none()) && !shared.put_shared_keys(name, base, &keys_text(&keys))? {
            continue; // another node published or changed them first: take up theirs
        }
        return Ok(keys);
    }
    Err(SharedKeysError::Contended)
}

/// The database's `shared_keys` table as the tests need it: one list per name, a revision.
#[cfg(test)]
#[derive(Default)]
pub struct KeysTable(std::sync::Mutex<std::collections::HashMap<String, (String, u64)>>);

#[cfg(test)]
impl store::SharedKeys for KeysTable {
    fn shared_keys(&self, name: &str) -> store::Result<Option<(String, u64)>> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned())
    }

    fn put_shared_keys(&self, name: &str, base: Option<u64>, lines: &str) -> store::Result<bool> {
        let mut table = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if table.get(name).map(|(_, revision)| *revision) != base {
            return Ok(false);
        }
        table.insert(name.into(), (lines.into(), base.map_or(1, |r| r + 1)));
        Ok(true)
    }
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
    fn the_rrn_key_moves_out_of_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let first = Secrets::load_or_create(dir.path(), &mut rng()).unwrap();
        let source = RrnKeySource::File(outside.path().join("rrn.key"));
        let moved = Secrets::load_with(dir.path(), Some(&source), &mut rng()).unwrap();
        assert_eq!(
            moved.to_bytes(),
            first.to_bytes(),
            "the same keys, so hashes stay valid"
        );
        let stored = std::fs::read(dir.path().join("secrets.key")).unwrap();
        assert_eq!(
            &stored[..KEY_LEN],
            &[0; KEY_LEN],
            "no copy left in the data directory"
        );
        assert_eq!(
            std::fs::read(outside.path().join("rrn.key")).unwrap(),
            first.rrn_key
        );
        let again = Secrets::load_with(dir.path(), Some(&source), &mut rng()).unwrap();
        assert_eq!(again.rrn_key, first.rrn_key);
        let hex: String = first.rrn_key.iter().map(|b| format!("{b:02x}")).collect();
        let from_env =
            Secrets::load_with(dir.path(), Some(&RrnKeySource::Hex(hex)), &mut rng()).unwrap();
        assert_eq!(from_env.rrn_key, first.rrn_key);
        assert!(matches!(
            Secrets::load_with(
                dir.path(),
                Some(&RrnKeySource::Hex("abc".into())),
                &mut rng()
            ),
            Err(SecretsError::BadRrnKey(_))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn data_files_and_directories_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        private_dir(&dir).unwrap();
        private_file(&dir.join("yeyak.db")).unwrap();
        Secrets::load_or_create(&dir, &mut rng()).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("yeyak.db")), 0o600);
        assert_eq!(mode(&dir.join("secrets.key")), 0o600);
    }

    #[test]
    fn keys_files_name_the_newest_key_and_refuse_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing.keys");
        assert!(read_keys_file(&path).unwrap().is_none());
        let line = |id, created_s, byte| KeyLine {
            id: KeyId(id),
            created_s,
            material: KeyMaterial([byte; KEY_LEN]),
        };
        let keys = [line(0, 0, 1), line(7, 200, 2), line(3, 100, 3)];
        write_keys_file(&path, &keys).unwrap();
        assert_eq!(read_keys_file(&path).unwrap().unwrap(), keys);
        let ring = keyring_of(&keys).unwrap();
        assert_eq!(ring.current_id(), KeyId(7), "the newest signs");
        assert!(ring.accepts(KeyId(0)) && ring.accepts(KeyId(3)));
        assert!(matches!(
            keyring_of(&[line(1, 0, 1), line(1, 5, 2)]),
            Err(KeysFileError::Keyring(KeyringError::DuplicateKeyId(KeyId(
                1
            ))))
        ));
        assert!(matches!(keyring_of(&[]), Err(KeysFileError::Empty)));
        for damaged in ["1 2", "x 2 00", "1 2 abc", "70000 2 00"] {
            std::fs::write(&path, format!("0 0 {}\n{damaged}\n", "ab".repeat(32))).unwrap();
            assert!(
                matches!(read_keys_file(&path), Err(KeysFileError::Damaged(2))),
                "{damaged}"
            );
        }
        // A damaged signing.keys stops the start rather than signing with something else.
        assert!(matches!(
            Secrets::load_or_create(dir.path(), &mut rng()),
            Err(SecretsError::SigningKeys { .. })
        ));
    }

    #[test]
    fn nodes_sign_with_the_union_of_their_signing_keys() {
        let table = KeysTable::default();
        let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let a = Secrets::load_or_create(a_dir.path(), &mut rng()).unwrap();
        // B has A's secrets.key (copied, as on every node) and, in its signing.keys, one key an
        // operator added there only.
        std::fs::copy(
            a_dir.path().join("secrets.key"),
            b_dir.path().join("secrets.key"),
        )
        .unwrap();
        let b = Secrets::load_or_create(b_dir.path(), &mut rng()).unwrap();
        let mut b_keys = read_keys_file(&b_dir.path().join("signing.keys"))
            .unwrap()
            .unwrap();
        b_keys.push(KeyLine {
            id: KeyId(5),
            created_s: 100,
            material: KeyMaterial([5; KEY_LEN]),
        });
        write_keys_file(&b_dir.path().join("signing.keys"), &b_keys).unwrap();

        let a = a.share_signing_keys(&table, a_dir.path()).unwrap();
        assert_eq!(a.signing().current_id(), TOKEN_KEY_ID);
        let b = b.share_signing_keys(&table, b_dir.path()).unwrap();
        assert_eq!(
            b.signing().current_id(),
            KeyId(5),
            "B's own key, the newest"
        );
        // A restarting learns B's key.
        let a = Secrets::load_or_create(a_dir.path(), &mut rng())
            .unwrap()
            .share_signing_keys(&table, a_dir.path())
            .unwrap();
        assert_eq!(a.signing().current_id(), KeyId(5));
        assert!(a.signing().accepts(TOKEN_KEY_ID));

        // A node whose file gives key 5 other material holds a wrong file: it does not start.
        let c_dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            a_dir.path().join("secrets.key"),
            c_dir.path().join("secrets.key"),
        )
        .unwrap();
        let c = Secrets::load_or_create(c_dir.path(), &mut rng()).unwrap();
        let mut c_keys = read_keys_file(&c_dir.path().join("signing.keys"))
            .unwrap()
            .unwrap();
        c_keys.push(KeyLine {
            id: KeyId(5),
            created_s: 100,
            material: KeyMaterial([6; KEY_LEN]),
        });
        write_keys_file(&c_dir.path().join("signing.keys"), &c_keys).unwrap();
        assert!(matches!(
            c.share_signing_keys(&table, c_dir.path()),
            Err(SharedKeysError::Conflict(5))
        ));
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
