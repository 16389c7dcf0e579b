// The one place components take the IPC types from: the bindings ts-rs generates from the
// Rust types (src-tauri side). Never edit ./bindings by hand.
import type { ErrorInfo } from "./bindings";

export type * from "./bindings";

/** What every failed command rejects with: the core's `{code, message}` (`AppError` in Rust). */
export type AppError = ErrorInfo;
