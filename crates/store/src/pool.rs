//! [`Pool`]: connections to one history database, reused between calls.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::error::StoreError;
use crate::store::Store;

/// Connections kept open between calls.
const POOL_IDLE: usize = 8;

/// Reused SQLite connections. Opening one (file, pragmas, schema check) costs more than the
/// queries of a call, and many callers at once would otherwise each open their own. A
/// [`Store`] is `Send`, not `Sync`: each caller takes one for itself and gives it back.
#[derive(Debug)]
pub struct Pool {
    db: PathBuf,
    idle: Mutex<Vec<Store>>,
}

/// A connection from the pool, given back when dropped.
#[derive(Debug)]
pub struct Pooled<'a> {
    store: Option<Store>,
    pool: &'a Pool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Pool {
    /// A pool for the database at `db`; nothing is opened until asked for.
    pub fn new(db: PathBuf) -> Pool {
        Pool {
            db,
            idle: Mutex::new(Vec::new()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.db
    }

    /// An idle connection, or a new one.
    pub fn get(&self) -> Result<Pooled<'_>, StoreError> {
        let idle = lock(&self.idle).pop();
        let store = match idle {
            Some(s) => s,
            None => Store::open(&self.db)?,
        };
        Ok(Pooled {
            store: Some(store),
            pool: self,
        })
    }
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Store;
    fn deref(&self) -> &Store {
        self.store.as_ref().expect("present until dropped")
    }
}

impl std::ops::DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Store {
        self.store.as_mut().expect("present until dropped")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        let mut idle = lock(&self.pool.idle);
        if let Some(store) = self.store.take().filter(|_| idle.len() < POOL_IDLE) {
            idle.push(store);
        }
    }
}
