//! The real transport: the progress stream with eventsource-client (its own reconnection
//! off: it hides connection errors, and counting them is the watcher's job), polling with
//! reqwest. Both speak TLS through the same rustls settings ([`crate::tls`]).

use std::sync::Arc;
use std::time::Duration;

use eventsource_client::{self as es, Client as _};
use futures_util::StreamExt;
use launchdarkly_sdk_transport::HyperTransport;
use tidemark_core::ProgressEvent;

use crate::endpoint::Endpoint;
use crate::tls::{self, PinCheck};
use crate::watcher::{Frame, FrameStream, Incoming, Transport, TransportError};

/// The comment the agent opens every progress stream with.
const HELLO: &str = "tidemark";

#[derive(Debug, Clone)]
pub struct Timeouts {
    pub connect: Duration,
    /// Longer than two of the agent's 15 s keep-alives: a quiet but healthy stream survives.
    pub read: Duration,
    /// One polling request.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            read: Duration::from_secs(35),
            request: Duration::from_secs(5),
        }
    }
}

/// An agent job reached over HTTP(S).
#[derive(Debug, Clone)]
pub struct HttpTransport {
    endpoint: Endpoint,
    job: String,
    timeouts: Timeouts,
    client: reqwest::Client,
    tls: Arc<rustls::ClientConfig>,
    pin: PinCheck,
}

impl HttpTransport {
    pub fn new(endpoint: &Endpoint, job: &str, timeouts: Timeouts) -> Result<Self, TransportError> {
        let (tls, pin) = tls::client_config(endpoint.pin).map_err(failed)?;
        let client = client(&tls, timeouts.connect, timeouts.request)?;
        Ok(Self {
            endpoint: endpoint.clone(),
            job: job.to_owned(),
            timeouts,
            client,
            tls,
            pin,
        })
    }

    /// The job's detail, spec included.
    pub async fn job(&self) -> Result<crate::RemoteJobDetail, TransportError> {
        let url = format!("{}/api/v1/jobs/{}", self.endpoint.base, self.job);
        self.get_json(&url, "job").await
    }

    /// GETs `url` and reads its JSON body (`what` names it in errors).
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        what: &str,
    ) -> Result<T, TransportError> {
        let resp = self
            .client
            .get(url)
            .bearer_auth(&self.endpoint.token)
            .send()
            .await
            .map_err(|e| send_error(&e, &self.pin, &self.endpoint))?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(by_status(status, &self.job));
        }
        resp.json()
            .await
            .map_err(|e| failed(format!("malformed {what}: {e}")))
    }
}

/// A reqwest client that trusts what `tls` trusts.
pub(crate) fn client(
    tls: &rustls::ClientConfig,
    connect: Duration,
    request: Duration,
) -> Result<reqwest::Client, TransportError> {
    reqwest::Client::builder()
        .use_preconfigured_tls(tls.clone())
        .connect_timeout(connect)
        .timeout(request)
        .build()
        .map_err(failed)
}

/// A request that failed before any answer: a refused certificate when the pinned client
/// was shown another one, else why the agent could not be reached.
pub(crate) fn send_error(e: &reqwest::Error, pin: &PinCheck, agent: &Endpoint) -> TransportError {
    mismatch(e, pin, agent)
        .or_else(|| tls::certificate_refused(e).map(TransportError::Untrusted))
        .or_else(|| pin.refused().map(TransportError::Untrusted))
        .unwrap_or_else(|| unreachable(e))
}

/// The fingerprint error, if `e` is a failed handshake with a certificate other than the
/// pinned one.
fn mismatch(
    e: &(dyn std::error::Error + 'static),
    pin: &PinCheck,
    agent: &Endpoint,
) -> Option<TransportError> {
    let (expected, actual) = pin.mismatch()?;
    tls::is_tls_error(e).then(|| TransportError::Fingerprint {
        agent: agent.authority().to_owned(),
        expected,
        actual,
    })
}

fn failed(e: impl std::fmt::Display) -> TransportError {
    TransportError::Failed(e.to_string())
}

/// A request that got no answer. reqwest's own message names only the URL; what a user can
/// act on (refused, timed out, unknown host) is at the end of its chain of causes.
pub(crate) fn unreachable(e: &reqwest::Error) -> TransportError {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    TransportError::Failed(if e.is_timeout() {
        "no answer in time".to_owned()
    } else if e.is_connect() {
        format!("cannot connect: {cause}")
    } else {
        format!("{e}: {cause}")
    })
}

fn by_status(status: u16, what: &str) -> TransportError {
    match status {
        401 | 403 => TransportError::Auth(format!("HTTP {status}")),
        404 => TransportError::NotFound(what.to_owned()),
        204 => TransportError::NoContent,
        s => TransportError::Failed(format!("HTTP {s}")),
    }
}

impl Transport for HttpTransport {
    async fn open(&self, after: u64) -> Result<FrameStream, TransportError> {
        let url = format!(
            "{}/api/v1/jobs/{}/progress/stream",
            self.endpoint.base, self.job
        );
        let mut builder = es::ClientBuilder::for_url(&url)
            .map_err(failed)?
            .header("Authorization", &format!("Bearer {}", self.endpoint.token))
            .map_err(failed)?
            .reconnect(es::ReconnectOptions::reconnect(false).build());
        if after > 0 {
            builder = builder.last_event_id(after.to_string());
        }
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*self.tls).clone())
            .https_or_http()
            .enable_http1()
            .build();
        let mut transport = HyperTransport::builder()
            .connect_timeout(self.timeouts.connect)
            .read_timeout(self.timeouts.read);
        if self.endpoint.is_https() {
            // The transport's proxy support tunnels to an https:// target without TLS (it has
            // no TLS settings of its own): the token would cross the proxy in clear and the
            // pin would never be checked. Straight to the agent, then.
            transport = transport.disable_proxy();
        }
        let transport = transport.build_with_connector(connector).map_err(failed)?;
        let mut stream = builder.build_with_transport(transport).stream();
        // The first item says how the server answered; anything but a 200 event stream is a
        // failed connection, whatever the client library thinks of it.
        let first = tokio::time::timeout(self.timeouts.connect * 2, stream.next())
            .await
            .map_err(|_| failed("no answer in time"))?;
        match first {
            Some(Ok(es::SSE::Connected(details))) => {
                let resp = details.response();
                if resp.status() != 200 {
                    return Err(by_status(resp.status(), &self.job));
                }
                let ct = resp
                    .get_header_value("content-type")
                    .ok()
                    .flatten()
                    .unwrap_or("");
                if !ct.starts_with("text/event-stream") {
                    return Err(failed(format!("not an event stream (content type {ct:?})")));
                }
            }
            Some(Ok(_)) => return Err(failed("the stream did not start with a response")),
            Some(Err(es::Error::UnexpectedResponse(resp, _))) => {
                return Err(by_status(resp.status(), &self.job));
            }
            Some(Err(e)) => {
                let refused = e
                    .source()
                    .and_then(|cause| mismatch(cause, &self.pin, &self.endpoint))
                    .or_else(|| self.pin.refused().map(TransportError::Untrusted));
                return Err(refused.unwrap_or_else(|| failed(e)));
            }
            None => return Err(failed("the connection closed at once")),
        }
        let frames = stream.filter_map(|item| async move {
            match item {
                Ok(es::SSE::Event(ev)) => {
                    let resync = ev.event_type == "resync";
                    Some(
                        serde_json::from_str::<ProgressEvent>(&ev.data)
                            .map(|event| Incoming::Frame(Box::new(Frame { resync, event })))
                            .map_err(|e| failed(format!("malformed event: {e}"))),
                    )
                }
                Ok(es::SSE::Comment(c)) if c.trim() == HELLO => Some(Ok(Incoming::Hello)),
                Ok(_) => None,
                Err(e) => Some(Err(failed(e))),
            }
        });
        Ok(Box::pin(frames))
    }

    async fn events_since(&self, since: u64) -> Result<Vec<ProgressEvent>, TransportError> {
        let url = format!(
            "{}/api/v1/jobs/{}/events?since={since}",
            self.endpoint.base, self.job
        );
        self.get_json(&url, "events").await
    }
}
