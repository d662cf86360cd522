//! `SLUICE_SECRET_KEY`: the key that encrypts secrets at rest (Slack tokens, client and signing
//! secrets, the key that signs Slack buttons) and signs OAuth states; and [`random_bytes`], the
//! one source of random bytes for secrets.
//!
//! The key is 32 random bytes, written as 64 hex characters or as base64 (standard or URL-safe,
//! padded or not), e.g. `openssl rand -hex 32`. With SQLite and no `SLUICE_SECRET_KEY`, a key is
//! generated at first start and kept beside the database file (`<db>.key`, mode 0600); PostgreSQL
//! serves several nodes, so there the key must be given, the same on every node.
//!
//! Two sub-keys are derived from it with HMAC-SHA256 over fixed labels, one per use: an AES-256-GCM
//! key and an HMAC key for OAuth states. Each sealed value is `1 || nonce (12 random bytes) ||
//! ciphertext || tag`; the associated data names what the value is and where it belongs (say
//! `slack_integration:sales:bot_token`), so a ciphertext copied into another row or column does not
//! open. ring provides the primitives (it is already compiled for rustls).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// The format byte of sealed values.
const VERSION: u8 = 1;
/// The setting holding a value sealed with the key, to notice a wrong key at start.
pub const CHECK_SETTING: &str = "secret_key_check";
const CHECK_PURPOSE: &str = "secret_key_check";
const CHECK_TEXT: &[u8] = b"sluice secret key check";

/// Why a key could not be read or a value not be opened.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "SLUICE_SECRET_KEY must be 32 random bytes written as 64 hex characters or as base64 \
         (for example the output of `openssl rand -hex 32`); {0}"
    )]
    BadKey(String),
    #[error(
        "SLUICE_SECRET_KEY is required with PostgreSQL, the same on every node: set it to 32 random \
         bytes as hex or base64 (for example `openssl rand -hex 32`)"
    )]
    Required,
    #[error("cannot {action} the secret key file {}: {source}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the database's secrets were encrypted with another key than {0}: set SLUICE_SECRET_KEY to \
         the key used before (or restore the key file)"
    )]
    WrongKey(String),
    #[error(
        "the database holds secrets encrypted with the key in {}, which is missing: restore that file \
         or set SLUICE_SECRET_KEY to the key used before",
        .0.display()
    )]
    MissingKeyFile(PathBuf),
    /// A sealed value did not open: another key, another row, or damaged bytes.
    #[error("a stored secret ({0}) cannot be decrypted with this SLUICE_SECRET_KEY")]
    Open(String),
    #[error("the system's random number generator failed")]
    Random,
}

/// The secret key and the sub-keys derived from it. `Debug` prints `***`.
pub struct SecretKey {
    aead: LessSafeKey,
    state_mac: hmac::Key,
    /// Where it came from, for messages (never the key itself).
    origin: String,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(*** from {})", self.origin)
    }
}

impl SecretKey {
    /// Reads the key from its text form (hex or base64 of 32 bytes).
    pub fn parse(text: &str, origin: &str) -> Result<SecretKey, Error> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32).map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16)).collect::<Result<Vec<u8>, _>>().ok()
        } else {
            let engines = [
                &base64::engine::general_purpose::STANDARD,
                &base64::engine::general_purpose::STANDARD_NO_PAD,
                &base64::engine::general_purpose::URL_SAFE,
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            ];
            engines.iter().find_map(|e| e.decode(text).ok())
        };
        match bytes {
            Some(b) if b.len() == 32 => Ok(SecretKey::from_bytes(&b, origin)),
            Some(b) => Err(Error::BadKey(format!("it decodes to {} bytes", b.len()))),
            None if text.is_empty() => Err(Error::BadKey("it is empty".into())),
            None => Err(Error::BadKey(format!("it is neither hex nor base64 ({} characters)", text.len()))),
        }
    }

    fn from_bytes(master: &[u8], origin: &str) -> SecretKey {
        let derive = |label: &str| hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, master), label.as_bytes());
        let aead_key = derive("sluice/v1/aead");
        // 32 bytes of HMAC-SHA256 are exactly an AES-256 key, so this cannot fail.
        let aead = match UnboundKey::new(&AES_256_GCM, aead_key.as_ref()) {
            Ok(k) => LessSafeKey::new(k),
            Err(_) => unreachable!("an AES-256 key is 32 bytes"),
        };
        let state_mac = hmac::Key::new(hmac::HMAC_SHA256, derive("sluice/v1/oauth-state").as_ref());
        SecretKey { aead, state_mac, origin: origin.to_string() }
    }

    /// A new random key and its hex text.
    pub fn generate(origin: &str) -> Result<(SecretKey, String), Error> {
        let bytes = random_bytes::<32>()?;
        Ok((SecretKey::from_bytes(&bytes, origin), hex(&bytes)))
    }

    /// The key of `sluice serve`: `configured` (SLUICE_SECRET_KEY) if given; else, with SQLite, the
    /// key file beside the database, created (0600) when missing and `may_create` (no secret was
    /// stored yet); an in-memory database gets a throwaway key; PostgreSQL requires the setting.
    pub fn load(configured: Option<&str>, database_url: &str, may_create: bool) -> Result<SecretKey, Error> {
        if let Some(text) = configured {
            return SecretKey::parse(text, "SLUICE_SECRET_KEY");
        }
        if !database_url.starts_with("sqlite:") {
            return Err(Error::Required);
        }
        let Some(path) = key_file(database_url) else {
            return SecretKey::generate("a throwaway key of the in-memory database").map(|(k, _)| k);
        };
        let origin = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                return SecretKey::parse(&text, &origin)
                    .map_err(|e| Error::BadKey(format!("the key file {origin} does not hold one ({e})")));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::File { action: "read", path, source }),
        }
        if !may_create {
            return Err(Error::MissingKeyFile(path));
        }
        let (key, hex) = SecretKey::generate(&origin)?;
        write_key_file(&path, &hex).map_err(|source| Error::File { action: "create", path: path.clone(), source })?;
        tracing::info!(path = %origin, "generated the secret key that encrypts secrets at rest; back it up with the database");
        Ok(key)
    }

    /// Seals `plaintext` for `purpose` (the associated data).
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        let nonce = random_bytes::<NONCE_LEN>()?;
        let mut in_out = plaintext.to_vec();
        let aad = aad(purpose);
        self.aead
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad.as_bytes()), &mut in_out)
            .map_err(|_| Error::Open(purpose.to_string()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + in_out.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&in_out);
        Ok(out)
    }

    /// Opens what [`SecretKey::seal`] made for the same `purpose`.
    pub fn open(&self, purpose: &str, sealed: &[u8]) -> Result<Vec<u8>, Error> {
        let fail = || Error::Open(purpose.to_string());
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != VERSION {
            return Err(fail());
        }
        let nonce = Nonce::try_assume_unique_for_key(&sealed[1..1 + NONCE_LEN]).map_err(|_| fail())?;
        let mut in_out = sealed[1 + NONCE_LEN..].to_vec();
        let aad = aad(purpose);
        let plain = self.aead.open_in_place(nonce, Aad::from(aad.as_bytes()), &mut in_out).map_err(|_| fail())?;
        Ok(plain.to_vec())
    }

    /// Opens a sealed UTF-8 secret.
    pub fn open_text(&self, purpose: &str, sealed: &[u8]) -> Result<String, Error> {
        String::from_utf8(self.open(purpose, sealed)?).map_err(|_| Error::Open(purpose.to_string()))
    }

    /// The value stored at first start to recognise this key later.
    pub fn check_value(&self) -> Result<String, Error> {
        let sealed = self.seal(CHECK_PURPOSE, CHECK_TEXT)?;
        Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
    }

    /// Whether a stored check value was made with this key.
    pub fn verify_check_value(&self, stored: &str) -> Result<(), Error> {
        let sealed = base64::engine::general_purpose::STANDARD.decode(stored.trim()).unwrap_or_default();
        match self.open(CHECK_PURPOSE, &sealed) {
            Ok(text) if text == CHECK_TEXT => Ok(()),
            _ => Err(Error::WrongKey(self.origin.clone())),
        }
    }

    /// The HMAC-SHA256 of an OAuth state's nonce.
    pub fn sign_state(&self, data: &[u8]) -> Vec<u8> {
        hmac::sign(&self.state_mac, data).as_ref().to_vec()
    }

    /// Checks a state's signature in constant time.
    pub fn verify_state(&self, data: &[u8], tag: &[u8]) -> bool {
        hmac::verify(&self.state_mac, data, tag).is_ok()
    }
}

/// `N` random bytes from the operating system: the one random source for secrets (keys, tokens,
/// nonces) in Sluice.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut bytes = [0u8; N];
    SystemRandom::new().fill(&mut bytes).map_err(|_| Error::Random)?;
    Ok(bytes)
}

/// 32 random bytes as 64 hex characters (API tokens, generated keys).
pub fn random_hex() -> Result<String, Error> {
    Ok(hex(&random_bytes::<32>()?))
}

/// Bytes as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn aad(purpose: &str) -> String {
    format!("sluice:v1:{purpose}")
}

/// `<db path>.key` for `sqlite://PATH` / `sqlite:PATH`; `None` for an in-memory database.
pub fn key_file(database_url: &str) -> Option<PathBuf> {
    let rest = database_url.strip_prefix("sqlite://").or_else(|| database_url.strip_prefix("sqlite:"))?;
    if rest.contains(":memory:") || rest.contains("mode=memory") {
        return None;
    }
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() {
        return None;
    }
    Some(PathBuf::from(format!("{path}.key")))
}

fn write_key_file(path: &Path, hex: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(format!("{hex}\n").as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn keys_are_read_as_hex_or_base64_and_wrong_ones_refused() {
        let b64 = base64::engine::general_purpose::STANDARD.encode((0u8..32).collect::<Vec<_>>());
        let a = SecretKey::parse(HEX, "t").unwrap();
        let b = SecretKey::parse(&b64, "t").unwrap();
        let sealed = a.seal("x", b"hello").unwrap();
        assert_eq!(b.open("x", &sealed).unwrap(), b"hello");
        for bad in ["", "abc", &HEX[..62], "zz", &base64::engine::general_purpose::STANDARD.encode([1u8; 16])] {
            let e = SecretKey::parse(bad, "t").unwrap_err().to_string();
            assert!(e.contains("32 random bytes"), "{bad:?}: {e}");
        }
        assert!(format!("{a:?}").contains("***"));
    }

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_purpose() {
        let key = SecretKey::parse(HEX, "t").unwrap();
        let one = key.seal("slack_integration:sales:bot_token", b"xoxb-secret").unwrap();
        let two = key.seal("slack_integration:sales:bot_token", b"xoxb-secret").unwrap();
        assert_ne!(one, two, "a fresh nonce each time");
        assert!(!one.windows(11).any(|w| w == b"xoxb-secret"));
        assert_eq!(key.open_text("slack_integration:sales:bot_token", &one).unwrap(), "xoxb-secret");
        assert!(key.open("slack_integration:ops:bot_token", &one).is_err());
        let (other, _) = SecretKey::generate("t").unwrap();
        assert!(other.open("slack_integration:sales:bot_token", &one).is_err());
        let mut damaged = one.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert!(key.open("slack_integration:sales:bot_token", &damaged).is_err());
        assert!(key.open("x", b"").is_err());
        let check = key.check_value().unwrap();
        key.verify_check_value(&check).unwrap();
        assert!(other.verify_check_value(&check).is_err());
    }

    #[test]
    fn state_signatures() {
        let key = SecretKey::parse(HEX, "t").unwrap();
        let tag = key.sign_state(b"nonce");
        assert!(key.verify_state(b"nonce", &tag));
        assert!(!key.verify_state(b"nonce2", &tag));
        assert!(!key.verify_state(b"nonce", &tag[..16]));
    }

    #[test]
    fn key_files_sit_beside_sqlite_databases() {
        assert_eq!(key_file("sqlite:///tmp/x/sluice.db"), Some(PathBuf::from("/tmp/x/sluice.db.key")));
        assert_eq!(key_file("sqlite://sluice.db?mode=rwc"), Some(PathBuf::from("sluice.db.key")));
        assert_eq!(key_file("sqlite::memory:"), None);
        assert_eq!(key_file("postgres://x"), None);
        assert!(matches!(SecretKey::load(None, "postgres://db/x", true), Err(Error::Required)));
    }

    #[test]
    fn a_generated_key_file_is_private_and_read_back() {
        let dir = std::env::temp_dir().join(format!("sluice-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("db.sqlite").display());
        let _ = std::fs::remove_file(dir.join("db.sqlite.key"));
        assert!(matches!(SecretKey::load(None, &url, false), Err(Error::MissingKeyFile(_))));
        let first = SecretKey::load(None, &url, true).unwrap();
        let second = SecretKey::load(None, &url, false).unwrap();
        let sealed = first.seal("p", b"v").unwrap();
        assert_eq!(second.open("p", &sealed).unwrap(), b"v");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("db.sqlite.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
