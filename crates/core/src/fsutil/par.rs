//! Per-path system calls on all cores, their results taken in order on one thread.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use crate::error::JobError;

/// How many items a worker of [`par_chunks`] takes at a time.
const PAR_CHUNK: usize = 512;

/// Runs `f` on every item on all cores, and hands the results to `take` on the calling
/// thread (which alone holds the reporter), one chunk at a time, in the items' order. A
/// scan's work per entry is a system call on a path: on a large tree those calls, not the
/// disk, are its time, and they run in parallel. An error from `take` (a cancel, say) stops
/// the workers after the chunk each is on.
pub fn par_chunks<T: Sync, R: Send, S>(
    items: &[T],
    state: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, &T) -> R + Sync,
    mut take: impl FnMut(Vec<R>) -> Result<(), JobError>,
) -> Result<(), JobError> {
    let serial = |take: &mut dyn FnMut(Vec<R>) -> Result<(), JobError>| {
        let mut st = state();
        items
            .chunks(PAR_CHUNK)
            .try_for_each(|chunk| take(chunk.iter().map(|t| f(&mut st, t)).collect()))
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if workers < 2 || items.len() <= PAR_CHUNK {
        return serial(&mut take);
    }
    let chunks: Vec<&[T]> = items.chunks(PAR_CHUNK).collect();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let priority = crate::platform::priority::inherit();
    std::thread::scope(|s| {
        // Bounded: while `take` waits (a pause), the workers soon wait too.
        let (tx, rx) = mpsc::sync_channel::<(usize, Vec<R>)>(workers * 2);
        let mut spawned = 0;
        for _ in 0..workers {
            let (tx, chunks, next, stop, f) = (tx.clone(), &chunks, &next, &stop, &f);
            let state = &state;
            let worker = std::thread::Builder::new().spawn_scoped(s, move || {
                priority.apply();
                let mut st = state();
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(chunk) = chunks.get(i) else { break };
                    if tx
                        .send((i, chunk.iter().map(|t| f(&mut st, t)).collect()))
                        .is_err()
                    {
                        break;
                    }
                }
            });
            // Out of threads: the ones that started do the work, or this one alone.
            spawned += usize::from(worker.is_ok());
        }
        drop(tx);
        if spawned == 0 {
            return serial(&mut take);
        }
        let mut early: std::collections::BTreeMap<usize, Vec<R>> = Default::default();
        let mut due = 0;
        let mut result = Ok(());
        'recv: for (i, out) in rx.iter() {
            early.insert(i, out);
            while let Some(out) = early.remove(&due) {
                due += 1;
                if let Err(e) = take(out) {
                    result = Err(e);
                    break 'recv;
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        // Dropping the receiver fails the send of a worker that was waiting on it.
        drop(rx);
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn parallel_chunks_come_back_whole_and_in_order() {
        let items: Vec<u64> = (0..(PAR_CHUNK as u64 * 9 + 7)).collect();
        let mut seen = Vec::new();
        par_chunks(
            &items,
            || (),
            |_, n| n * 2,
            |chunk| {
                seen.extend(chunk);
                Ok(())
            },
        )
        .expect("all taken");
        assert_eq!(seen, items.iter().map(|n| n * 2).collect::<Vec<_>>());
    }
    #[test]
    fn an_error_from_the_taker_stops_parallel_chunks() {
        let items: Vec<u64> = (0..(PAR_CHUNK as u64 * 50)).collect();
        let mut taken = 0;
        let err = par_chunks(
            &items,
            || (),
            |_, n| *n,
            |_| {
                taken += 1;
                if taken == 2 {
                    Err(JobError::Cancelled)
                } else {
                    Ok(())
                }
            },
        )
        .expect_err("stopped");
        assert_eq!(err.code(), ErrorCode::Cancelled);
        assert_eq!(taken, 2, "nothing is taken after the error");
    }
}
