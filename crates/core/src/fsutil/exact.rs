//! Reading a source file at exactly the size the walk listed.

use std::io::{self, Read};
use std::path::PathBuf;

use crate::error::JobError;

/// A reader over one source file that yields exactly the size seen when the tree was
/// walked. A file that grew meanwhile yields its first `expected` bytes and says so
/// ([`ExactReader::grew`]), as `tar` archives a live log "changed as we read it". A file
/// that shrank, or failed to read, is an error, unless the reader pads: then the rest of
/// the expected bytes are zeros and [`ExactReader::short`] says why, since an archive whose
/// header already gave the size cannot take the entry back.
/// `on_bytes` sees every chunk (progress, pause, cancel). Errors are kept in `failure`, so
/// a caller handed back a bare `io::Error` by tar or zstd can tell them from errors of the
/// writer.
pub struct ExactReader<R, F> {
    inner: R,
    path: PathBuf,
    expected: u64,
    read: u64,
    on_bytes: F,
    pad: bool,
    /// Every expected byte was served and the end probed.
    ended: bool,
    grew: bool,
    short: Option<JobError>,
    pub failure: Option<JobError>,
}

impl<R, F> std::fmt::Debug for ExactReader<R, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExactReader")
            .field("path", &self.path)
            .field("read", &self.read)
            .finish()
    }
}

impl<R: Read, F: FnMut(u64) -> Result<(), JobError>> ExactReader<R, F> {
    pub fn new(inner: R, path: PathBuf, expected: u64, on_bytes: F) -> Self {
        Self {
            inner,
            path,
            expected,
            read: 0,
            on_bytes,
            pad: false,
            ended: false,
            grew: false,
            short: None,
            failure: None,
        }
    }

    /// A reader that pads a file that shrank or failed with zeros to its expected size.
    pub fn padding(mut self) -> Self {
        self.pad = true;
        self
    }

    /// The file holds more bytes than expected: only the expected ones were read.
    pub fn grew(&self) -> bool {
        self.grew
    }

    /// Why a padding reader served zeros for the end of the file, if it did.
    pub fn short(&mut self) -> Option<JobError> {
        self.short.take()
    }

    /// The error to report for an `io::Error` that came out of a pipeline this reader fed:
    /// the source's own failure if it had one, else whatever `otherwise` makes of it.
    pub fn blame(
        &mut self,
        err: io::Error,
        otherwise: impl FnOnce(io::Error) -> JobError,
    ) -> JobError {
        self.failure.take().unwrap_or_else(|| otherwise(err))
    }

    fn fail(&mut self, err: JobError) -> io::Error {
        let msg = err.to_string();
        self.failure = Some(err);
        io::Error::other(msg)
    }

    /// The source stopped short of the expected size: an error, or zeros from now on.
    fn stopped(&mut self, why: JobError) -> Result<(), io::Error> {
        if self.pad {
            self.short = Some(why);
            Ok(())
        } else {
            Err(self.fail(why))
        }
    }

    fn served(&mut self, n: usize) -> io::Result<usize> {
        self.read += n as u64;
        if let Err(e) = (self.on_bytes)(n as u64) {
            return Err(self.fail(e));
        }
        Ok(n)
    }
}

impl<R: Read, F: FnMut(u64) -> Result<(), JobError>> Read for ExactReader<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.expected - self.read;
        if left == 0 {
            if !self.ended && self.short.is_none() {
                self.ended = true;
                // Probe one byte past the end: a file that grew must not pass as unchanged. A
                // failure here leaves the expected bytes, all read, as they are.
                let mut probe = [0u8; 1];
                self.grew = loop {
                    match self.inner.read(&mut probe) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        r => break matches!(r, Ok(n) if n > 0),
                    }
                };
            }
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if self.short.is_some() {
            buf[..want].fill(0);
            return self.served(want);
        }
        match self.inner.read(&mut buf[..want]) {
            Ok(0) => {
                let what = format!("it shrank from {} to {} bytes", self.expected, self.read);
                let path = self.path.clone();
                self.stopped(JobError::SourceChanged { path, what })?;
                self.read(buf)
            }
            Ok(n) => self.served(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let path = self.path.clone();
                self.stopped(JobError::reading(&path, e))?;
                self.read(buf)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use std::path::Path;

    fn read_all(data: &[u8], expected: u64) -> Result<Vec<u8>, JobError> {
        let mut r = ExactReader::new(data, PathBuf::from("f"), expected, |_| Ok(()));
        let mut out = Vec::new();
        match r.read_to_end(&mut out) {
            Ok(_) => Ok(out),
            Err(e) => Err(r.blame(e, |e| JobError::Io {
                context: "write".into(),
                source: e,
            })),
        }
    }
    #[test]
    fn a_file_of_the_expected_size_reads_whole() {
        assert_eq!(read_all(b"abcd", 4).expect("read"), b"abcd");
        assert_eq!(read_all(b"", 0).expect("read"), b"");
    }
    #[test]
    fn a_file_that_shrank_is_a_source_change() {
        let err = read_all(b"abc", 4).expect_err("size changed");
        assert_eq!(err.code(), ErrorCode::SourceChanged, "{err}");
    }
    #[test]
    fn a_file_that_grew_reads_as_listed_and_says_so() {
        let mut r = ExactReader::new(&b"abcdef"[..], PathBuf::from("f"), 4, |_| Ok(()));
        let mut out = Vec::new();
        r.read_to_end(&mut out).expect("read");
        assert_eq!(out, b"abcd");
        assert!(r.grew());
        let mut r = ExactReader::new(&b"abcd"[..], PathBuf::from("f"), 4, |_| Ok(()));
        r.read_to_end(&mut Vec::new()).expect("read");
        assert!(!r.grew());
    }
    #[test]
    fn a_padding_reader_fills_a_file_that_shrank_with_zeros_and_says_why() {
        let mut seen = 0;
        let mut r = ExactReader::new(&b"abc"[..], PathBuf::from("f"), 6, |n| {
            seen += n;
            Ok(())
        })
        .padding();
        let mut out = Vec::new();
        r.read_to_end(&mut out).expect("read");
        assert_eq!(out, b"abc\0\0\0");
        assert!(!r.grew());
        let why = r.short().expect("short");
        assert_eq!(why.code(), ErrorCode::SourceChanged, "{why}");
        assert!(why.to_string().contains("from 6 to 3"), "{why}");
        assert_eq!(seen, 6, "the zeros count as read");
    }
    #[test]
    fn a_vanished_file_is_a_source_change_and_a_denied_one_is_unreadable() {
        let gone = io::Error::from(io::ErrorKind::NotFound);
        assert_eq!(
            JobError::reading(Path::new("x"), gone).code(),
            ErrorCode::SourceChanged
        );
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        assert_eq!(
            JobError::reading(Path::new("x"), denied).code(),
            ErrorCode::SourceUnreadable
        );
        // ENOSPC; ERROR_DISK_FULL on Windows.
        let full = io::Error::from_raw_os_error(if cfg!(windows) { 112 } else { 28 });
        assert_eq!(
            JobError::writing(Path::new("x"), full).code(),
            ErrorCode::DiskFull
        );
    }
    #[test]
    fn a_cancel_seen_by_the_reader_comes_out_as_cancelled() {
        let mut r = ExactReader::new(&b"abcd"[..], PathBuf::from("f"), 4, |_| {
            Err(JobError::Cancelled)
        });
        let err = r.read_to_end(&mut Vec::new()).expect_err("cancelled");
        let err = r.blame(err, |e| JobError::Io {
            context: "write".into(),
            source: e,
        });
        assert_eq!(err.code(), ErrorCode::Cancelled);
    }
}
