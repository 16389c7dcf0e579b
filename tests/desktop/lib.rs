//! The desktop end-to-end suite lives in `main.rs` and its modules; no library code here.
