//! Every form, bad input, and due times across both of Berlin's 2026 clock changes
//! (29 March 02:00 → 03:00, 25 October 03:00 → 02:00).

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Europe::Berlin;

use super::*;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("a test instant")
        .to_utc()
}

fn berlin(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Berlin
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .earliest()
        .expect("a Berlin time that exists")
        .to_utc()
}

fn next(s: &str, after: DateTime<Utc>) -> DateTime<Utc> {
    Schedule::parse(s)
        .expect("a schedule")
        .next_after(after, &Berlin)
        .expect("a due time")
}

/// The due times from `from`, `n` of them.
fn series(s: &str, from: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    let sched = Schedule::parse(s).expect("a schedule");
    let mut out = Vec::new();
    let mut t = from;
    for _ in 0..n {
        t = sched.next_after(t, &Berlin).expect("a due time");
        out.push(t);
    }
    out
}

#[test]
fn every_form_is_read() {
    let from = berlin(2026, 5, 6, 10, 17); // a Wednesday
    assert_eq!(next("hourly", from), berlin(2026, 5, 6, 11, 0));
    assert_eq!(next("HOURLY ", from), berlin(2026, 5, 6, 11, 0));
    assert_eq!(next("daily 02:00", from), berlin(2026, 5, 7, 2, 0));
    assert_eq!(next("daily 9:30", from), berlin(2026, 5, 7, 9, 30));
    assert_eq!(next("daily 23:59", from), berlin(2026, 5, 6, 23, 59));
    assert_eq!(next("daily", from), berlin(2026, 5, 7, 0, 0));
    assert_eq!(next("weekly mon 09:00", from), berlin(2026, 5, 11, 9, 0));
    assert_eq!(
        next("weekly wednesday 11:00", from),
        berlin(2026, 5, 6, 11, 0)
    );
    assert_eq!(next("weekly sun", from), berlin(2026, 5, 10, 0, 0));
    assert_eq!(next("*/15 * * * *", from), berlin(2026, 5, 6, 10, 30));
    assert_eq!(next("0 3 * * 1-5", from), berlin(2026, 5, 7, 3, 0));
    // Intervals count real time from the epoch: every scheduler agrees on them.
    let t = utc("2026-05-06T10:17:05Z");
    assert_eq!(next("every 6h", t), utc("2026-05-06T12:00:00Z"));
    assert_eq!(next("every 30m", t), utc("2026-05-06T10:30:00Z"));
    assert_eq!(next("every 30s", t), utc("2026-05-06T10:17:30Z"));
    assert_eq!(
        next("every 30s", utc("2026-05-06T10:17:30Z")),
        utc("2026-05-06T10:18:00Z")
    );
    assert_eq!(next("every 1d", t), utc("2026-05-07T00:00:00Z"));
    assert_eq!(
        Schedule::parse(" daily 02:00 ").expect("ok").to_string(),
        "daily 02:00"
    );
}

#[test]
fn bad_schedules_are_refused_with_a_reason() {
    for bad in [
        "",
        "   ",
        "daily 25:00",
        "daily 02:60",
        "daily 0200",
        "daily 002:00",
        "weekly funday 09:00",
        "weekly mo 09:00",
        "every",
        "every 0s",
        "every 5",
        "every 5y",
        "every -5m",
        "monthly",
        "* * * *",
        "* * * * * *",
        "61 * * * *",
        "0 0 30 2 *",
        "whenever",
    ] {
        let err = Schedule::parse(bad).expect_err(bad);
        assert!(
            err.to_string().contains("is not a schedule"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn durations_are_read() {
    assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
    assert_eq!(parse_duration("4h"), Ok(Duration::from_secs(4 * 3600)));
    assert_eq!(parse_duration("3d"), Ok(Duration::from_secs(3 * 86_400)));
    assert_eq!(
        parse_duration(" 2 days"),
        Ok(Duration::from_secs(2 * 86_400))
    );
    for bad in ["", "h", "3", "3x", "-3d", "99999999999999999999d"] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
}

#[test]
fn spring_forward_a_skipped_time_runs_once_at_the_end_of_the_gap() {
    // 02:30 does not exist on 29 March 2026 in Berlin: it runs at 03:00 CEST (01:00 UTC).
    let runs = series("daily 02:30", berlin(2026, 3, 27, 12, 0), 4);
    assert_eq!(
        runs,
        vec![
            berlin(2026, 3, 28, 2, 30),
            utc("2026-03-29T01:00:00Z"),
            berlin(2026, 3, 30, 2, 30),
            berlin(2026, 3, 31, 2, 30),
        ]
    );
    // Every quarter hour in the gap collapses into one run at its end; none is skipped
    // after it.
    let quarter = series("*/15 * * * *", berlin(2026, 3, 29, 1, 40), 4);
    assert_eq!(
        quarter,
        vec![
            berlin(2026, 3, 29, 1, 45),
            utc("2026-03-29T01:00:00Z"),
            berlin(2026, 3, 29, 3, 15),
            berlin(2026, 3, 29, 3, 30),
        ]
    );
    // Hourly: 01:00 CET, then 03:00 CEST (one real hour later), not twice.
    let hourly = series("hourly", berlin(2026, 3, 29, 0, 30), 3);
    assert_eq!(
        hourly,
        vec![
            utc("2026-03-29T00:00:00Z"),
            utc("2026-03-29T01:00:00Z"),
            utc("2026-03-29T02:00:00Z"),
        ]
    );
}

#[test]
fn fall_back_a_repeated_time_runs_once() {
    // 02:30 happens twice on 25 October 2026 (CEST, then CET): one run, at the first.
    let runs = series("daily 02:30", berlin(2026, 10, 24, 12, 0), 3);
    assert_eq!(
        runs,
        vec![
            utc("2026-10-25T00:30:00Z"),
            berlin(2026, 10, 26, 2, 30),
            berlin(2026, 10, 27, 2, 30),
        ]
    );
    // A scheduler started during the second pass (02:10 CET) does not run it again.
    assert_eq!(
        next("daily 02:30", utc("2026-10-25T01:10:00Z")),
        berlin(2026, 10, 26, 2, 30)
    );
    // Hourly through the change: 02:00 CEST, then 03:00 CET; the repeated 02:00 is not run.
    let hourly = series("hourly", utc("2026-10-24T23:30:00Z"), 3);
    assert_eq!(
        hourly,
        vec![
            utc("2026-10-25T00:00:00Z"),
            utc("2026-10-25T02:00:00Z"),
            utc("2026-10-25T03:00:00Z"),
        ]
    );
}

#[test]
fn the_latest_due_time_stands_for_every_missed_one() {
    let s = Schedule::parse("daily 02:00").expect("a schedule");
    assert_eq!(
        s.latest_at_or_before(berlin(2026, 5, 9, 8, 0), &Berlin),
        Some(berlin(2026, 5, 9, 2, 0))
    );
    assert_eq!(
        s.latest_at_or_before(berlin(2026, 5, 9, 2, 0), &Berlin),
        Some(berlin(2026, 5, 9, 2, 0))
    );
    assert_eq!(
        s.latest_at_or_before(berlin(2026, 5, 9, 1, 59), &Berlin),
        Some(berlin(2026, 5, 8, 2, 0))
    );
    let s = Schedule::parse("daily 02:30").expect("a schedule");
    assert_eq!(
        s.latest_at_or_before(berlin(2026, 3, 29, 9, 0), &Berlin),
        Some(utc("2026-03-29T01:00:00Z"))
    );
    assert_eq!(
        s.latest_at_or_before(utc("2026-10-25T01:40:00Z"), &Berlin),
        Some(utc("2026-10-25T00:30:00Z"))
    );
    let every = Schedule::parse("every 20s").expect("a schedule");
    assert_eq!(
        every.latest_at_or_before(utc("2026-05-06T10:17:59Z"), &Berlin),
        Some(utc("2026-05-06T10:17:40Z"))
    );
}
