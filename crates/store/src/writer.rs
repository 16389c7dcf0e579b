use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use tidemark_core::{ProgressEvent, ProgressSink, SinkClosed};

use crate::error::StoreError;
use crate::store::Store;

/// Most events written in one transaction; bounds how long a batch holds the write lock.
const MAX_BATCH: usize = 1000;

/// A [`ProgressSink`] that persists events on its own thread, so a job never waits on SQLite.
///
/// After a failed write the thread stops (a gap in the stored seq would be worse than an
/// end): `deliver` then returns [`SinkClosed`], and [`EventWriter::finish`] returns the error.
/// Dropping the writer without `finish` lets the thread drain and end on its own, but then
/// nobody hears of a failure.
#[derive(Debug)]
pub struct EventWriter {
    sender: Sender<Arc<ProgressEvent>>,
    thread: JoinHandle<Result<(), StoreError>>,
    path: PathBuf,
}

impl EventWriter {
    /// Moves `store` (a connection of its own) onto a new writer thread.
    pub fn spawn(store: Store) -> Result<EventWriter, StoreError> {
        let path = store.path().to_owned();
        let (sender, receiver) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("tidemark-store-writer".into())
            .spawn(move || write_all(store, receiver))
            .map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
        Ok(EventWriter {
            sender,
            thread,
            path,
        })
    }

    /// Closes the channel, waits until everything delivered is written, and returns the first
    /// write error if there was one.
    pub fn finish(self) -> Result<(), StoreError> {
        let EventWriter {
            sender,
            thread,
            path,
        } = self;
        drop(sender);
        thread.join().unwrap_or_else(|_| {
            Err(StoreError::Io {
                path,
                source: io::Error::other("the event writer thread panicked"),
            })
        })
    }
}

impl ProgressSink for EventWriter {
    fn deliver(&mut self, event: &Arc<ProgressEvent>) -> Result<(), SinkClosed> {
        self.sender.send(event.clone()).map_err(|_| SinkClosed)
    }
}

fn write_all(mut store: Store, receiver: Receiver<Arc<ProgressEvent>>) -> Result<(), StoreError> {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = receiver.recv() {
        batch.push(first);
        batch.extend(receiver.try_iter().take(MAX_BATCH - 1));
        store.append_events(&batch)?;
        batch.clear();
    }
    Ok(())
}
