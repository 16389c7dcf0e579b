//! Reaching an agent over a real network: pairing links, the pinned certificate, scoped
//! tokens, and connections that try to hold the agent up.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use tidemark_core::{JobState, PairingLink, ProgressEvent};

use crate::agent_proc::{
    Agent, agent_command, big_source, pinned_client, start_agent, start_agent_on, start_agent_with,
};
use crate::util::*;

/// `tidemark watch --agent LINK JOB --json`: its exit code, events and stderr.
fn watch_link(link: &str, id: &str) -> (Option<i32>, Vec<ProgressEvent>, String) {
    let out = Command::new(bin())
        .args(["watch", "--agent", link, id, "--json"])
        .env_remove("TIDEMARK_TOKEN")
        .output()
        .expect("watch");
    let events = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l.get("connection").is_none())
        .map(|l| serde_json::from_value(l).expect("event"))
        .collect();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), events, stderr)
}

fn events_of(agent: &Agent, id: &str) -> Vec<ProgressEvent> {
    serde_json::from_value(agent.admin("GET", &format!("/api/v1/jobs/{id}/events"), None))
        .expect("events")
}

#[test]
fn a_pairing_link_follows_a_job_over_https_and_a_read_only_one_only_looks() {
    let tmp = tempfile::tempdir().expect("tmp");
    let agent = start_agent(tmp.path());
    // Made while the agent runs: it takes tokens made after it started.
    let link = agent_command(tmp.path(), &["pair", "--name", "laptop"]);
    let parsed: PairingLink = link.parse().expect("a pairing link");
    assert_eq!(parsed.fingerprint, agent.fingerprint);
    assert_eq!(parsed.base_url(), agent.url);
    assert_eq!(
        link,
        format!(
            "tidemark://{}/?fp={}&token={}",
            agent.url.trim_start_matches("https://"),
            agent.fingerprint,
            parsed.token
        )
    );

    big_source(&tmp.path().join("root"), "docs", 8);
    let (status, job) = agent.call(
        "POST",
        "/api/v1/jobs",
        Some(&parsed.token),
        Some(agent.sync_spec("docs")),
    );
    assert_eq!(status, 201, "{job}");
    let id = job["id"].as_str().expect("id").to_owned();
    let (code, events, stderr) = watch_link(&link, &id);
    assert_eq!(code, Some(0), "{stderr}");
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "contiguous"
    );
    assert_eq!(events, events_of(&agent, &id));
    assert_eq!(events.last().map(|e| e.state), Some(JobState::Completed));

    let viewer: PairingLink = agent_command(tmp.path(), &["pair", "--read-only"])
        .parse()
        .expect("link");
    let ro = viewer.token.as_str();
    let (status, listed) = agent.call("GET", "/api/v1/jobs", Some(ro), None);
    assert_eq!(status, 200);
    assert_eq!(
        listed[0]["id"],
        id.as_str(),
        "a read-only token sees every job"
    );
    let (_, replayed, stderr) = watch_link(&viewer.to_string(), &id);
    assert_eq!(replayed, events, "{stderr}");
    for (method, path, body) in [
        (
            "POST",
            "/api/v1/jobs".to_owned(),
            Some(agent.sync_spec("docs")),
        ),
        ("POST", format!("/api/v1/jobs/{id}/pause"), None),
        ("POST", format!("/api/v1/jobs/{id}/resume"), None),
        ("POST", format!("/api/v1/jobs/{id}/cancel"), None),
    ] {
        let (status, v) = agent.call(method, &path, Some(ro), body);
        assert_eq!(
            (status, v["code"].as_str()),
            (403, Some("read_only")),
            "{path}"
        );
    }

    // Revoked: refused from the next request on, by the agent that is still running.
    agent_command(tmp.path(), &["token", "remove", "laptop"]);
    let (status, _) = agent.call("GET", "/api/v1/jobs", Some(&parsed.token), None);
    assert_eq!(status, 401);
    let (code, _, stderr) = watch_link(&link, &id);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("error[auth_failed]"), "{stderr}");
}

/// As SSH does with a changed host key: another certificate at the paired address is
/// refused, naming both fingerprints, until the user pairs again.
#[test]
fn another_certificate_at_the_paired_address_is_refused_naming_both_fingerprints() {
    let (first_dir, second_dir) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let first = start_agent(first_dir.path());
    let link = agent_command(first_dir.path(), &["pair"]);
    let address = first.url.trim_start_matches("https://").to_owned();
    let paired = first.fingerprint;
    drop(first);

    let second = start_agent_on(second_dir.path(), &address);
    assert_ne!(
        second.fingerprint, paired,
        "each agent makes its own certificate"
    );
    let (code, events, stderr) = watch_link(&link, "any-job");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(events.is_empty());
    assert!(
        stderr.contains("fingerprint")
            && stderr.contains(&paired.to_string())
            && stderr.contains(&second.fingerprint.to_string()),
        "{stderr}"
    );
    // A client pinned to the new certificate gets in.
    let resp = pinned_client(second.fingerprint)
        .get(format!("{}/api/v1/jobs", second.url))
        .bearer_auth(&second.token)
        .send()
        .expect("pinned to the right one");
    assert_eq!(resp.status().as_u16(), 200);
}

/// Half a request line, then nothing: such connections are dropped once the time for a
/// request's head is up, and one address cannot take every connection meanwhile.
#[test]
fn half_requests_are_dropped_and_one_address_holds_a_bounded_share() {
    let tmp = tempfile::tempdir().expect("tmp");
    let agent = start_agent_with(tmp.path(), &["--max-connections-per-address", "8"]);
    let addr = agent.url.trim_start_matches("https://").to_owned();
    let tls_config = tidemark_remote::tls::client_config(Some(agent.fingerprint))
        .expect("TLS config")
        .0;

    // Plain bytes and, after a finished handshake, half a request inside TLS.
    let mut plain: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).expect("connect");
            s.write_all(b"GET /api/v1/jo").expect("half a line");
            s
        })
        .collect();
    let mut tls: Vec<_> = (0..4)
        .map(|_| {
            let conn = rustls::ClientConnection::new(
                tls_config.clone(),
                "localhost".try_into().expect("name"),
            )
            .expect("client");
            let mut s = rustls::StreamOwned::new(conn, TcpStream::connect(&addr).expect("connect"));
            s.write_all(b"GET /api/v1/jo").expect("half a line");
            s.flush().expect("flush");
            s
        })
        .collect();

    // The ninth connection from this address is closed at once.
    let mut ninth = TcpStream::connect(&addr).expect("connect");
    ninth
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut byte = [0u8; 1];
    assert!(
        matches!(ninth.read(&mut byte), Ok(0) | Err(_)),
        "a connection past the bound is closed"
    );

    // All eight are dropped after the head timeout (10 s), none held for ever.
    let started = Instant::now();
    for s in &mut plain {
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    }
    for s in &mut tls {
        s.sock
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    }
    let held = started.elapsed();
    assert!(held < Duration::from_secs(25), "held for {held:?}");
    // Their slots are free again.
    let (status, _) = agent.call("GET", "/api/v1/jobs", Some(&agent.token), None);
    assert_eq!(status, 200);
}

/// An operator's own certificate from an authority the client's system trusts: given with
/// `--tls-cert`/`--tls-key`, accepted through the system's roots, no pin needed.
#[test]
fn a_certificate_from_a_trusted_authority_needs_no_pairing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Tidemark test authority");
    let ca =
        rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().expect("CA key"))
            .expect("CA");
    let key = rcgen::KeyPair::generate().expect("key");
    let leaf = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("params")
        .signed_by(&key, &ca)
        .expect("signed");
    let (ca_file, cert_file, key_file) = (
        tmp.path().join("authority.pem"),
        tmp.path().join("agent.pem"),
        tmp.path().join("agent.key"),
    );
    std::fs::write(&ca_file, ca.pem()).expect("write");
    std::fs::write(&cert_file, leaf.pem()).expect("write");
    std::fs::write(&key_file, key.serialize_pem()).expect("write");

    let (cert, key) = (cert_file.to_string_lossy(), key_file.to_string_lossy());
    let agent = start_agent_with(tmp.path(), &["--tls-cert", &cert, "--tls-key", &key]);
    assert_eq!(
        agent.fingerprint,
        tidemark_core::Fingerprint::of_der(leaf.der()),
        "the operator's certificate is served"
    );
    big_source(&tmp.path().join("root"), "docs", 2);
    let job = agent.admin("POST", "/api/v1/jobs", Some(agent.sync_spec("docs")));
    let id = job["id"].as_str().expect("id").to_owned();
    let token_file = tmp.path().join("token");
    std::fs::write(&token_file, &agent.token).expect("token");
    let watch = |authorities: &std::path::Path| {
        Command::new(bin())
            .args(["watch", "--agent", &agent.url, "--token-file"])
            .arg(&token_file)
            .args([&id, "--json"])
            // Where rustls-native-certs reads the system's roots from, as OpenSSL does.
            .env("SSL_CERT_FILE", authorities)
            .output()
            .expect("watch")
    };
    let trusted = watch(&ca_file);
    assert_eq!(
        trusted.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    let last = String::from_utf8_lossy(&trusted.stdout)
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<ProgressEvent>(l).ok())
        .expect("events");
    assert_eq!(last.state, JobState::Completed);
    // The same certificate, its authority not among the roots: refused, not retried.
    let untrusted = watch(&tmp.path().join("no-such-roots.pem"));
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert_eq!(untrusted.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error[certificate]"), "{stderr}");
}

/// `/metrics` is Prometheus' text format, as its parser reads it, for any token.
#[test]
fn metrics_parse_as_prometheus_text_and_count_open_streams() {
    let tmp = tempfile::tempdir().expect("tmp");
    let agent = start_agent(tmp.path());
    let viewer: PairingLink = agent_command(tmp.path(), &["pair", "--read-only"])
        .parse()
        .expect("link");
    big_source(&tmp.path().join("root"), "vault", 24);
    let job = agent.admin("POST", "/api/v1/jobs", Some(agent.sync_spec("vault")));
    let id = job["id"].as_str().expect("id").to_owned();
    agent.admin("POST", &format!("/api/v1/jobs/{id}/pause"), None);
    agent.wait_for(&id, JobState::Paused);

    let client = pinned_client(agent.fingerprint);
    let scrape = || {
        let resp = client
            .get(format!("{}/metrics", agent.url))
            .bearer_auth(&viewer.token)
            .send()
            .expect("metrics");
        assert_eq!(resp.status().as_u16(), 200);
        let text = resp.text().expect("text");
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        prometheus_parse::Scrape::parse(lines).expect("Prometheus text format")
    };
    let value = |scrape: &prometheus_parse::Scrape, name: &str, label: Option<(&str, &str)>| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
    };
    let open: Vec<_> = (0..2)
        .map(|_| {
            let resp = client
                .get(format!("{}/api/v1/jobs/{id}/progress/stream", agent.url))
                .bearer_auth(&agent.token)
                .send()
                .expect("stream");
            assert_eq!(resp.status().as_u16(), 200);
            resp
        })
        .collect();
    let now = scrape();
    assert!(
        now.samples
            .iter()
            .all(|s| s.metric.starts_with("tidemark_")),
        "{:?}",
        now.samples.iter().map(|s| &s.metric).collect::<Vec<_>>()
    );
    assert_eq!(value(&now, "tidemark_open_streams", None), Some(2.0));
    assert_eq!(
        value(&now, "tidemark_jobs", Some(("state", "paused"))),
        Some(1.0)
    );
    // A live job's percent, once it is known (a job paused at once may not know it yet).
    let progress = agent.admin("GET", &format!("/api/v1/jobs/{id}/progress"), None);
    assert_eq!(
        value(&now, "tidemark_job_percent", Some(("job", &id))),
        progress["percent"].as_f64()
    );
    assert!(
        now.samples.iter().any(|s| s
            .metric
            .starts_with("tidemark_http_request_duration_seconds")),
        "a latency histogram"
    );
    drop(open);
    agent.admin("POST", &format!("/api/v1/jobs/{id}/cancel"), None);
    agent.wait_for(&id, JobState::Cancelled);
    let deadline = Instant::now() + Duration::from_secs(10);
    while value(&scrape(), "tidemark_open_streams", None) != Some(0.0) {
        assert!(
            Instant::now() < deadline,
            "closed streams are still counted"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Each event goes to every watcher, so the agent's jobs send progress at most twice a
/// second; a step's change and the end are not held back.
#[test]
fn the_agents_jobs_send_progress_at_most_twice_a_second() {
    let tmp = tempfile::tempdir().expect("tmp");
    let agent = start_agent(tmp.path());
    // About 3 MB zstd cannot shrink, uploaded at 1 MB/s: seconds of counter updates.
    let src = tmp.path().join("root/site");
    for i in 0..4u64 {
        write(
            src.join(format!("page-{i}.bin")),
            &pseudo_random(800_000, i),
        );
    }
    let put = tidemark_tests::slow_put::SlowPut::start();
    let spec = serde_json::json!({
        "kind": "snapshot", "source": src, "destination": format!("{}/", put.url), "name": "site",
    });
    let job = agent.admin("POST", "/api/v1/jobs", Some(spec));
    let id = job["id"].as_str().expect("id").to_owned();
    agent.wait_for(&id, JobState::Completed);
    let events = events_of(&agent, &id);
    let at = |e: &ProgressEvent| {
        chrono_ms(&e.timestamp).unwrap_or_else(|| panic!("a timestamp: {}", e.timestamp))
    };
    let mut counter_updates = 0;
    for (i, pair) in events.windows(2).enumerate() {
        let (a, b) = (&pair[0], &pair[1]);
        // The last event of a step (its closing counters) goes out with the step's change.
        let closes_step = events.get(i + 2).is_none_or(|c| c.step != b.step);
        let items = |e: &ProgressEvent| e.items.iter().map(|i| i.state).collect::<Vec<_>>();
        let update = a.step == b.step
            && a.state == b.state
            && items(a) == items(b)
            && a.warnings.len() == b.warnings.len()
            && !closes_step;
        if update {
            counter_updates += 1;
            let gap = at(b) - at(a);
            assert!(
                gap >= 450,
                "{gap} ms between seq {} and {}: {:?} then {:?}",
                a.seq,
                b.seq,
                a.message,
                b.message
            );
        }
    }
    assert!(counter_updates > 0, "the job was long enough to send some");
}

/// Milliseconds since the epoch of an RFC 3339 timestamp.
fn chrono_ms(ts: &str) -> Option<i64> {
    Some(
        chrono::DateTime::parse_from_rfc3339(ts)
            .ok()?
            .timestamp_millis(),
    )
}
