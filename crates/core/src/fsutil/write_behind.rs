//! An output flushed to disk in the background as it grows.

use std::fs::File;
use std::io::{self, Write};
use std::sync::mpsc;

/// A file being written that is pushed to disk in the background as it grows, so the
/// `fsync` before publishing it has little left to do: without it, a machine with plenty of
/// memory holds the whole archive dirty in the page cache and that last `fsync` alone takes
/// seconds. A failed background flush is kept and returned by [`WriteBehind::finish`], since
/// a later `fsync` may report success for pages whose write-back already failed.
#[derive(Debug)]
pub struct WriteBehind {
    file: File,
    unflushed: u64,
    wake: Option<mpsc::SyncSender<()>>,
    flusher: Option<std::thread::JoinHandle<io::Result<()>>>,
}

/// How much is written between two background flushes.
const WRITE_BEHIND_STEP: u64 = 32 << 20;

impl WriteBehind {
    pub fn new(file: File) -> WriteBehind {
        // Without a second handle the file is only flushed at the end, as before.
        let (wake, flusher) = match file.try_clone() {
            Ok(clone) => {
                // One pending wake-up is enough: a flush writes everything dirty so far.
                let (tx, rx) = mpsc::sync_channel::<()>(1);
                let priority = crate::platform::priority::inherit();
                let worker = std::thread::Builder::new()
                    .name("write-behind".into())
                    .spawn(move || {
                        priority.apply();
                        for () in rx {
                            clone.sync_data()?;
                        }
                        Ok(())
                    });
                match worker {
                    Ok(handle) => (Some(tx), Some(handle)),
                    Err(_) => (None, None),
                }
            }
            Err(_) => (None, None),
        };
        WriteBehind {
            file,
            unflushed: 0,
            wake,
            flusher,
        }
    }

    /// Waits for the background flushes, then makes the whole file durable.
    pub fn finish(mut self) -> io::Result<File> {
        drop(self.wake.take());
        if let Some(flusher) = self.flusher.take() {
            flusher
                .join()
                .map_err(|_| io::Error::other("the background flush panicked"))??;
        }
        self.file.sync_all()?;
        Ok(self.file)
    }
}

impl Write for WriteBehind {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.unflushed += n as u64;
        if self.unflushed >= WRITE_BEHIND_STEP {
            self.unflushed = 0;
            if let Some(wake) = &self.wake {
                // Full: a flush is already due, and it will cover this write too.
                let _ = wake.try_send(());
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn a_file_written_behind_holds_every_byte_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out");
        let mut w = WriteBehind::new(File::create(&path).expect("create"));
        // Several background flushes' worth, in pieces that do not divide the step.
        let piece: Vec<u8> = (0..=250u8).cycle().take(3 << 20).collect();
        let pieces = (3 * WRITE_BEHIND_STEP as usize) / piece.len() + 2;
        for _ in 0..pieces {
            w.write_all(&piece).expect("write");
        }
        let file = w.finish().expect("finish");
        assert_eq!(
            file.metadata().expect("meta").len(),
            (pieces * piece.len()) as u64
        );
        let back = fs::read(&path).expect("read");
        assert!(back.chunks(piece.len()).all(|c| c == piece.as_slice()));
    }
}
