//! The page's sections for the rows measured against a goal of their own: ETA accuracy
//! (row 6), SSE fan-out (row 7) and the desktop app's memory (row 8).

use std::fmt::Write as _;

use super::*;

impl Report {
    pub(super) fn eta(&self, p: &mut String) {
        let _ = writeln!(p, "## 6. ETA accuracy\n");
        let _ = writeln!(
            p,
            "Pure computation: four synthetic speed profiles replayed through \
             `tidemark_core::eta::EtaEstimator` with explicit instants (no sleeping). The job \
             takes {base:.0} s at the base speed; the estimator is fed every {tick:.0} ms (the \
             reporter's default interval). \"Halfway\" is at 50 % of the work; the noisy profile \
             draws a new speed, uniform in 0.5–1.5× the base, every {noise:.0} s (fixed seed). \
             The error is |estimate − true remaining time| / true remaining time at 25, 50 and \
             75 % done: the mean over the ticks from each point to {window:.0} % of the work \
             further (so it does not hang on where one tick falls). The naive estimator is remaining work \
             / overall average rate. Goals: median error < {ETA_GOAL_PCT} %, and better than \
             naive on every profile.\n",
            base = eta_replay::BASE_SECS,
            tick = eta_replay::TICK_SECS * 1000.0,
            noise = eta_replay::NOISE_PERIOD_SECS,
            window = eta_replay::WINDOW * 100.0,
        );
        let _ = writeln!(
            p,
            "**As the reporter feeds it** — the exact percent of the job's work done (from \
             its byte and file counters, not the figure it shows):\n"
        );
        eta_table(p, &self.eta);
        let _ = writeln!(
            p,
            "**Fed the shown percent** — the same replay with the percent floored to 0.1 %, as \
             events carry it, to show what a coarser input costs:\n"
        );
        eta_table(p, &self.eta_floored);
        let _ = writeln!(
            p,
            "No estimator can foresee a change of speed: before the change both see a \
             constant speed, so at 25 % of the step profiles their errors are those of \
             extrapolating the first half, and at 50 % (just after the change) those of \
             extrapolating it while the new speed sets in. The 75 % point \
             shows how fast each follows the new speed. On the constant and noisy profiles \
             the speed never changes for good, so the overall average (the naive estimate) is \
             the steadiest there is: there Tidemark's estimator keeps to it, and \"equal\" is \
             the best it can do.\n"
        );
    }

    pub(super) fn eta_seeded(&self, p: &mut String) {
        use crate::eta_seeded::{CHECKPOINTS as AT, FILES, MB_PER_FILE, TICK_SECS};
        let _ = writeln!(p, "### Seeded from past runs: a plan's second run\n");
        let _ = writeln!(
            p,
            "Pure computation: a snapshot of {FILES} files of {MB_PER_FILE} MB (listing, \
             stat-ing, compressing; speed drawn anew every second, uniform in 0.7–1.3×) is \
             replayed through the core's `Reporter` on explicit instants, fed every {tick:.0} ms. \
             Its events, as the history keeps them, make the `EtaSeed` of a plan's second run \
             (`Store::eta_seed` reads the same events); the second run, changed as each row says, \
             is replayed through a reporter with that seed and one without. \"Done\" is the share \
             of the run's wall time behind it (a snapshot's percent is unknown while it lists \
             folders); the error is |ETA − true remaining time| / true remaining time, the mean \
             over the ticks from that point to 1 % of the run further, no estimate counting as \
             100 %. Goal: seeded median under {SEEDED_GOAL_PCT} % at 5 % done.\n",
            tick = TICK_SECS * 1000.0,
        );
        let _ = writeln!(
            p,
            "| second run | length | seeded at {a} | unseeded at {a} | seeded at {b} | unseeded at {b} |\n|---|---|---|---|---|---|",
            a = format!("{:.0} %", AT[0] * 100.0),
            b = format!("{:.0} %", AT[1] * 100.0),
        );
        for r in &self.eta_seeded {
            let _ = writeln!(
                p,
                "| {} | {} | {} | {} | {} | {} |",
                r.scenario.name,
                time(r.total_secs),
                pct(r.seeded[0]),
                pct(r.unseeded[0]),
                pct(r.seeded[1]),
                pct(r.unseeded[1]),
            );
        }
        let at5 = |f: fn(&crate::eta_seeded::SeededResult) -> Option<f64>| {
            let v: Vec<f64> = self
                .eta_seeded
                .iter()
                .map(|r| f(r).unwrap_or(100.0))
                .collect();
            median_of(&v).unwrap_or(f64::NAN)
        };
        let seeded = at5(|r| r.seeded[0]);
        let unseeded = at5(|r| r.unseeded[0]);
        let _ = writeln!(
            p,
            "\nMedian error at 5 % done: seeded **{seeded:.1} %**, unseeded {unseeded:.1} % \
             (goal < {SEEDED_GOAL_PCT} %: {}).\n",
            if seeded < SEEDED_GOAL_PCT {
                "met"
            } else {
                "**not met**"
            }
        );
        let _ = writeln!(
            p,
            "A seed knows the past runs' speed, not today's: where the second run is faster or \
             slower, the seeded figure is off by that factor until the run's own estimate, \
             whose weight grows with the share of the run behind it, takes over.\n"
        );
    }

    pub(super) fn fanout(&self, p: &mut String) {
        let _ = writeln!(p, "## 7. SSE fan-out\n");
        let _ = writeln!(
            p,
            "The real agent (`tidemark agent` on 127.0.0.1, port 0, its own database in the temp \
             folder) runs one snapshot of the tree above while N clients in the harness's process \
             follow `GET /api/v1/jobs/ID/progress/stream`, all with the admin token \
             (`--max-streams-per-token N+8`, `--max-connections-per-address N+8`), each on an \
             HTTPS connection of its own (TLS 1.3 to the agent's own certificate, pinned, as a \
             paired client's; served by hyper like every request). The agent's jobs send \
             progress at its default rate, one event every {} ms at most (steps and the end at \
             once). The job is paused until every stream is open, then \
             resumed: each event emitted after the resume, at every subscriber, is one sample of \
             **emit-to-receipt delay** = the time the client read it − the event's own \
             `timestamp` (set when the job emitted it; millisecond resolution, same clock). The \
             clients share the {} cores with the agent and the job, so the delay includes their \
             own scheduling. Agent peak RSS is `VmHWM` of /proc/PID/status at the end; beside it \
             `VmRSS` with the job paused before the first stream and with every stream open, \
             and what each open stream added. Goals: p99 < {FANOUT_P99_GOAL_MS} ms, agent RSS \
             < {FANOUT_RSS_GOAL_MIB} MB.\n",
            tidemark_agent::EMIT_INTERVAL.as_millis(),
            self.machine.cores
        );
        let _ = writeln!(
            p,
            "| subscribers | streams open at resume | reached the end | live events each | \
             samples | p50 | p99 | max | agent peak RSS | agent RSS: no stream → all open (each) | \
             job time after resume | goals |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for r in &self.fanout {
            match r {
                Ok(f) => {
                    let rss = f.agent_rss_kib.map(|k| k as f64 * 1024.0);
                    let met = match (f.p99_ms, rss) {
                        (Some(p99), Some(rss)) => {
                            let ok = p99 < FANOUT_P99_GOAL_MS
                                && rss < FANOUT_RSS_GOAL_MIB * 1024.0 * 1024.0
                                && f.completed == f.subscribers;
                            if ok { "**met**" } else { "**not met**" }
                        }
                        _ => "n/a",
                    };
                    let ms = |v: Option<f64>| {
                        v.map(|v| format!("{v:.0} ms"))
                            .unwrap_or_else(|| "n/a".into())
                    };
                    let open = match (f.rss_before_streams_kib, f.rss_streams_open_kib) {
                        (Some(before), Some(open)) => format!(
                            "{} → {} ({:.1} KiB)",
                            mib(before as f64 * 1024.0),
                            mib(open as f64 * 1024.0),
                            open.saturating_sub(before) as f64 / f.connected.max(1) as f64
                        ),
                        _ => "n/a".into(),
                    };
                    let _ = writeln!(
                        p,
                        "| {} | {} | {} | {} | {} | **{}** | **{}** | {} | **{}** | {open} | {} | \
                         {met}{} |",
                        group(f.subscribers as u64),
                        group(f.connected as u64),
                        group(f.completed as u64),
                        f.live_events,
                        group(f.latency_ms.map(|s| s.n as u64).unwrap_or(0)),
                        ms(f.latency_ms.map(|s| s.median)),
                        ms(f.p99_ms),
                        ms(f.latency_ms.map(|s| s.max)),
                        rss.map(mib).unwrap_or_else(|| "n/a".into()),
                        time(f.job_secs),
                        if f.failures.is_empty() {
                            String::new()
                        } else {
                            format!("; failures: {}", f.failures.join("; "))
                        }
                    );
                }
                Err(why) => {
                    let _ = writeln!(p, "| not measured: {why} | | | | | | | | | | | |");
                }
            }
        }
        let _ = writeln!(p);
    }

    pub(super) fn desktop(&self, p: &mut String) {
        let _ = writeln!(p, "## 8. Desktop app memory\n");
        let _ = writeln!(
            p,
            "The {} `tidemark-desktop` under a virtual X server (`xvfb-run -a \
             dbus-run-session -- tidemark-desktop`, `TIDEMARK_DB` in the temp folder): `VmRSS` \
             of /proc/PID/status of the app's process, and separately of the WebKit processes \
             under it (the window's page runs in those). **Idle**: the app started on its own, \
             with no job, read {} s after the start. **During a job**: a second start, through \
             WebDriver (tauri-driver and WebKitWebDriver), which {} s after the start fills in \
             the Jobs view's snapshot form with the data set above and clicks Start, as a person \
             would; the modal then follows the job's progress events. The processes are read \
             every {} ms until the modal shows the job's end, and once more {} s later. Goal: \
             idle < {DESKTOP_IDLE_GOAL_MIB} MB for the app's process.\n",
            self.build,
            desktop::SETTLE.as_secs(),
            desktop::SETTLE.as_secs(),
            desktop::SAMPLE_EVERY.as_millis(),
            desktop::AFTER.as_secs()
        );
        let _ = writeln!(
            p,
            "| what | tidemark-desktop | WebKit processes | all together | goal |\n|---|---|---|---|---|"
        );
        let kib = |k: u64| mib(k as f64 * 1024.0);
        let _ = match &self.desktop {
            Ok(d) => {
                let webkit: u64 = d.webkit.iter().map(|(_, k)| k).sum();
                let each = d
                    .webkit
                    .iter()
                    .map(|(n, k)| format!("{n} {}", kib(*k)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let met = (d.app_kib as f64) < DESKTOP_IDLE_GOAL_MIB * 1024.0;
                writeln!(
                    p,
                    "| idle, {:.0} s after the start | **{}** | {} ({}) | {} | idle < {} MB: **{}** |",
                    d.settled_secs,
                    kib(d.app_kib),
                    kib(webkit),
                    if each.is_empty() {
                        "none found".into()
                    } else {
                        each
                    },
                    kib(d.app_kib + webkit),
                    DESKTOP_IDLE_GOAL_MIB,
                    if met { "met" } else { "not met" }
                )
            }
            Err(why) => writeln!(p, "| idle | not measured: {why} | | | |"),
        };
        let _ = match &self.desktop_job {
            Ok(j) => writeln!(
                p,
                "| under WebDriver, just before the click on Start | **{}** ({} own) | | | |\n\
                 | during the job (largest of {} readings over {:.1} s; the modal ended \
                 `{}`) | **{}** ({} own) | {} | {} | |\n\
                 | {} s after the job's end | **{}** ({} own) | | | |\n\n\
                 \"own\" is `RssAnon`, the process's heap and stacks; the job runs in the app's \
                 process, so its buffers count there.\n",
                kib(j.before_kib),
                kib(j.anon_kib[0]),
                j.samples,
                j.job_secs,
                j.end_state,
                kib(j.app_peak_kib),
                kib(j.anon_kib[1]),
                kib(j.webkit_peak_kib),
                kib(j.app_peak_kib + j.webkit_peak_kib),
                desktop::AFTER.as_secs(),
                kib(j.after_kib),
                kib(j.anon_kib[2]),
            ),
            Err(why) => writeln!(p, "| during a job | not measured: {why} | | | |\n"),
        };
        if let Ok(d) = &self.desktop {
            let files = d
                .app_top_files
                .iter()
                .map(|(n, k)| format!("`{n}` {}", kib(*k)))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(
                p,
                "Of the app's {}: **{}** its own memory (`RssAnon`: heap, stacks) and {} pages of \
                 mapped files (`RssFile`: its binary and the libraries, shared with every other \
                 process that maps them). The files holding the most: {}.\n",
                kib(d.app_kib),
                kib(d.app_anon_kib),
                kib(d.app_file_kib),
                if files.is_empty() {
                    "not read".into()
                } else {
                    files
                }
            );
            if d.app_top_files
                .iter()
                .any(|(n, _)| n.starts_with("libLLVM"))
            {
                let _ = writeln!(
                    p,
                    "`libLLVM` is there for Mesa's software OpenGL (llvmpipe, in `swrast_dri.so`), \
                     which WebKitGTK's UI process loads to draw the page on a machine without a \
                     GPU driver, such as this virtual X server.\n"
                );
            }
        }
    }
}

/// One ETA table and its summary line.
fn eta_table(p: &mut String, results: &[ProfileResult]) {
    let heads: Vec<String> = CHECKPOINTS
        .iter()
        .map(|c| format!("{:.0} %", c * 100.0))
        .collect();
    let _ = writeln!(
        p,
        "| profile | job length | Tidemark at {h} | naive at {h} | Tidemark median | naive median | vs naive |\n|---|---|---|---|---|---|---|",
        h = heads.join(" / ")
    );
    let mut all_ours = Vec::new();
    let mut better = 0;
    let mut equal = Vec::new();
    let mut worse = Vec::new();
    for r in results {
        // No estimate counts as 100 % wrong.
        let ours: Vec<f64> = r.ours.iter().map(|e| e.unwrap_or(100.0)).collect();
        all_ours.extend_from_slice(&ours);
        let om = median_of(&ours).unwrap_or(f64::NAN);
        let nm = median_of(&r.naive).unwrap_or(f64::NAN);
        let cmp = if om < nm - 0.05 {
            better += 1;
            "better"
        } else if om > nm + 0.05 {
            worse.push(r.profile.name());
            "worse"
        } else {
            equal.push(r.profile.name());
            "equal"
        };
        let _ = writeln!(
            p,
            "| {} | {} | {} | {} | {om:.1} % | {nm:.1} % | {cmp} |",
            r.profile.name(),
            time(r.total_secs),
            r.ours
                .iter()
                .map(|e| pct(*e))
                .collect::<Vec<_>>()
                .join(" / "),
            r.naive
                .iter()
                .map(|e| pct(Some(*e)))
                .collect::<Vec<_>>()
                .join(" / "),
        );
    }
    let overall = median_of(&all_ours);
    let _ = writeln!(
        p,
        "\nMedian error of Tidemark's estimator over all {} points: **{}** (goal < {ETA_GOAL_PCT} %: \
         **{}**). Better than naive (median of a profile's three points) on **{better} of {}** \
         profiles{}{} (goal: better on every profile: **{}**).\n",
        all_ours.len(),
        pct(overall),
        if overall.is_some_and(|o| o < ETA_GOAL_PCT) {
            "met"
        } else {
            "not met"
        },
        results.len(),
        if equal.is_empty() {
            String::new()
        } else {
            format!(", equal on {}", equal.join(", "))
        },
        if worse.is_empty() {
            String::new()
        } else {
            format!(", worse on {}", worse.join(", "))
        },
        if better == results.len() {
            "met"
        } else {
            "not met"
        }
    );
}
