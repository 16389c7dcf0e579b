//! The desktop app without Tauri: one plain function per IPC command on [`App`], settings,
//! the notification policy. `src-tauri` adapts these in a few lines each.

#[cfg(feature = "ts")]
pub mod bindings;
pub mod types;
