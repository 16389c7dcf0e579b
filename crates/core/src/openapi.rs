//! The schemas of a job spec's paths in the agent's API document, which say what the agent
//! checks: a path is absolute (a snapshot's destination may instead be an http(s) URL). By
//! hand, as `schema_with` functions, because utoipa takes a pattern only as a literal and the
//! pattern differs between platforms.

use utoipa::openapi::schema::{Array, ArrayBuilder, Object, ObjectBuilder, Type};

/// What an absolute path starts with: `/` on Unix; a drive and a separator, or two separators
/// (UNC), on Windows.
const ABSOLUTE: &str = if cfg!(windows) {
    r"([A-Za-z]:[\\/]|[\\/]{2})"
} else {
    "/"
};

/// An absolute path: no file system takes a NUL byte, and the agent refuses one.
fn absolute() -> String {
    format!(r"^{ABSOLUTE}[^\x00]*$")
}

fn path(description: &str, pattern: String) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .pattern(Some(pattern))
        .description(Some(description))
        .build()
}

pub(crate) fn snapshot_source() -> Object {
    path("The folder to archive: an absolute path.", absolute())
}

pub(crate) fn snapshot_destination() -> Object {
    path(
        "A local folder (an absolute path), or an `http(s)://` URL (ending in `/` for a \
         folder-like prefix).",
        // A URL is only checked when the job starts (it fails `invalid_url`).
        format!(r"^({ABSOLUTE}[^\x00]*|https?://[\s\S]*)$"),
    )
}

pub(crate) fn sync_sources() -> Array {
    let source = path("A folder to mirror: an absolute path.", absolute());
    ArrayBuilder::new()
        .items(source)
        .min_items(Some(1))
        .description(Some(
            "The folders to mirror, each into a folder of its name under the destination.",
        ))
        .build()
}

pub(crate) fn sync_destination() -> Object {
    path("The mirror's folder: an absolute path.", absolute())
}

pub(crate) fn restore_to() -> Object {
    path("The folder to restore into: an absolute path.", absolute())
}

/// A manifest to check against: absent or null (the one beside the archive), else an
/// absolute path or an `http(s)://` URL, as the archive.
pub(crate) fn manifest() -> Object {
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::String,
            Type::Null,
        ]))
        .min_length(Some(1))
        .pattern(Some(format!(r"^({ABSOLUTE}[^\x00]*|https?://[\s\S]*)$")))
        .description(Some(
            "The manifest to check against (an absolute path or an `http(s)://` URL); by \
             default `NAME.manifest.json` beside `NAME.tar.zst`, if there is one.",
        ))
        .build()
}

pub(crate) fn archive() -> Object {
    path(
        "The archive: a `.tar.zst` file (an absolute path) or an `http(s)://` URL.",
        format!(r"^({ABSOLUTE}[^\x00]*|https?://[\s\S]*)$"),
    )
}
