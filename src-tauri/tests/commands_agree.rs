//! The IPC command list is written in four places that must agree: `build.rs` (a permission
//! per command), the invoke handler in `lib.rs`, the capability the windows get, and the UI's
//! `api.ts`. A command in one and not another is a command the webview cannot call, or one it
//! is allowed but nothing answers; this test names it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn here(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The text between `start` and the first `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str, file: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{file}: no {start:?}"))
        + start.len();
    let len = text[from..]
        .find(end)
        .unwrap_or_else(|| panic!("{file}: no {end:?} after {start:?}"));
    &text[from..from + len]
}

/// Every `"…"` literal in `text`.
fn quoted(text: &str) -> Vec<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// `build.rs`: the `COMMANDS` array.
fn declared(build_rs: &str) -> BTreeSet<String> {
    quoted(between(
        build_rs,
        "const COMMANDS: &[&str] = &[",
        "];",
        "build.rs",
    ))
    .into_iter()
    .collect()
}

/// `lib.rs`: the `commands::name` paths in `generate_handler![…]`.
fn handled(lib_rs: &str) -> BTreeSet<String> {
    between(lib_rs, "tauri::generate_handler![", "]", "lib.rs")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.rsplit("::").next().unwrap_or(s).to_owned())
        .collect()
}

/// The capability: its `allow-…` permissions (the app's own; `core:` ones are Tauri's).
fn allowed(capability: &str) -> BTreeSet<String> {
    let json: serde_json::Value = serde_json::from_str(capability).expect("capability JSON");
    json["permissions"]
        .as_array()
        .expect("a permissions array")
        .iter()
        .filter_map(|p| p.as_str())
        .filter_map(|p| p.strip_prefix("allow-"))
        .map(|p| p.replace('-', "_"))
        .collect()
}

/// `api.ts`: the first argument of every `call(…)` and `subscribe(…)` that is a literal,
/// with or without a type argument (`call<null>("cancel_job", …)`).
fn invoked(api_ts: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for head in ["call", "subscribe"] {
        for (at, _) in api_ts.match_indices(head) {
            let before = api_ts[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
                continue;
            }
            let mut rest = api_ts[at + head.len()..].trim_start();
            if let Some(generic) = rest.strip_prefix('<') {
                let Some(close) = generic.find(">(") else {
                    continue;
                };
                rest = &generic[close + 1..];
            }
            let Some(args) = rest.strip_prefix('(') else {
                continue;
            };
            let args = args.trim_start();
            if let Some(literal) = args.strip_prefix('"')
                && let Some(end) = literal.find('"')
            {
                names.insert(literal[..end].to_owned());
            }
        }
    }
    names
}

/// Names every command missing from one of the lists, with where it is and is not.
fn disagreements(lists: &[(&str, BTreeSet<String>)]) -> Vec<String> {
    let all: BTreeSet<&String> = lists.iter().flat_map(|(_, l)| l).collect();
    all.into_iter()
        .filter_map(|name| {
            let (has, lacks): (Vec<_>, Vec<_>) = lists.iter().partition(|(_, l)| l.contains(name));
            (!lacks.is_empty()).then(|| {
                let names = |v: Vec<&(&str, BTreeSet<String>)>| {
                    v.iter().map(|(f, _)| *f).collect::<Vec<_>>().join(", ")
                };
                format!("`{name}`: in {}; missing from {}", names(has), names(lacks))
            })
        })
        .collect()
}

#[test]
fn build_rs_the_handler_the_capability_and_api_ts_list_the_same_commands() {
    let lists = [
        ("src-tauri/build.rs", declared(&read(&here("build.rs")))),
        (
            "the invoke handler in src-tauri/src/lib.rs",
            handled(&read(&here("src/lib.rs"))),
        ),
        (
            "src-tauri/capabilities/default.json",
            allowed(&read(&here("capabilities/default.json"))),
        ),
        (
            "ui/src/lib/api.ts",
            invoked(&read(&here("../ui/src/lib/api.ts"))),
        ),
    ];
    for (file, list) in &lists {
        assert!(
            list.len() > 10,
            "{file}: only {list:?} found; is it still parsed right?"
        );
    }
    let wrong = disagreements(&lists);
    assert!(
        wrong.is_empty(),
        "the command lists disagree:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_parsers_find_what_each_file_says() {
    assert_eq!(
        declared("const COMMANDS: &[&str] = &[\n    \"a_b\",\n    \"c\",\n];"),
        BTreeSet::from(["a_b".to_owned(), "c".to_owned()])
    );
    assert_eq!(
        handled(".invoke_handler(tauri::generate_handler![\n commands::a_b,\n commands::c,\n ])"),
        BTreeSet::from(["a_b".to_owned(), "c".to_owned()])
    );
    assert_eq!(
        allowed(r#"{"permissions": ["core:event:allow-listen", "allow-a-b", "allow-c"]}"#),
        BTreeSet::from(["a_b".to_owned(), "c".to_owned()])
    );
    let api = r#"
        export async function call<T>(command: string) { return invoke<T>(command); }
        const x = { a: () => call("a_b", { id }), c: async (id) => void (await call<null>("c", { id })),
          s: (id, f) => subscribe("s_j", { id }, f), u: recall("not_me"), w: call(name) };
    "#;
    assert_eq!(
        invoked(api),
        BTreeSet::from(["a_b".to_owned(), "c".to_owned(), "s_j".to_owned()])
    );
    let lists = [
        ("one", BTreeSet::from(["a".to_owned(), "b".to_owned()])),
        ("two", BTreeSet::from(["a".to_owned()])),
    ];
    assert_eq!(
        disagreements(&lists),
        ["`b`: in one; missing from two".to_owned()]
    );
}
