//! The client's TLS against a real HTTPS server on loopback (rustls, a certificate made by
//! rcgen), serving the agent's routes: the job list, the progress stream (SSE, framed as the
//! agent frames it) and the events by seq.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tidemark_core::{Counters, Fingerprint, JobKind, JobState, ProgressEvent, Step};
use tidemark_remote::{
    Endpoint, HttpTransport, Timeouts, Transport, TransportError, WatchConfig, WatchEnd, WatchItem,
};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const TOKEN: &str = "s3cret-token";
const JOB: &str = "j1";
/// Events of the job; the last is terminal.
const LAST: u64 = 5;
/// A stream sends at most this many events, then ends: the watcher must reconnect (over TLS
/// again) from where it was.
const PER_STREAM: u64 = 3;

fn ev(seq: u64) -> ProgressEvent {
    let terminal = seq == LAST;
    ProgressEvent {
        seq,
        state: if terminal {
            JobState::Completed
        } else {
            JobState::Running
        },
        step: if terminal {
            Step::Completed
        } else {
            Step::Copying
        },
        step_number: 3,
        counters: Counters {
            processed: seq,
            total: Some(LAST),
            ..Counters::default()
        },
        ..ProgressEvent::blank(JOB, JobKind::Sync, 4)
    }
}

struct Server {
    port: u16,
    fingerprint: Fingerprint,
    /// Requests that got past TLS.
    served: Arc<AtomicUsize>,
}

impl Server {
    /// A certificate for "localhost" valid now.
    async fn start() -> Server {
        let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        Self::start_with(params).await
    }

    async fn start_with(params: rcgen::CertificateParams) -> Server {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("certificate");
        let der: CertificateDer<'static> = cert.der().clone();
        let fingerprint = Fingerprint::of_der(&der);
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![der], key)
            .expect("server certificate");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let served = Arc::new(AtomicUsize::new(0));
        let counter = served.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, counter) = (acceptor.clone(), counter.clone());
                tokio::spawn(async move {
                    // A client that does not finish the handshake is simply dropped.
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = service_fn(move |req| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        handle(req)
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Server {
            port,
            fingerprint,
            served,
        }
    }

    fn link(&self, fp: Fingerprint) -> String {
        format!("tidemark://127.0.0.1:{}/?fp={fp}&token={TOKEN}", self.port)
    }

    fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

fn answer(status: u16, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = hyper::StatusCode::from_u16(status).expect("status");
    if let Ok(ct) = content_type.parse() {
        resp.headers_mut().insert("content-type", ct);
    }
    resp
}

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let authorized = req
        .headers()
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == format!("Bearer {TOKEN}").as_bytes());
    if !authorized {
        return Ok(answer(401, "application/json", "{}".into()));
    }
    let json = |v: serde_json::Value| answer(200, "application/json", v.to_string());
    let path = req.uri().path();
    Ok(match path {
        "/api/v1/jobs" => json(serde_json::json!([{
            "id": JOB,
            "kind": "sync",
            "state": "running",
            "createdAt": "2026-01-01T00:00:00Z",
            "processed": 2,
            "total": 5,
            "bytesDone": 0,
            "bytesTotal": null,
        }])),
        "/api/v1/jobs/j1/events" => {
            let since: u64 = req
                .uri()
                .query()
                .and_then(|q| q.strip_prefix("since="))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let events: Vec<ProgressEvent> = (since + 1..=LAST).map(ev).collect();
            json(serde_json::to_value(events).expect("events"))
        }
        "/api/v1/jobs/j1/progress/stream" => {
            let after: u64 = req
                .headers()
                .get("last-event-id")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            // The agent's framing: the hello comment, then one frame per event.
            let mut body = String::from(": tidemark\n\n");
            for seq in (after + 1..=LAST).take(PER_STREAM as usize) {
                let data = serde_json::to_string(&ev(seq)).expect("event");
                body.push_str(&format!("id: {seq}\nevent: progress\ndata: {data}\n\n"));
            }
            answer(200, "text/event-stream", body)
        }
        _ => answer(404, "application/json", "{}".into()),
    })
}

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        read: Duration::from_secs(10),
        request: Duration::from_secs(5),
    }
}

/// Runs a watch to its end; every item and how it ended.
async fn watch_to_end(agent: &Endpoint) -> (Vec<WatchItem>, WatchEnd) {
    let cfg = WatchConfig {
        backoff_scale: 0.01,
        seed: 3,
        ..WatchConfig::default()
    };
    let (mut rx, task) = tidemark_remote::watch(agent, JOB, 0, cfg, timeouts()).expect("watch");
    let mut items = Vec::new();
    let collect = async {
        while let Some(item) = rx.recv().await {
            items.push(item);
        }
    };
    tokio::time::timeout(Duration::from_secs(60), collect)
        .await
        .expect("the watch ends");
    (items, task.await.expect("watch task"))
}

/// Bounds a request that must fail, so a hang fails the test instead of stalling it.
async fn must_end<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .unwrap_or_else(|_| panic!("{what} hung"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pinned_certificate_is_accepted_and_the_watch_gets_every_event_once() {
    let server = Server::start().await;
    // The certificate names "localhost" and the link an address: the pin is all that counts.
    let agent = Endpoint::parse(&server.link(server.fingerprint), None).expect("link");
    assert_eq!(agent.pin, Some(server.fingerprint));

    let jobs = tidemark_remote::list_jobs(&agent).await.expect("jobs");
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].id, JOB);

    let (items, end) = watch_to_end(&agent).await;
    assert_eq!(end, WatchEnd::Finished, "{items:?}");
    let seqs: Vec<u64> = items
        .iter()
        .filter_map(|i| match i {
            WatchItem::Event(e) => Some(e.seq),
            _ => None,
        })
        .collect();
    assert_eq!(seqs, (1..=LAST).collect::<Vec<_>>());
    // It took two streams: the first ended after PER_STREAM events.
    assert!(
        items.iter().any(|i| matches!(
            i,
            WatchItem::State(tidemark_remote::ConnState::Reconnecting { .. })
        )),
        "{items:?}"
    );

    let transport = HttpTransport::new(&agent, JOB, timeouts()).expect("transport");
    let polled = transport.events_since(2).await.expect("events");
    assert_eq!(polled.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4, 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_certificate_is_still_accepted_when_it_is_the_pinned_one() {
    let mut params =
        rcgen::CertificateParams::new(vec!["elsewhere.invalid".to_owned()]).expect("params");
    params.not_before = rcgen::date_time_ymd(2001, 1, 1);
    params.not_after = rcgen::date_time_ymd(2002, 1, 1);
    let server = Server::start_with(params).await;
    let agent = Endpoint::parse(&server.link(server.fingerprint), None).expect("link");
    let jobs = tidemark_remote::list_jobs(&agent).await.expect("jobs");
    assert_eq!(jobs.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_certificate_than_the_pinned_one_is_refused_naming_both_fingerprints() {
    let server = Server::start().await;
    let pinned = Fingerprint::of_der(b"the certificate it was paired with");
    let agent = Endpoint::parse(&server.link(pinned), None).expect("link");
    let want = TransportError::Fingerprint {
        agent: format!("127.0.0.1:{}", server.port),
        expected: pinned,
        actual: server.fingerprint,
    };

    let err = must_end("list_jobs", tidemark_remote::list_jobs(&agent))
        .await
        .expect_err("refused");
    assert_eq!(err, want);
    let message = err.to_string();
    assert!(message.contains("fingerprint"), "{message}");
    assert!(message.contains(&pinned.to_string()), "{message}");
    assert!(
        message.contains(&server.fingerprint.to_string()),
        "{message}"
    );
    assert!(
        message.contains(&format!("127.0.0.1:{}", server.port)),
        "{message}"
    );

    // The stream and polling say the same.
    let transport = HttpTransport::new(&agent, JOB, timeouts()).expect("transport");
    let opened = must_end("open", transport.open(0)).await;
    assert_eq!(opened.err(), Some(want.clone()));
    let polled = must_end("events_since", transport.events_since(0)).await;
    assert_eq!(polled, Err(want));
    // Nothing, the token least of all, was sent to the impostor.
    assert_eq!(server.served(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_certificate_is_refused_without_a_pin() {
    let server = Server::start().await;
    let agent = Endpoint::new(format!("https://127.0.0.1:{}/", server.port), TOKEN);
    assert_eq!(agent.pin, None);

    let err = must_end("list_jobs", tidemark_remote::list_jobs(&agent))
        .await
        .expect_err("an unknown issuer is refused");
    assert!(matches!(err, TransportError::Untrusted(_)), "{err:?}");
    assert!(err.to_string().contains("pairing link"), "{err}");
    let transport = HttpTransport::new(&agent, JOB, timeouts()).expect("transport");
    let opened = must_end("open", transport.open(0)).await;
    assert!(
        matches!(opened, Err(TransportError::Untrusted(_))),
        "{:?}",
        opened.err()
    );
    assert_eq!(server.served(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_the_tls_port_fails_with_an_error() {
    let server = Server::start().await;
    let agent = Endpoint::new(format!("http://127.0.0.1:{}", server.port), TOKEN);

    let err = must_end("list_jobs", tidemark_remote::list_jobs(&agent))
        .await
        .expect_err("not TLS");
    assert!(matches!(err, TransportError::Failed(_)), "{err:?}");
    let transport = HttpTransport::new(&agent, JOB, timeouts()).expect("transport");
    let opened = must_end("open", transport.open(0)).await;
    assert!(
        matches!(opened, Err(TransportError::Failed(_))),
        "{:?}",
        opened.err()
    );
    assert_eq!(server.served(), 0);
}

#[test]
fn installing_the_default_provider_twice_is_harmless() {
    tidemark_remote::tls::install_default_provider();
    tidemark_remote::tls::install_default_provider();
    assert!(rustls::crypto::CryptoProvider::get_default().is_some());
}
