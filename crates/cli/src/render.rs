//! Terminal renderings of a job's events: progress bars for people, plain lines for logs,
//! JSON lines for programs. Each is a `ProgressSink`.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{HumanBytes, HumanDuration, MultiProgress, ProgressBar, ProgressStyle};
use tidemark_core::{
    EtaSource, ItemState, JobState, ProgressEvent, ProgressSink, SinkClosed, Step,
};

pub struct JsonLines<W: Write + Send> {
    out: W,
}

impl JsonLines<io::Stdout> {
    pub fn stdout() -> Self {
        Self { out: io::stdout() }
    }
}

impl<W: Write + Send> ProgressSink for JsonLines<W> {
    fn deliver(&mut self, event: &Arc<ProgressEvent>) -> Result<(), SinkClosed> {
        let line = serde_json::to_string(event.as_ref()).map_err(|_| SinkClosed)?;
        writeln!(self.out, "{line}")
            .and_then(|()| self.out.flush())
            .map_err(|_| SinkClosed)
    }
}

/// One line per step change, for output that is not a terminal.
pub struct Lines<W: Write + Send> {
    out: W,
    last: Option<(Step, bool)>,
}

impl Lines<io::Stderr> {
    pub fn stderr() -> Self {
        Self {
            out: io::stderr(),
            last: None,
        }
    }
}

impl<W: Write + Send> ProgressSink for Lines<W> {
    fn deliver(&mut self, ev: &Arc<ProgressEvent>) -> Result<(), SinkClosed> {
        // Queued -> running within one step is not news; a pause is.
        let shape = (ev.step, ev.state == JobState::Paused);
        if self.last == Some(shape) || ev.is_terminal() {
            return Ok(());
        }
        self.last = Some(shape);
        // Writing to a closed stderr is not worth stopping the job for.
        let _ignored = writeln!(
            self.out,
            "[{}/{}] {}",
            ev.step_number,
            ev.total_steps,
            if ev.state == JobState::Paused {
                "Paused".to_string()
            } else {
                ev.step.label().to_string()
            }
        );
        Ok(())
    }
}

pub struct Bars {
    multi: MultiProgress,
    main: ProgressBar,
    rows: Vec<ProgressBar>,
}

impl Bars {
    pub fn new() -> Self {
        let multi = MultiProgress::new();
        let main = multi.add(ProgressBar::new(1000));
        main.set_style(
            ProgressStyle::with_template("{prefix:>14} [{bar:30.cyan/blue}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("█▉▊▋▌▍▎▏ "),
        );
        main.enable_steady_tick(Duration::from_millis(200));
        Self {
            multi,
            main,
            rows: Vec::new(),
        }
    }

    fn row_style() -> ProgressStyle {
        ProgressStyle::with_template("  {prefix:>12} [{bar:30.green/white}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("█▉▊▋▌▍▎▏ ")
    }
}

impl ProgressSink for Bars {
    fn deliver(&mut self, ev: &Arc<ProgressEvent>) -> Result<(), SinkClosed> {
        self.main.set_prefix(format!(
            "{}/{} {}",
            ev.step_number,
            ev.total_steps,
            ev.step.label()
        ));
        self.main
            .set_position(ev.percent.map(|p| (p * 10.0) as u64).unwrap_or(0));
        self.main.set_message(status_line(ev));
        while self.rows.len() < ev.items.len() {
            let bar = self.multi.add(ProgressBar::new(1000));
            bar.set_style(Self::row_style());
            self.rows.push(bar);
        }
        for (bar, item) in self.rows.iter().zip(&ev.items) {
            let icon = match item.state {
                ItemState::Pending => "○",
                ItemState::Running => "⟳",
                ItemState::Done => "✓",
                ItemState::Failed => "✗",
            };
            bar.set_prefix(format!("{icon} {}", item.name));
            let frac = match (item.counters.bytes_total, item.counters.total) {
                (Some(b), _) if b > 0 => item.counters.bytes_done as f64 / b as f64,
                (_, Some(t)) if t > 0 => item.counters.processed as f64 / t as f64,
                _ if item.state == ItemState::Done => 1.0,
                _ => 0.0,
            };
            bar.set_position((frac * 1000.0) as u64);
            let counts = match item.counters.total {
                Some(t) => format!("{}/{} files", item.counters.processed, t),
                None => "…".to_string(),
            };
            let msg = match &item.error {
                Some(e) => format!("{counts} · {}", e.message),
                None => format!("{counts} · {}", HumanBytes(item.counters.bytes_done)),
            };
            bar.set_message(msg);
        }
        if ev.is_terminal() {
            // `abandon` keeps each bar where it is: a failed row must not show as full.
            self.main.abandon();
            for bar in &self.rows {
                bar.abandon();
            }
        }
        Ok(())
    }
}

fn status_line(ev: &ProgressEvent) -> String {
    let mut parts = vec![match ev.percent {
        Some(p) => format!("{p:.1}%"),
        None => "…".to_string(),
    }];
    parts.push(ev.message.clone());
    if let Some(bt) = ev.counters.bytes_total {
        parts.push(format!(
            "{}/{}",
            HumanBytes(ev.counters.bytes_done),
            HumanBytes(bt)
        ));
    } else if ev.counters.bytes_done > 0 {
        parts.push(HumanBytes(ev.counters.bytes_done).to_string());
    }
    if let Some(rate) = ev.rate_per_sec {
        parts.push(rate_text(ev, rate));
    }
    if ev.state == JobState::Running {
        let left = |s: f64| HumanDuration(Duration::from_secs_f64(s));
        match (ev.eta_seconds, ev.eta_source, ev.percent) {
            // Past runs only: an estimate, and said to be one.
            (Some(s), Some(EtaSource::History), _) => {
                parts.push(format!("about {} left (from past runs)", left(s)));
            }
            (Some(s), _, _) => parts.push(format!("~{} left", left(s))),
            (None, _, Some(_)) => parts.push("estimating…".to_string()),
            (None, _, None) => {}
        }
    }
    parts.join(" · ")
}

/// The core measures a step's speed in what the step counts: bytes once it counts any (or
/// knows their total), files before that (a scan, a walk).
fn rate_text(ev: &ProgressEvent, rate: f64) -> String {
    if ev.counters.bytes_total.is_some() || ev.counters.bytes_done > 0 {
        format!("{}/s", HumanBytes(rate as u64))
    } else {
        format!("{rate:.0} files/s")
    }
}

/// What a person reads once the job has ended (stderr, so `--json` output stays clean).
pub fn summary(end: &ProgressEvent) {
    for w in &end.warnings {
        say!("warning: {}: {}", w.path, w.message);
    }
    match (&end.state, &end.error) {
        (JobState::Completed, _) => {
            say!(
                "✓ {} → {}",
                end.message,
                end.result_url.as_deref().unwrap_or("?")
            );
        }
        (JobState::Cancelled, _) => say!("✗ cancelled: nothing half-written was left behind"),
        (_, Some(err)) => say!("error[{}]: {}", err.code, err.message),
        _ => say!("error: the job ended as {}", end.state.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_core::JobKind;

    fn running(step: Step, bytes_done: u64, bytes_total: Option<u64>) -> ProgressEvent {
        let mut ev = ProgressEvent::blank("j", JobKind::Sync, 4);
        ev.state = JobState::Running;
        ev.step = step;
        ev.counters.processed = 1200;
        ev.counters.bytes_done = bytes_done;
        ev.counters.bytes_total = bytes_total;
        ev.rate_per_sec = Some(1500.0);
        ev
    }

    #[test]
    fn the_rate_is_shown_in_what_the_step_counts() {
        // A scan counts files: 1500 a second is not "1.46 KiB/s".
        let scan = status_line(&running(Step::Scanning, 0, None));
        assert!(scan.contains("1500 files/s"), "{scan}");
        assert!(!scan.contains("B/s"), "{scan}");
        let copy = status_line(&running(Step::Copying, 4096, Some(1 << 20)));
        assert!(copy.contains("1.46 KiB/s"), "{copy}");
        assert!(!copy.contains("files/s"), "{copy}");
    }
}
