use std::io;
use std::path::{Path, PathBuf};

use rusqlite::ErrorCode as Sqlite;
use tidemark_core::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{} is not a Tidemark history database, or it is damaged; move it aside and Tidemark will start a new one", path.display())]
    NotADatabase { path: PathBuf },
    #[error("the history database {} cannot be written: the file or its folder is read-only", path.display())]
    ReadOnly { path: PathBuf },
    #[error("the history database {} is locked by another process; close it and try again", path.display())]
    Locked { path: PathBuf },
    #[error("the history database {} comes from a newer Tidemark (schema version {found}, this build knows up to {supported}); update Tidemark to open it", path.display())]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("history database {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("history database {}: {context}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        context: &'static str,
        source: rusqlite::Error,
    },
}

impl StoreError {
    /// The stable code that crosses a boundary next to the message.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotADatabase { .. } => ErrorCode::DbNotADatabase,
            Self::ReadOnly { .. } => ErrorCode::DbReadOnly,
            Self::Locked { .. } => ErrorCode::DbLocked,
            Self::TooNew { .. } => ErrorCode::DbTooNew,
            Self::Io { .. } | Self::Sqlite { .. } => ErrorCode::DbIo,
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            Self::NotADatabase { path }
            | Self::ReadOnly { path }
            | Self::Locked { path }
            | Self::TooNew { path, .. }
            | Self::Io { path, .. }
            | Self::Sqlite { path, .. } => path,
        }
    }
}

/// Turns what SQLite reports into what a user can act on; anything else keeps its context.
pub(crate) fn classify(path: &Path, context: &'static str, err: rusqlite::Error) -> StoreError {
    let path = path.to_owned();
    match err.sqlite_error_code() {
        Some(Sqlite::NotADatabase | Sqlite::DatabaseCorrupt) => StoreError::NotADatabase { path },
        // CANTOPEN is what a folder without write permission gives (no journal, no -wal file).
        Some(Sqlite::ReadOnly | Sqlite::CannotOpen) => StoreError::ReadOnly { path },
        Some(Sqlite::DatabaseBusy | Sqlite::DatabaseLocked) => StoreError::Locked { path },
        _ => StoreError::Sqlite {
            path,
            context,
            source: err,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::ffi;

    fn failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), None)
    }

    #[test]
    fn sqlite_codes_map_to_variants_with_codes() {
        let p = Path::new("/x/history.db");
        let cases = [
            (ffi::SQLITE_NOTADB, ErrorCode::DbNotADatabase),
            (ffi::SQLITE_CORRUPT, ErrorCode::DbNotADatabase),
            (ffi::SQLITE_READONLY, ErrorCode::DbReadOnly),
            (ffi::SQLITE_CANTOPEN, ErrorCode::DbReadOnly),
            (ffi::SQLITE_BUSY, ErrorCode::DbLocked),
            (ffi::SQLITE_LOCKED, ErrorCode::DbLocked),
            (ffi::SQLITE_IOERR, ErrorCode::DbIo),
            (ffi::SQLITE_CONSTRAINT, ErrorCode::DbIo),
        ];
        for (code, expected) in cases {
            let err = classify(p, "testing", failure(code));
            assert_eq!(err.code(), expected, "sqlite code {code}: {err}");
            assert_eq!(err.path(), p);
            assert!(err.to_string().contains("/x/history.db"), "{err}");
        }
        // Extended codes carry the primary one in their low byte.
        let readonly_dbmoved = ffi::SQLITE_READONLY | (4 << 8);
        assert!(matches!(
            classify(p, "testing", failure(readonly_dbmoved)),
            StoreError::ReadOnly { .. }
        ));
        assert!(matches!(
            classify(p, "testing", rusqlite::Error::QueryReturnedNoRows),
            StoreError::Sqlite { .. }
        ));
    }
}
