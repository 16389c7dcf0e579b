//! The agent's metrics, served at `/metrics` in Prometheus' text format: what streams and
//! requests do is counted as it happens; the jobs are read from the history and the running
//! jobs at each scrape, so the numbers are never stale and nothing is kept per job.

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use axum::http::Method;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tidemark_core::JobState;

/// What `/metrics` answers with.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Every metric's name starts with this and `_`.
const PREFIX: &str = "tidemark";

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct JobLabel {
    job: String,
}

/// The metrics kept while the agent runs.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    open_streams: Gauge,
    events_sent: Counter,
    requests: Latencies,
}

type Latencies = Family<RequestLabels, Histogram, fn() -> Histogram>;

/// What a scrape reads from the jobs.
#[derive(Debug, Default)]
pub struct JobsNow {
    /// Jobs in the history by state (states no job is in may be left out).
    pub by_state: Vec<(JobState, u64)>,
    /// Each live job's id and percent, where it is known.
    pub percents: Vec<(String, f64)>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix(PREFIX);
        let open_streams = Gauge::default();
        registry.register(
            "open_streams",
            "Progress streams open now",
            open_streams.clone(),
        );
        let events_sent = Counter::default();
        registry.register(
            "events_sent",
            "Progress events sent on streams (a stored event replayed counts too)",
            events_sent.clone(),
        );
        // 1 ms to about 16 s: the API answers in milliseconds; a stream's head waits on the
        // history, which may be busy for its 5 s timeout.
        let requests: Latencies =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 15)));
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request (a stream: to send its head), by method and status",
            requests.clone(),
        );
        Metrics {
            registry,
            open_streams,
            events_sent,
            requests,
        }
    }

    /// Counts a stream as open until the guard is dropped.
    pub(crate) fn stream_opened(&self) -> OpenStream {
        self.open_streams.inc();
        OpenStream(self.open_streams.clone())
    }

    pub(crate) fn event_sent(&self) {
        self.events_sent.inc();
    }

    pub(crate) fn request(&self, method: &Method, status: u16, took: Duration) {
        let labels = RequestLabels {
            method: method_label(method),
            status,
        };
        self.requests
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// The text a scrape answers: the kept metrics, then the jobs as `now` found them.
    pub fn render(&self, now: &JobsNow) -> Result<String, fmt::Error> {
        let mut scrape = Registry::with_prefix(PREFIX);
        let jobs = Family::<StateLabel, Gauge>::default();
        for state in ALL_STATES {
            let n = now
                .by_state
                .iter()
                .find(|(s, _)| *s == state)
                .map_or(0, |(_, n)| *n);
            jobs.get_or_create(&StateLabel {
                state: state.as_str(),
            })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        scrape.register("jobs", "Jobs in the history, by state", jobs);
        let percents = Family::<JobLabel, Gauge<f64, AtomicU64>>::default();
        for (job, percent) in &now.percents {
            percents
                .get_or_create(&JobLabel { job: job.clone() })
                .set(*percent);
        }
        scrape.register(
            "job_percent",
            "How far each running (or paused) job is, 0 to 100; jobs whose total is not known yet are left out",
            percents,
        );
        let mut text = String::new();
        prometheus_text::encode(&mut text, &scrape)?;
        prometheus_text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

const ALL_STATES: [JobState; 7] = [
    JobState::Queued,
    JobState::Running,
    JobState::Paused,
    JobState::Completed,
    JobState::Failed,
    JobState::Cancelled,
    JobState::Interrupted,
];

/// A method as a label: any other than the usual ones is `other`, so a client making up
/// methods cannot grow the metrics without bound.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// A progress stream counted as open while this lives.
#[derive(Debug)]
pub(crate) struct OpenStream(Gauge);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, start: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(start))
    }

    #[test]
    fn a_scrape_shows_jobs_streams_events_and_requests() {
        let m = Metrics::new();
        let a = m.stream_opened();
        let b = m.stream_opened();
        drop(a);
        m.event_sent();
        m.event_sent();
        m.request(&Method::GET, 200, Duration::from_millis(3));
        m.request(
            &Method::from_bytes(b"BREW").expect("a method"),
            404,
            Duration::ZERO,
        );
        let now = JobsNow {
            by_state: vec![(JobState::Running, 2), (JobState::Completed, 5)],
            percents: vec![("j1".into(), 41.5)],
        };
        let text = m.render(&now).expect("render");
        assert_eq!(
            line(&text, "tidemark_open_streams "),
            Some("tidemark_open_streams 1")
        );
        assert_eq!(
            line(&text, "tidemark_events_sent_total "),
            Some("tidemark_events_sent_total 2")
        );
        assert_eq!(
            line(&text, "tidemark_jobs{state=\"running\"}"),
            Some("tidemark_jobs{state=\"running\"} 2")
        );
        assert_eq!(
            line(&text, "tidemark_jobs{state=\"paused\"}"),
            Some("tidemark_jobs{state=\"paused\"} 0"),
            "every state is shown, none missing"
        );
        assert_eq!(
            line(&text, "tidemark_job_percent{"),
            Some("tidemark_job_percent{job=\"j1\"} 41.5")
        );
        assert!(
            text.contains(
                "tidemark_http_request_duration_seconds_count{method=\"GET\",status=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("method=\"other\",status=\"404\""), "{text}");
        assert!(
            text.lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .all(|l| l.starts_with("tidemark_")),
            "every metric is tidemark_…: {text}"
        );
        drop(b);
        let text = m.render(&JobsNow::default()).expect("render");
        assert_eq!(
            line(&text, "tidemark_open_streams "),
            Some("tidemark_open_streams 0")
        );
    }
}
