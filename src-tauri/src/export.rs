//! Saving a plan's runs to a file the user picks (CSV or JSON). The app makes the contents;
//! the shell asks where, and writes them whole or not at all.

use std::path::{Path, PathBuf};

use tauri::{AppHandle, Runtime};
use tidemark_app::{AppError, ExportFormat};
use tidemark_core::ErrorCode;

/// Asks where to save `contents` (`None`: the user cancelled), then writes it through a
/// temporary file beside the target, so a full disk never leaves half a file.
pub async fn save<R: Runtime>(
    handle: &AppHandle<R>,
    suggested: &str,
    format: ExportFormat,
    contents: String,
) -> Result<Option<String>, AppError> {
    let Some(path) = ask(handle, suggested, format).await? else {
        return Ok(None);
    };
    write_whole(&path, contents.as_bytes()).map_err(|e| {
        AppError::new(
            ErrorCode::Io,
            format!("cannot save {}: {e}", path.display()),
        )
    })?;
    Ok(Some(path.display().to_string()))
}

async fn ask<R: Runtime>(
    handle: &AppHandle<R>,
    suggested: &str,
    format: ExportFormat,
) -> Result<Option<PathBuf>, AppError> {
    use tauri::Manager;
    use tauri_plugin_dialog::DialogExt;
    if handle
        .try_state::<tauri_plugin_dialog::Dialog<R>>()
        .is_none()
    {
        return Err(AppError::new(ErrorCode::Io, "no file dialog here"));
    }
    let (ext, label) = match format {
        ExportFormat::Csv => ("csv", "CSV"),
        ExportFormat::Json => ("json", "JSON"),
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    handle
        .dialog()
        .file()
        .set_file_name(format!("{suggested}.{ext}"))
        .add_filter(label, &[ext])
        .save_file(move |picked| {
            let _gone = tx.send(picked.and_then(|p| p.into_path().ok()));
        });
    rx.await
        .map_err(|_| AppError::new(ErrorCode::Internal, "the file dialog went away"))
}

fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.partial"));
    let written = std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
