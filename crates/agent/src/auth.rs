//! Bearer tokens: one admin token created on first start, and named tokens, each of which
//! sees only the jobs it started. Only hashes are compared, in constant time.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Admin,
    Named(String),
}

impl Identity {
    /// The owner recorded on jobs this identity starts.
    pub fn owner(&self) -> Option<&str> {
        match self {
            Self::Admin => None,
            Self::Named(n) => Some(n),
        }
    }

    /// A key for per-caller limits.
    pub fn key(&self) -> String {
        match self {
            Self::Admin => "\0admin".into(),
            Self::Named(n) => n.clone(),
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
}

/// The tokens an agent accepts.
#[derive(Debug, Clone)]
pub struct Tokens {
    admin: blake3::Hash,
    named: Vec<(String, blake3::Hash)>,
}

impl Tokens {
    /// Loads the token file, creating it with a fresh admin token if it does not exist.
    /// Returns the new admin token when one was created (to be shown once).
    pub fn load_or_create(path: &Path) -> Result<(Tokens, Option<String>), TokenError> {
        let io = |source| TokenError::Io {
            path: path.to_owned(),
            source,
        };
        let (file, created) = match fs::read(path) {
            Ok(bytes) => (parse(path, &bytes)?, None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let file = TokenFile {
                    admin: new_token()?,
                    named: Vec::new(),
                };
                write_private(path, &file)?;
                let admin = file.admin.clone();
                (file, Some(admin))
            }
            Err(e) => return Err(io(e)),
        };
        Ok((Tokens::from_file(&file), created))
    }

    fn from_file(file: &TokenFile) -> Tokens {
        Tokens {
            admin: hash(&file.admin),
            named: file
                .named
                .iter()
                .map(|t| (t.name.clone(), hash(&t.token)))
                .collect(),
        }
    }

    /// Who presents `token`, if anyone. Every known token is compared (in constant time) so
    /// the time taken says nothing about which one came close.
    pub fn identify(&self, token: &str) -> Option<Identity> {
        let presented = hash(token);
        let mut found = None;
        if presented == self.admin {
            found = Some(Identity::Admin);
        }
        for (name, h) in &self.named {
            if presented == *h {
                found = Some(Identity::Named(name.clone()));
            }
        }
        found
    }
}

/// Adds a named token to the file (creating the file if needed); returns the new token.
pub fn add_named(path: &Path, name: &str) -> Result<String, TokenError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(TokenError::BadName);
    }
    let mut file = match fs::read(path) {
        Ok(bytes) => parse(path, &bytes)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => TokenFile {
            admin: new_token()?,
            named: Vec::new(),
        },
        Err(e) => {
            return Err(TokenError::Io {
                path: path.to_owned(),
                source: e,
            });
        }
    };
    if file.named.iter().any(|t| t.name == name) {
        return Err(TokenError::Exists(name.to_owned()));
    }
    let token = new_token()?;
    file.named.push(NamedToken {
        name: name.to_owned(),
        token: token.clone(),
    });
    write_private(path, &file)?;
    Ok(token)
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

/// Writes the file readable by its owner only (0600), replacing it atomically.
fn write_private(path: &Path, file: &TokenFile) -> Result<(), TokenError> {
    let io = |source| TokenError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("tmp");
    let json = serde_json::to_vec_pretty(file).map_err(|e| io(e.into()))?;
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut out = opts.open(&tmp).map_err(io)?;
    out.write_all(&json)
        .and_then(|()| out.sync_all())
        .map_err(io)?;
    fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_identify_their_holders_and_nobody_else() {
        let dir = tempfile_dir();
        let path = dir.join("tokens.json");
        let (_, admin) = Tokens::load_or_create(&path).expect("create");
        let admin = admin.expect("new admin token is shown once");
        let (_, again) = Tokens::load_or_create(&path).expect("load");
        assert!(again.is_none(), "an existing token is never shown again");
        let nas = add_named(&path, "nas").expect("add");
        let (tokens, _) = Tokens::load_or_create(&path).expect("load");
        assert_eq!(tokens.identify(&admin), Some(Identity::Admin));
        assert_eq!(tokens.identify(&nas), Some(Identity::Named("nas".into())));
        assert_eq!(tokens.identify("wrong"), None);
        assert_eq!(tokens.identify(""), None);
        assert!(matches!(
            add_named(&path, "nas"),
            Err(TokenError::Exists(_))
        ));
        assert!(matches!(add_named(&path, "../x"), Err(TokenError::BadName)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let _ = fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("tidemark-auth-{}", std::process::id()));
        fs::create_dir_all(&d).expect("dir");
        d
    }
}
