//! `tidemark-bindings DIR`: writes the TypeScript bindings of the IPC types into DIR.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: tidemark-bindings DIR");
        return ExitCode::from(2);
    };
    match tidemark_app::bindings::write_all(&dir) {
        Ok(names) => {
            println!("wrote {} types to {}", names.len(), dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tidemark-bindings: cannot write {}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}
