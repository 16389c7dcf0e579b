//! Tests only: an upload target that takes its time, so a job is reliably still running
//! (mid-upload, step 5) when a test pauses or cancels it, however loaded the machine is.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// Reads about 400 KiB/s and answers 201 once a whole body arrived. Its thread lives as long
/// as the test process; every connection gets a thread of its own.
pub(crate) fn start() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/backups", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || serve(conn));
        }
    });
    url
}

fn serve(mut conn: TcpStream) {
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
        return;
    };
    let mut left = len;
    let mut chunk = vec![0u8; 8 << 10];
    while left > 0 {
        let want = chunk.len().min(left);
        match conn.read(&mut chunk[..want]) {
            // The client gave up (a cancelled job): nothing to answer.
            Ok(0) | Err(_) => return,
            Ok(n) => left -= n,
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = conn.write_all(b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n");
}

/// A folder whose archive cannot shrink below `bytes` (pseudo-random content), so its
/// upload to [`start`]'s target takes seconds.
pub(crate) fn incompressible_tree(dir: &std::path::Path, bytes: usize) -> std::path::PathBuf {
    let src = dir.join("incompressible");
    std::fs::create_dir_all(&src).expect("mkdir");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let data: Vec<u8> = (0..bytes)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    std::fs::write(src.join("noise.bin"), data).expect("write");
    src
}
