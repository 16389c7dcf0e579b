//! The data set: a tree of many small files and a few large ones, generated from a fixed seed
//! so every run of the harness measures the same bytes.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A small, fast, deterministic generator (SplitMix64). Not for anything but test data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Shape {
    pub small_files: u64,
    pub small_min: u64,
    pub small_max: u64,
    pub large_files: u64,
    pub large_bytes: u64,
}

/// What was generated.
#[derive(Debug, Clone)]
pub struct DataSet {
    /// The tree itself (`<parent>/tree`).
    pub root: PathBuf,
    pub shape: Shape,
    pub files: u64,
    pub dirs: u64,
    pub bytes: u64,
    pub small_bytes: u64,
    pub large_total: u64,
    pub seed: u64,
}

pub const SEED: u64 = 0x7469_6465_6d61_726b; // "tidemark"

/// Share of 4 KiB blocks that are text-like (compressible); the rest are random bytes.
pub const SMALL_TEXT_SHARE: f64 = 0.7;
pub const LARGE_TEXT_SHARE: f64 = 0.2;

const BLOCK: usize = 4096;
const SMALL_PER_DIR: u64 = 100;
const DIRS_PER_GROUP: u64 = 100;

const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "with",
    "was",
    "on",
    "be",
    "by",
    "this",
    "are",
    "from",
    "or",
    "at",
    "an",
    "which",
    "have",
    "not",
    "but",
    "all",
    "can",
    "were",
    "job",
    "step",
    "file",
    "folder",
    "snapshot",
    "sync",
    "mirror",
    "archive",
    "progress",
    "event",
    "bytes",
    "total",
    "percent",
    "rate",
    "speed",
    "time",
    "remaining",
    "manifest",
    "hash",
    "tree",
    "walk",
    "copy",
    "error",
    "warning",
    "state",
    "running",
    "done",
    "queued",
    "resume",
    "history",
    "store",
    "fn",
    "let",
    "mut",
    "impl",
    "pub",
];

/// Appends `len` bytes of content to `buf`: 4 KiB blocks, each text-like with probability
/// `text_share`, random otherwise.
pub fn fill(rng: &mut Rng, buf: &mut Vec<u8>, len: usize, text_share: f64) {
    let end = buf.len() + len;
    while buf.len() < end {
        let block_end = (buf.len() + BLOCK).min(end);
        if rng.unit() < text_share {
            while buf.len() < block_end {
                let r = rng.next_u64();
                let word = WORDS[(r % WORDS.len() as u64) as usize];
                buf.extend_from_slice(word.as_bytes());
                buf.push(if (r >> 32).is_multiple_of(12) {
                    b'\n'
                } else {
                    b' '
                });
                if (r >> 40).is_multiple_of(16) {
                    buf.extend_from_slice(((r >> 44) % 100_000).to_string().as_bytes());
                    buf.push(b' ');
                }
            }
            buf.truncate(block_end);
        } else {
            while buf.len() < block_end {
                let r = rng.next_u64().to_le_bytes();
                let n = (block_end - buf.len()).min(r.len());
                buf.extend_from_slice(&r[..n]);
            }
        }
    }
}

/// Generates the tree under `parent/tree`.
pub fn generate(parent: &Path, shape: &Shape) -> io::Result<DataSet> {
    let root = parent.join("tree");
    fs::create_dir_all(&root)?;
    let mut rng = Rng::new(SEED);
    let mut buf = Vec::with_capacity(shape.small_max as usize);
    let mut small_bytes = 0u64;
    for i in 0..shape.small_files {
        let dir = root.join("small").join(format!(
            "g{:02}/d{:02}",
            i / (SMALL_PER_DIR * DIRS_PER_GROUP),
            (i / SMALL_PER_DIR) % DIRS_PER_GROUP
        ));
        if i % SMALL_PER_DIR == 0 {
            fs::create_dir_all(&dir)?;
        }
        let span = shape.small_max - shape.small_min + 1;
        let len = shape.small_min + rng.below(span);
        buf.clear();
        fill(&mut rng, &mut buf, len as usize, SMALL_TEXT_SHARE);
        let ext = if i % 3 == 0 { "bin" } else { "txt" };
        fs::write(dir.join(format!("f{i:06}.{ext}")), &buf)?;
        small_bytes += len;
    }
    if shape.large_files > 0 {
        let dir = root.join("large");
        fs::create_dir_all(&dir)?;
        let chunk = 1 << 20;
        for k in 0..shape.large_files {
            let mut file = io::BufWriter::new(File::create(dir.join(format!("blob-{k}.img")))?);
            let mut left = shape.large_bytes;
            while left > 0 {
                let n = left.min(chunk);
                buf.clear();
                fill(&mut rng, &mut buf, n as usize, LARGE_TEXT_SHARE);
                file.write_all(&buf)?;
                left -= n;
            }
            file.into_inner().map_err(|e| e.into_error())?.flush()?;
        }
    }
    let large_total = shape.large_files * shape.large_bytes;
    // What is on disk, counted, rather than what was meant to be.
    let (files, dirs, bytes) = count_tree(&root)?;
    Ok(DataSet {
        root,
        shape: shape.clone(),
        files,
        dirs,
        bytes,
        small_bytes,
        large_total,
        seed: SEED,
    })
}

/// Counts the regular files under `root`, the folders (`root` included) and the files' bytes
/// (no link following).
pub fn count_tree(root: &Path) -> io::Result<(u64, u64, u64)> {
    let mut files = 0;
    let mut dirs = 1;
    let mut bytes = 0;
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                dirs += 1;
                stack.push(entry.path());
            } else if kind.is_file() {
                files += 1;
                bytes += entry.metadata()?.len();
            }
        }
    }
    Ok((files, dirs, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_deterministic_and_exactly_sized() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let (mut x, mut y) = (Vec::new(), Vec::new());
        fill(&mut a, &mut x, 10_000, 0.5);
        fill(&mut b, &mut y, 10_000, 0.5);
        assert_eq!(x.len(), 10_000);
        assert_eq!(x, y);
    }

    #[test]
    fn generates_the_shape_asked_for() {
        let dir = tempfile::tempdir().expect("temp dir");
        let shape = Shape {
            small_files: 250,
            small_min: 1024,
            small_max: 2048,
            large_files: 1,
            large_bytes: 3 << 20,
        };
        let set = generate(dir.path(), &shape).expect("generate");
        assert_eq!(set.files, 251);
        assert_eq!(set.small_bytes + set.large_total, set.bytes);
        // tree, small, g00, d00..d02, large
        assert_eq!(set.dirs, 7);
    }
}
