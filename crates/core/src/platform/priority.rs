//! Background jobs. A job's thread is lowered once; the threads it starts must follow. On
//! Linux they do by themselves (the nice value is per thread and a new thread starts with its
//! creator's). Elsewhere the priority is not inherited, so every thread the engines start
//! takes [`inherit`]'s token along and applies it first.

use std::cell::Cell;

thread_local! {
    static BACKGROUND: Cell<bool> = const { Cell::new(false) };
}

/// Lowers the calling thread's priority, for a job that must not slow its process's other
/// threads (the agent's API and progress streams) down. Failing leaves the job at normal
/// priority, which is slower for the others but not wrong.
pub(crate) fn lower_this_thread() {
    if !BACKGROUND.replace(true) {
        os_lower_this_thread();
    }
}

/// The calling thread's priority, for a thread it is about to start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Inherited(bool);

pub(crate) fn inherit() -> Inherited {
    Inherited(BACKGROUND.get())
}

impl Inherited {
    /// Called first thing in the new thread.
    pub(crate) fn apply(self) {
        if self.0 {
            if cfg!(target_os = "linux") {
                // Already lowered by the kernel; lowering again would add a second step.
                BACKGROUND.set(true);
            } else {
                lower_this_thread();
            }
        }
    }
}

/// How much nicer than its process a background job is on Linux.
#[cfg(target_os = "linux")]
const BACKGROUND_NICE: i32 = 10;

#[cfg(target_os = "linux")]
fn os_lower_this_thread() {
    use rustix::process::{getpriority_process, setpriority_process};
    // `None` is the calling thread on Linux, not the process.
    if let Ok(now) = getpriority_process(None) {
        let _ = setpriority_process(None, (now + BACKGROUND_NICE).min(19));
    }
}

/// macOS schedules by quality of service: "utility" is the class for long work the user
/// started but does not watch, below the default of the API's threads.
#[cfg(target_os = "macos")]
#[allow(unsafe_code)]
fn os_lower_this_thread() {
    // SAFETY: takes no pointers; it changes only the calling thread's class.
    let _ = unsafe { libc::pthread_set_qos_class_self_np(libc::qos_class_t::QOS_CLASS_UTILITY, 0) };
}

/// Background mode lowers the thread's CPU, I/O and memory priority together.
#[cfg(windows)]
#[allow(unsafe_code)]
fn os_lower_this_thread() {
    use windows_sys::Win32::System::Threading::{
        GetCurrentThread, SetThreadPriority, THREAD_MODE_BACKGROUND_BEGIN,
    };
    // SAFETY: the pseudo-handle of the current thread is always valid and needs no closing.
    let _ = unsafe { SetThreadPriority(GetCurrentThread(), THREAD_MODE_BACKGROUND_BEGIN) };
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
fn os_lower_this_thread() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_started_by_a_background_thread_is_background_too() {
        let child = std::thread::spawn(|| {
            lower_this_thread();
            let token = inherit();
            std::thread::spawn(move || {
                token.apply();
                BACKGROUND.get()
            })
            .join()
        });
        assert!(child.join().expect("thread").expect("grandchild"));
        assert!(!BACKGROUND.get(), "the test thread itself stays normal");
    }
}
