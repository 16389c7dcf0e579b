//! Files that only appear under their final name once complete.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::JobError;

/// Marks a file as a partial write; cleaning up after a killed run looks for it.
const PARTIAL_MARK: &str = ".tidemark-partial-";
/// The longest file name most filesystems accept, in bytes.
const NAME_MAX: usize = 255;
/// Room for what follows the mark: `<pid>-<n>`, two integers of at most 10 and 20 digits.
const PARTIAL_SUFFIX_MAX: usize = 10 + 1 + 20;

/// How the temporary names of `name` begin: `.<name>.tidemark-partial-`. A name too long for
/// that to fit in a file name keeps its first bytes (cut at a character) and a hash of the
/// whole name, so the prefix stays the same for one name and tells apart two long names
/// that begin alike.
pub fn partial_prefix(name: &str) -> String {
    let room = NAME_MAX - 1 - PARTIAL_MARK.len() - PARTIAL_SUFFIX_MAX;
    if name.len() <= room {
        return format!(".{name}{PARTIAL_MARK}");
    }
    let hash = blake3::hash(name.as_bytes()).to_hex();
    let tag = &hash.as_str()[..16];
    let mut cut = room - 1 - tag.len();
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(".{}~{tag}{PARTIAL_MARK}", &name[..cut])
}

/// Removes what a killed run left half-written: the temporary files of `name` in `dir`
/// (see [`partial_prefix`]), or any partial file under `dir` when `name` is `None`. Only
/// for a resumed run: a live run of another job may own a partial file of the same name.
pub fn remove_stale_partials(dir: &Path, name: Option<&str>) {
    let prefix = name.map(partial_prefix);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for item in fs::read_dir(&d).into_iter().flatten().flatten() {
            let file_name = item.file_name();
            let file_name = file_name.to_string_lossy();
            let stale = match &prefix {
                Some(p) => file_name.starts_with(p.as_str()),
                None => file_name.contains(PARTIAL_MARK),
            };
            let is_dir = item.file_type().is_ok_and(|t| t.is_dir());
            if stale && !is_dir {
                let _best_effort = fs::remove_file(item.path());
            } else if is_dir && prefix.is_none() {
                stack.push(item.path());
            }
        }
    }
}

/// A file being written under a hidden temporary name next to its final place. Dropped
/// without [`Partial::persist`], it removes itself: nothing half-written stays behind.
#[derive(Debug)]
pub struct Partial {
    path: PathBuf,
    armed: bool,
}

impl Partial {
    /// Creates `dir/.<name>.tidemark-partial-<pid>-<n>` exclusively; its name fits in a
    /// file name whatever the length of `name` ([`partial_prefix`]).
    pub fn create(dir: &Path, name: &str) -> Result<(Partial, File), JobError> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(
            "{}{}-{n}",
            partial_prefix(name),
            std::process::id()
        ));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| JobError::writing(&path, e))?;
        Ok((Partial { path, armed: true }, file))
    }

    /// Takes charge of a complete file an earlier run left under its temporary name.
    pub fn adopt(path: PathBuf) -> Partial {
        Partial { path, armed: true }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Moves the finished file to `dest`, replacing what is there.
    pub fn persist_replace(mut self, dest: &Path) -> Result<(), JobError> {
        fs::rename(&self.path, dest).map_err(|e| JobError::writing(dest, e))?;
        self.armed = false;
        Ok(())
    }

    /// Moves the finished file to `dest`, failing if something is already there; the file
    /// then stays in charge of this `Partial`, for another try under another name.
    pub fn persist_new(&mut self, dest: &Path) -> Result<(), JobError> {
        match crate::platform::rename_no_replace(&self.path, dest) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(JobError::DestExists(dest.to_owned()));
            }
            Err(e) => return Err(JobError::writing(dest, e)),
        }
        self.armed = false;
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if self.armed {
            let _ignored = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_partial_name_fits_beside_the_longest_names_and_is_cleaned_up_by_its_name() {
        let tmp = tempfile::tempdir().expect("tmp");
        // The longest legal names, of one-byte and of multi-byte characters, and two that
        // share their first 250 bytes.
        let long = "n".repeat(255);
        let wide = "é".repeat(127);
        let twin = format!("{}a", "n".repeat(250));
        let mut kept = Vec::new();
        for name in [&long, &wide, &twin, &"short".to_string()] {
            let (partial, mut file) = Partial::create(tmp.path(), name).expect("create");
            file.write_all(b"x").expect("write");
            let file_name = partial.path().file_name().expect("name").to_owned();
            assert!(file_name.len() <= NAME_MAX, "{}", file_name.len());
            assert!(
                file_name
                    .to_string_lossy()
                    .starts_with(&partial_prefix(name))
            );
            let mut partial = partial;
            partial
                .persist_new(&tmp.path().join(name))
                .expect("published under the long name");
            // What a killed run leaves behind.
            let stale = tmp
                .path()
                .join(format!("{}4294967295-7", partial_prefix(name)));
            fs::write(&stale, b"half").expect("stale");
            kept.push(stale);
        }
        assert_ne!(partial_prefix(&long), partial_prefix(&twin));
        // A resumed run cleans up the partials of its own name, and only those.
        let paths = kept;
        remove_stale_partials(tmp.path(), Some(&long));
        let exists: Vec<bool> = paths.iter().map(|p| p.exists()).collect();
        assert_eq!(exists, [false, true, true, true]);
        remove_stale_partials(tmp.path(), None);
        assert!(paths.iter().all(|p| !p.exists()));
        for name in [&long, &wide, &twin] {
            assert_eq!(fs::read(tmp.path().join(name)).expect("kept"), b"x");
        }
    }
}
