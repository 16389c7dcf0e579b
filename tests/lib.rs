//! Helpers shared by the end-to-end suites: `e2e/` (the `tidemark` binary) and `desktop/`
//! (the desktop app in its webview). Trees are generated here and checked with system tools.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tree with what trips archivers up: unicode and spaces, empty folders, empty files, a
/// large file, deep nesting, a symlink.
pub fn generate_tree(root: &Path, large_bytes: usize) {
    fs::create_dir_all(root).expect("root");
    write(root.join("plain.txt"), b"hello\n");
    write(root.join("with space.txt"), b"spaces in names\n");
    write(root.join("ünïcödé — 日本語.md"), "naïve café\n".as_bytes());
    write(root.join("empty-file"), b"");
    fs::create_dir_all(root.join("empty dir")).expect("empty dir");
    let mut deep = root.to_path_buf();
    for i in 0..24 {
        deep.push(format!("level-{i:02}-with-a-rather-long-folder-name"));
    }
    fs::create_dir_all(&deep).expect("deep");
    write(deep.join("bottom.txt"), b"deep down\n");
    write(root.join("large.bin"), &pseudo_random(large_bytes, 7));
    for i in 0..50 {
        write(
            root.join(format!("many/file-{i:03}.dat")),
            &pseudo_random(i * 997, i as u64),
        );
    }
    let exec = root.join("script.sh");
    write(exec.clone(), b"#!/bin/sh\necho hi\n");
    // The suites run on Linux; the app's tests that borrow this tree build everywhere.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::os::unix::fs::symlink("plain.txt", root.join("link-to-plain")).expect("symlink");
        std::os::unix::fs::symlink("../outside/nowhere", root.join("dangling-link"))
            .expect("symlink");
        fs::set_permissions(&exec, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
}

pub fn write(path: PathBuf, data: &[u8]) {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).expect("parent");
    }
    fs::write(&path, data).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Incompressible but reproducible bytes (xorshift), so a large file is not a zstd freebie.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// `diff -r` without following links: empty output means identical trees.
pub fn diff_trees(a: &Path, b: &Path) -> String {
    let out = Command::new("diff")
        .args(["-r", "--no-dereference"])
        .arg(a)
        .arg(b)
        .output()
        .expect("diff");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

pub fn extract(archive: &Path, into: &Path) {
    fs::create_dir_all(into).expect("extract dir");
    let out = Command::new("tar")
        .args(["--zstd", "-xf"])
        .arg(archive)
        .arg("-C")
        .arg(into)
        .output()
        .expect("tar");
    assert!(
        out.status.success(),
        "tar failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Names in `dir` (not recursive), sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// An upload target that takes its time, for tests that must act on a job mid-upload.
/// Reaching an agent as a paired client does: its certificate pinned, a pairing link.
pub mod paired {
    use std::time::Duration;

    use tidemark_core::{Fingerprint, PairingLink};

    /// A client that trusts exactly the certificate `fingerprint` names.
    pub fn client(fingerprint: Fingerprint) -> reqwest::blocking::Client {
        let (tls, _) = tidemark_remote::tls::client_config(Some(fingerprint)).expect("TLS config");
        reqwest::blocking::Client::builder()
            .timeout(None::<Duration>)
            .use_preconfigured_tls((*tls).clone())
            .build()
            .expect("client")
    }

    /// The link `tidemark agent pair` prints for the agent at `url` (`https://HOST:PORT`).
    pub fn link(url: &str, fingerprint: Fingerprint, token: &str) -> String {
        let (host, port) = url
            .trim_start_matches("https://")
            .rsplit_once(':')
            .expect("HOST:PORT");
        PairingLink {
            host: host.to_owned(),
            port: port.parse().expect("port"),
            fingerprint,
            token: token.to_owned(),
        }
        .to_string()
    }
}

pub mod slow_put {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// An upload target that takes its time: it reads a request body at about 1 MiB/s and
    /// answers 201 only once the whole body arrived. A snapshot to it is reliably mid-upload
    /// (step 5) when the test acts, whatever the machine's speed.
    #[derive(Debug)]
    pub struct SlowPut {
        pub url: String,
        /// Every whole body received, in order.
        pub received: Arc<Mutex<Vec<Vec<u8>>>>,
        /// Uploads that ended before their body was whole.
        pub broken: Arc<AtomicUsize>,
    }

    impl SlowPut {
        pub fn start() -> SlowPut {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let url = format!("http://{}/backups", listener.local_addr().expect("addr"));
            let received = Arc::new(Mutex::new(Vec::new()));
            let broken = Arc::new(AtomicUsize::new(0));
            let (r, b) = (received.clone(), broken.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming().flatten() {
                    let (r, b) = (r.clone(), b.clone());
                    std::thread::spawn(move || serve_slowly(conn, &r, &b));
                }
            });
            SlowPut {
                url,
                received,
                broken,
            }
        }

        pub fn whole(&self) -> Vec<Vec<u8>> {
            self.received.lock().map(|v| v.clone()).unwrap_or_default()
        }
    }

    fn serve_slowly(mut conn: TcpStream, received: &Mutex<Vec<Vec<u8>>>, broken: &AtomicUsize) {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match conn.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => return,
            }
        }
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let Some(len) = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
        else {
            let _ = conn.write_all(b"HTTP/1.1 411 Length Required\r\ncontent-length: 0\r\n\r\n");
            return;
        };
        let mut body = Vec::with_capacity(len);
        let mut chunk = vec![0u8; 64 << 10];
        while body.len() < len {
            let want = chunk.len().min(len - body.len());
            match conn.read(&mut chunk[..want]) {
                Ok(0) | Err(_) => {
                    broken.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                Ok(n) => body.extend_from_slice(&chunk[..n]),
            }
            std::thread::sleep(Duration::from_millis(60));
        }
        if let Ok(mut r) = received.lock() {
            r.push(body);
        }
        let _ = conn.write_all(b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n");
    }
}
