// The one place components take the IPC types from: the bindings ts-rs generates from the
// Rust types (src-tauri side). Never edit ./bindings by hand.
export type * from "./bindings";
