//! Bearer tokens: one admin token created on first start, and named tokens, each of which
//! sees only the jobs it started, or, read-only, every job without changing any. Only hashes
//! are compared, in constant time. A running agent reads the token file again whenever it
//! changes: a token added by `tidemark agent pair` works at once, a removed one stops at once.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Admin,
    /// Sees and acts on the jobs it started.
    Named(String),
    /// Sees every job, changes none.
    ReadOnly(String),
}

impl Identity {
    /// Whose jobs this identity sees: `None` for every job.
    pub fn owner(&self) -> Option<&str> {
        match self {
            Self::Admin | Self::ReadOnly(_) => None,
            Self::Named(n) => Some(n),
        }
    }

    /// Whether it may start, pause, resume or cancel jobs.
    pub fn may_act(&self) -> bool {
        !matches!(self, Self::ReadOnly(_))
    }

    /// The token's name, as logs show it.
    pub fn name(&self) -> &str {
        match self {
            Self::Admin => "admin",
            Self::Named(n) | Self::ReadOnly(n) => n,
        }
    }

    /// A key for per-caller limits.
    pub fn key(&self) -> String {
        match self {
            Self::Admin => "\0admin".into(),
            Self::Named(n) | Self::ReadOnly(n) => n.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot read or write the token file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the token file {} is damaged: {reason}", path.display())]
    Damaged { path: PathBuf, reason: String },
    #[error("a token named {0:?} already exists")]
    Exists(String),
    #[error("no token named {0:?}")]
    NoSuchToken(String),
    #[error("token names are 1 to 64 letters, digits, '-' or '_'")]
    BadName,
    #[error("the system random source failed: {0}")]
    Random(String),
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TokenFile {
    admin: String,
    #[serde(default)]
    named: Vec<NamedToken>,
}

#[derive(Debug, Serialize, Deserialize)]
struct NamedToken {
    name: String,
    token: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    read_only: bool,
}

/// A named token as `tidemark agent token list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub name: String,
    pub read_only: bool,
}

#[derive(Debug)]
struct Hashes {
    admin: blake3::Hash,
    named: Vec<(Identity, blake3::Hash)>,
}

impl Hashes {
    fn of(file: &TokenFile) -> Hashes {
        Hashes {
            admin: hash(&file.admin),
            named: file
                .named
                .iter()
                .map(|t| {
                    let who = if t.read_only {
                        Identity::ReadOnly(t.name.clone())
                    } else {
                        Identity::Named(t.name.clone())
                    };
                    (who, hash(&t.token))
                })
                .collect(),
        }
    }

    /// Nobody: what a deleted token file leaves.
    fn none() -> Hashes {
        Hashes {
            admin: hash("\0no token"),
            named: Vec::new(),
        }
    }
}

/// What the file looked like when it was last read: reading it again is needed only when
/// this changes.
type Stamp = Option<(SystemTime, u64)>;

/// The tokens an agent accepts, kept in step with their file.
#[derive(Debug, Clone)]
pub struct Tokens {
    path: PathBuf,
    state: Arc<RwLock<(Stamp, Arc<Hashes>)>>,
}

impl Tokens {
    /// Loads the token file, creating it with a fresh admin token if it does not exist.
    /// Returns the new admin token when one was created (to be shown once).
    pub fn load_or_create(path: &Path) -> Result<(Tokens, Option<String>), TokenError> {
        let io = |source| TokenError::Io {
            path: path.to_owned(),
            source,
        };
        let created = match fs::read(path) {
            Ok(bytes) => {
                parse(path, &bytes)?;
                None
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let file = TokenFile {
                    admin: new_token()?,
                    named: Vec::new(),
                };
                save(path, &file)?;
                Some(file.admin)
            }
            Err(e) => return Err(io(e)),
        };
        let (stamp, file) = read_stamped(path)?;
        let tokens = Tokens {
            path: path.to_owned(),
            state: Arc::new(RwLock::new((stamp, Arc::new(Hashes::of(&file))))),
        };
        Ok((tokens, created))
    }

    /// Who presents `token`, if anyone. Every known token is compared (in constant time) so
    /// the time taken says nothing about which one came close.
    pub fn identify(&self, token: &str) -> Option<Identity> {
        let hashes = self.current();
        let presented = hash(token);
        let mut found = None;
        if presented == hashes.admin {
            found = Some(Identity::Admin);
        }
        for (who, h) in &hashes.named {
            if presented == *h {
                found = Some(who.clone());
            }
        }
        found
    }

    /// The hashes of the file as it is now. A file that cannot be read or parsed keeps the
    /// tokens it last held (an editor's half-written save must not lock everyone out), but
    /// a deleted one revokes them all.
    fn current(&self) -> Arc<Hashes> {
        let now = stamp(&self.path);
        {
            let state = self.state.read().unwrap_or_else(|p| p.into_inner());
            if state.0 == now {
                return state.1.clone();
            }
        }
        let fresh = match read_stamped(&self.path) {
            Ok((stamp, file)) => Some((stamp, Arc::new(Hashes::of(&file)))),
            Err(TokenError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!(path = %self.path.display(), "the token file is gone: every token is refused");
                Some((None, Arc::new(Hashes::none())))
            }
            Err(e) => {
                tracing::warn!(error = %e, "keeping the tokens read before");
                None
            }
        };
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        match fresh {
            Some(fresh) => {
                *state = fresh;
                tracing::info!("token file read again");
            }
            // Not read again until it changes once more.
            None => state.0 = now,
        }
        state.1.clone()
    }
}

fn stamp(path: &Path) -> Stamp {
    let meta = fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn read_stamped(path: &Path) -> Result<(Stamp, TokenFile), TokenError> {
    let before = stamp(path);
    let bytes = fs::read(path).map_err(|source| TokenError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok((before, parse(path, &bytes)?))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn load_or_new(path: &Path) -> Result<TokenFile, TokenError> {
    match fs::read(path) {
        Ok(bytes) => parse(path, &bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TokenFile {
            admin: new_token()?,
            named: Vec::new(),
        }),
        Err(e) => Err(TokenError::Io {
            path: path.to_owned(),
            source: e,
        }),
    }
}

/// Adds a named token to the file (creating the file if needed); returns the new token.
pub fn add_named(path: &Path, name: &str, read_only: bool) -> Result<String, TokenError> {
    if !valid_name(name) {
        return Err(TokenError::BadName);
    }
    let mut file = load_or_new(path)?;
    if file.named.iter().any(|t| t.name == name) {
        return Err(TokenError::Exists(name.to_owned()));
    }
    let token = new_token()?;
    file.named.push(NamedToken {
        name: name.to_owned(),
        token: token.clone(),
        read_only,
    });
    save(path, &file)?;
    Ok(token)
}

/// A name no token has yet: `base`, else `base-2`, `base-3`…
pub fn free_name(path: &Path, base: &str) -> Result<String, TokenError> {
    let file = load_or_new(path)?;
    let taken = |n: &str| file.named.iter().any(|t| t.name == n);
    if !taken(base) {
        return Ok(base.to_owned());
    }
    Ok((2..)
        .map(|i| format!("{base}-{i}"))
        .find(|n| !taken(n))
        .unwrap_or_else(|| base.to_owned()))
}

/// Removes a named token: a running agent refuses it from its next request on.
pub fn remove_named(path: &Path, name: &str) -> Result<(), TokenError> {
    let mut file = load_or_new(path)?;
    let before = file.named.len();
    file.named.retain(|t| t.name != name);
    if file.named.len() == before {
        return Err(TokenError::NoSuchToken(name.to_owned()));
    }
    save(path, &file)
}

/// The named tokens, in the order they were made.
pub fn list_named(path: &Path) -> Result<Vec<TokenInfo>, TokenError> {
    Ok(load_or_new(path)?
        .named
        .into_iter()
        .map(|t| TokenInfo {
            name: t.name,
            read_only: t.read_only,
        })
        .collect())
}

fn parse(path: &Path, bytes: &[u8]) -> Result<TokenFile, TokenError> {
    serde_json::from_slice(bytes).map_err(|e| TokenError::Damaged {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn hash(token: &str) -> blake3::Hash {
    // blake3::Hash's == is constant-time.
    blake3::hash(token.as_bytes())
}

fn new_token() -> Result<String, TokenError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn save(path: &Path, file: &TokenFile) -> Result<(), TokenError> {
    let json = serde_json::to_vec_pretty(file).map_err(|e| TokenError::Io {
        path: path.to_owned(),
        source: e.into(),
    })?;
    write_private(path, &json).map_err(|source| TokenError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Writes a file readable by its owner only (0600 where modes exist), replacing it
/// atomically.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut out = opts.open(&tmp)?;
    out.write_all(bytes)?;
    out.sync_all()?;
    drop(out);
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_identify_their_holders_and_nobody_else() {
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join("tokens.json");
        let (_, admin) = Tokens::load_or_create(&path).expect("create");
        let admin = admin.expect("new admin token is shown once");
        let (_, again) = Tokens::load_or_create(&path).expect("load");
        assert!(again.is_none(), "an existing token is never shown again");
        let nas = add_named(&path, "nas", false).expect("add");
        let (tokens, _) = Tokens::load_or_create(&path).expect("load");
        assert_eq!(tokens.identify(&admin), Some(Identity::Admin));
        assert_eq!(tokens.identify(&nas), Some(Identity::Named("nas".into())));
        assert_eq!(tokens.identify("wrong"), None);
        assert_eq!(tokens.identify(""), None);
        assert!(matches!(
            add_named(&path, "nas", false),
            Err(TokenError::Exists(_))
        ));
        assert!(matches!(
            add_named(&path, "../x", false),
            Err(TokenError::BadName)
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn a_running_agent_sees_tokens_added_and_removed_after_it_started() {
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join("tokens.json");
        let (tokens, admin) = Tokens::load_or_create(&path).expect("create");
        let admin = admin.expect("admin");
        let viewer = add_named(&path, "viewer", true).expect("add");
        assert_eq!(
            tokens.identify(&viewer),
            Some(Identity::ReadOnly("viewer".into()))
        );
        assert!(!Identity::ReadOnly("viewer".into()).may_act());
        assert_eq!(free_name(&path, "viewer").expect("name"), "viewer-2");
        assert_eq!(
            list_named(&path).expect("list"),
            [TokenInfo {
                name: "viewer".into(),
                read_only: true
            }]
        );
        remove_named(&path, "viewer").expect("remove");
        assert_eq!(tokens.identify(&viewer), None, "revoked at once");
        assert_eq!(tokens.identify(&admin), Some(Identity::Admin));
        assert!(matches!(
            remove_named(&path, "viewer"),
            Err(TokenError::NoSuchToken(_))
        ));
        fs::write(&path, b"{ half-written").expect("damage");
        assert_eq!(
            tokens.identify(&admin),
            Some(Identity::Admin),
            "a damaged file keeps the tokens read before"
        );
        fs::remove_file(&path).expect("delete");
        assert_eq!(tokens.identify(&admin), None, "a deleted file revokes all");
    }
}
