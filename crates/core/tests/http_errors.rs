//! What a failed upload or download says, against real servers on loopback: one that
//! answers early (before reading the upload), one that closes in the middle of a body, a
//! closed port, a name that does not resolve, TLS to a server that speaks plain HTTP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use tidemark_core::progress::{Reporter, StepPlan};
use tidemark_core::{Control, ErrorCode, EventLog, JobError, JobKind, RestoreSpec, Step};

/// How a test server treats each request.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Answers `status` with `body` as soon as the head is read, then reads and drops what
    /// the client still sends, as real servers do before closing (a lingering close).
    Early(u16, &'static str),
    /// Reads the head and about 64 KiB of an upload's body, then closes without answering.
    CloseMidUpload,
    /// Answers 200 with a long `Content-Length`, sends a little, then closes.
    CloseMidDownload,
}

fn read_head(stream: &TcpStream) -> Option<BufReader<TcpStream>> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            return Some(reader);
        }
    }
}

fn serve(b: Behaviour) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let Some(mut reader) = read_head(&stream) else {
                    return;
                };
                match b {
                    Behaviour::Early(status, body) => {
                        let _ = write!(
                            stream,
                            "HTTP/1.1 {status} Nope\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = stream.flush();
                        let _ = stream.shutdown(Shutdown::Write);
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                        let mut sink = [0u8; 64 * 1024];
                        while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
                    }
                    Behaviour::CloseMidUpload => {
                        let mut some = vec![0u8; 64 * 1024];
                        let _ = reader.read_exact(&mut some);
                    }
                    Behaviour::CloseMidDownload => {
                        let _ = write!(
                            stream,
                            "HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n"
                        );
                        let _ = stream.write_all(&[0x28, 0xb5, 0x2f, 0xfd]);
                        let _ = stream.write_all(&[7u8; 20_000]);
                    }
                }
            });
        }
    });
    format!("http://{addr}/bucket/")
}

fn reporter() -> Reporter {
    let plan = StepPlan(vec![(Step::Uploading, 1.0)]);
    let mut rep = Reporter::new(
        "j",
        JobKind::Snapshot,
        EventLog::new(),
        Control::new(),
        plan,
    );
    rep.start_step(Step::Uploading, None, None);
    rep
}

fn upload(url: &str, archive: &Path) -> JobError {
    let len = std::fs::metadata(archive).expect("len").len();
    let url = tidemark_core::upload::parse_url(url).expect("url");
    tidemark_core::upload::put(&url, archive, len, &mut reporter()).expect_err("must fail")
}

fn download(url: &str, to: &Path) -> JobError {
    let spec = RestoreSpec {
        archive: url.to_owned(),
        to: to.to_owned(),
        only: vec![],
        overwrite: false,
        manifest: None,
    };
    let plan = tidemark_core::restore::restore_plan();
    let mut rep = Reporter::new("j", JobKind::Restore, EventLog::new(), Control::new(), plan);
    tidemark_core::restore::run(&spec, &mut rep).expect_err("must fail")
}

fn closed_port() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    format!("http://127.0.0.1:{port}/bucket/a.tar.zst")
}

/// No sentence of the HTTP library reaches the user.
fn plain(e: &JobError) -> String {
    let m = e.to_string();
    for internal in [
        "receiver is gone",
        "request or response body error",
        "hyper",
        "reqwest",
    ] {
        assert!(!m.contains(internal), "{m}");
    }
    m
}

#[test]
fn an_upload_answered_early_says_the_servers_status_and_words() {
    let tmp = tempfile::tempdir().expect("tmp");
    let archive = tmp.path().join("a.tar.zst");
    // Larger than the socket buffers: the server answers long before the body is sent.
    std::fs::write(&archive, vec![7u8; 32 << 20]).expect("archive");
    for (status, body) in [
        (
            403,
            "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
        ),
        (413, "Payload Too Large: the limit is 1 MB"),
        (500, "internal error, try later"),
    ] {
        let url = serve(Behaviour::Early(status, body));
        let e = upload(&format!("{url}a.tar.zst"), &archive);
        let m = plain(&e);
        assert_eq!(e.code(), ErrorCode::UploadRejected, "{status}: {m}");
        assert!(m.contains(&status.to_string()), "{m}");
        assert!(m.contains(&body[..12]), "the start of the body: {m}");
    }
}

#[test]
fn an_upload_cut_off_or_refused_says_so() {
    let tmp = tempfile::tempdir().expect("tmp");
    let archive = tmp.path().join("a.tar.zst");
    std::fs::write(&archive, vec![7u8; 32 << 20]).expect("archive");
    let e = upload(&format!("{}a", serve(Behaviour::CloseMidUpload)), &archive);
    assert_eq!(e.code(), ErrorCode::ConnectionLost, "{}", plain(&e));
    let e = upload(&closed_port(), &archive);
    assert_eq!(e.code(), ErrorCode::ConnectionRefused, "{}", plain(&e));
    assert!(plain(&e).contains("refused"), "{e}");
    let e = upload("http://no-such-host.invalid/a", &archive);
    assert_eq!(e.code(), ErrorCode::HostNotFound, "{}", plain(&e));
    let https = serve(Behaviour::Early(200, "plain HTTP")).replace("http://", "https://");
    let e = upload(&format!("{https}a"), &archive);
    assert_eq!(e.code(), ErrorCode::TlsFailed, "{}", plain(&e));
}

#[test]
fn a_download_says_the_servers_answer_or_why_there_was_none() {
    let tmp = tempfile::tempdir().expect("tmp");
    let to = tmp.path().join("to");
    for status in [403, 500] {
        let url = serve(Behaviour::Early(status, "Request has expired"));
        let e = download(&format!("{url}a.tar.zst"), &to);
        let m = plain(&e);
        assert_eq!(e.code(), ErrorCode::DownloadRejected, "{m}");
        assert!(
            m.contains(&status.to_string()) && m.contains("expired"),
            "{m}"
        );
    }
    let e = download(
        &format!("{}a.tar.zst", serve(Behaviour::CloseMidDownload)),
        &to,
    );
    assert_eq!(e.code(), ErrorCode::ConnectionLost, "{}", plain(&e));
    let e = download(&closed_port(), &to);
    assert_eq!(e.code(), ErrorCode::ConnectionRefused, "{}", plain(&e));
}
