//! Schedules: a 5-field cron expression or the forms people type (`hourly`, `daily 02:00`,
//! `weekly mon 09:00`, `every 6h`), and when they are next due.
//!
//! Wall-clock forms and cron expressions are read in the given time zone, so a daylight-saving
//! change neither skips nor doubles a run: a time that does not exist that day (the spring
//! gap) runs at the first instant after the gap, and a time that happens twice (the autumn
//! overlap) runs at its first occurrence only. `every N` counts real time, aligned on the
//! Unix epoch (`every 6h` is due at 00:00, 06:00, … UTC), so every scheduler on a database
//! agrees on its due times without sharing state.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Utc};
use croner::Cron;

/// Why a schedule (or a duration) cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{text:?} is not a schedule: {reason} (write hourly, daily 02:00, weekly mon 09:00, every 6h, or a 5-field cron expression)"
)]
pub struct ScheduleError {
    pub text: String,
    pub reason: String,
}

/// A parsed schedule. Its `Display` is the text it was read from (trimmed).
#[derive(Debug, Clone)]
pub struct Schedule {
    text: String,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// A cron expression over local wall-clock time (the plain forms become one).
    Wall(Box<Cron>),
    /// Every so many seconds of real time.
    Every(i64),
}

/// How far a search for the next due time goes before giving up (a cron expression that
/// never matches, such as February 30th).
const MAX_STEPS: usize = 2_000;

impl Schedule {
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        let trimmed = text.trim();
        let bad = |reason: &str| ScheduleError {
            text: trimmed.to_owned(),
            reason: reason.to_owned(),
        };
        let lower = trimmed.to_ascii_lowercase();
        let words: Vec<&str> = lower.split_whitespace().collect();
        let cron = match words.as_slice() {
            [] => return Err(bad("it is empty")),
            ["hourly"] => "0 * * * *".to_owned(),
            ["daily"] => "0 0 * * *".to_owned(),
            ["daily", time] => {
                let (h, m) = clock_time(time).ok_or_else(|| bad("the time must be HH:MM"))?;
                format!("{m} {h} * * *")
            }
            ["weekly", day] | ["weekly", day, _] => {
                let dow = weekday(day).ok_or_else(|| bad("the day must be mon, tue, … sun"))?;
                let (h, m) = match words.get(2) {
                    Some(t) => clock_time(t).ok_or_else(|| bad("the time must be HH:MM"))?,
                    None => (0, 0),
                };
                format!("{m} {h} * * {dow}")
            }
            ["every", n] => {
                let secs = parse_duration(n)
                    .map_err(|_| bad("the interval must be a number and s, m, h or d"))?
                    .as_secs();
                if secs == 0 {
                    return Err(bad("the interval must be more than zero"));
                }
                let secs = i64::try_from(secs).map_err(|_| bad("the interval is too long"))?;
                return Ok(Schedule {
                    text: trimmed.to_owned(),
                    kind: Kind::Every(secs),
                });
            }
            fields if fields.len() == 5 => trimmed.to_owned(),
            _ => return Err(bad("unknown form")),
        };
        let parsed = Cron::from_str(&cron).map_err(|e| bad(&e.to_string()))?;
        let schedule = Schedule {
            text: trimmed.to_owned(),
            kind: Kind::Wall(Box::new(parsed)),
        };
        // An expression that never matches (31 February) is refused now, not at 2 a.m.
        if schedule.next_after(Utc::now(), &Utc).is_none() {
            return Err(bad("it never comes due"));
        }
        Ok(schedule)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first due time strictly after `after`, reading wall-clock times in `tz`; `None`
    /// if there is none within a few years.
    pub fn next_after<Tz: TimeZone>(&self, after: DateTime<Utc>, tz: &Tz) -> Option<DateTime<Utc>> {
        match &self.kind {
            Kind::Every(secs) => {
                let next = (after.timestamp().div_euclid(*secs) + 1).checked_mul(*secs)?;
                DateTime::from_timestamp(next, 0)
            }
            Kind::Wall(cron) => {
                let mut local = after.with_timezone(tz).naive_local();
                for _ in 0..MAX_STEPS {
                    let wall = cron.find_next_occurrence(&local, false).ok()?;
                    match instant_of(wall, tz) {
                        Some(t) if t > after => return Some(t),
                        // Its first occurrence has passed (the autumn overlap's second
                        // pass): it does not run twice.
                        _ => local = wall,
                    }
                }
                None
            }
        }
    }

    /// The newest due time at or before `now` (for a run that was missed: one run stands
    /// for every slot it missed).
    pub fn latest_at_or_before<Tz: TimeZone>(
        &self,
        now: DateTime<Utc>,
        tz: &Tz,
    ) -> Option<DateTime<Utc>> {
        match &self.kind {
            Kind::Every(secs) => {
                DateTime::from_timestamp(now.timestamp().div_euclid(*secs) * secs, 0)
            }
            Kind::Wall(cron) => {
                let mut local = now.with_timezone(tz).naive_local();
                let mut inclusive = true;
                for _ in 0..MAX_STEPS {
                    let wall = cron.find_previous_occurrence(&local, inclusive).ok()?;
                    if let Some(t) = instant_of(wall, tz).filter(|t| *t <= now) {
                        return Some(t);
                    }
                    local = wall;
                    inclusive = false;
                }
                None
            }
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The instant a wall-clock time stands for: its first occurrence when the clock passes it
/// twice, the end of the gap when the clock skips it.
fn instant_of<Tz: TimeZone>(wall: NaiveDateTime, tz: &Tz) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) => Some(t.to_utc()),
        LocalResult::Ambiguous(first, _) => Some(first.to_utc()),
        LocalResult::None => {
            // Gaps are whole minutes long in every zone in use: the first minute that exists
            // after the skipped time is where the clock landed.
            let mut probe = wall;
            for _ in 0..(26 * 60) {
                probe = probe.checked_add_signed(TimeDelta::minutes(1))?;
                let probe_floor = probe.date().and_hms_opt(
                    chrono::Timelike::hour(&probe),
                    chrono::Timelike::minute(&probe),
                    0,
                )?;
                match tz.from_local_datetime(&probe_floor) {
                    LocalResult::Single(t) => return Some(t.to_utc()),
                    LocalResult::Ambiguous(t, _) => return Some(t.to_utc()),
                    LocalResult::None => {}
                }
            }
            None
        }
    }
}

fn clock_time(text: &str) -> Option<(u32, u32)> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && (1..=2).contains(&text.find(':')?)).then_some((h, m))
}

fn weekday(text: &str) -> Option<u8> {
    const DAYS: [&str; 7] = [
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ];
    if text.len() < 3 {
        return None;
    }
    DAYS.iter()
        .position(|d| d.starts_with(text))
        .and_then(|i| u8::try_from(i).ok())
}

/// Why a duration cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a duration: write a number and s, m, h or d (30m, 4h, 3d)")]
pub struct DurationError(pub String);

/// `30s`, `30m`, `4h`, `3d` (also `1w`).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let t = text.trim().to_ascii_lowercase();
    let err = || DurationError(text.trim().to_owned());
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().map_err(|_| err())?;
    let unit_secs = match unit.trim() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3_600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 604_800,
        _ => return Err(err()),
    };
    n.checked_mul(unit_secs)
        .map(Duration::from_secs)
        .ok_or_else(err)
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
