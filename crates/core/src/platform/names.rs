//! Names one platform's files cannot hold, and names another platform cannot tell apart.
//! Plain string logic, so the rules for Windows are tested on every machine.

/// Why Windows cannot hold a file named `name`, if it cannot: a reserved device name (`CON`,
/// `nul`, `aux.txt`, `COM1.log`: the extension does not help), a trailing dot or space (the
/// Windows API drops them, so `a.` would be written as `a`), or a character the Windows API
/// refuses.
pub fn windows_problem(name: &str) -> Option<&'static str> {
    if name.ends_with('.') && name != "." && name != ".." {
        return Some("Windows drops a trailing dot from a file name");
    }
    if name.ends_with(' ') {
        return Some("Windows drops a trailing space from a file name");
    }
    if name
        .chars()
        .any(|c| matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*' | '\\') || c < ' ')
    {
        return Some("the name holds a character Windows does not allow");
    }
    // The device names are matched before the first dot, ignoring case and trailing spaces.
    let stem = name.split('.').next().unwrap_or(name).trim_end_matches(' ');
    let upper = stem.to_ascii_uppercase();
    let reserved = matches!(
        upper.as_str(),
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$"
    ) || ((upper.starts_with("COM") || upper.starts_with("LPT"))
        && upper[3..].chars().count() == 1
        && upper[3..]
            .chars()
            .all(|c| matches!(c, '1'..='9' | '¹' | '²' | '³')));
    reserved.then_some("the name is a device Windows reserves")
}

/// The key under which a case-insensitive file system (Windows, macOS by default) files a
/// name: two names with one key are one file there. Unicode's lower case is the usual
/// approximation of NTFS's and APFS's own tables.
pub fn case_key(name: &str) -> String {
    name.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_are_reserved_with_any_extension_and_case() {
        for name in [
            "CON",
            "con",
            "Nul",
            "aux.txt",
            "AUX.tar.gz",
            "com1",
            "LPT9.log",
            "COM¹",
        ] {
            assert!(windows_problem(name).is_some(), "{name}");
        }
        for name in [
            "CONSOLE",
            "aux_",
            "com0",
            "com10",
            "lpt",
            "nul-device.txt",
            "xaux",
        ] {
            assert_eq!(windows_problem(name), None, "{name}");
        }
    }

    #[test]
    fn trailing_dots_spaces_and_forbidden_characters_are_refused() {
        for name in [
            "trailing.",
            "space ",
            "a:b",
            "what?",
            "star*",
            "pipe|",
            "tab\t",
        ] {
            assert!(windows_problem(name).is_some(), "{name:?}");
        }
        for name in [
            ".hidden",
            "a.b.c",
            "with space.txt",
            "naïve",
            "日本語",
            "..x",
        ] {
            assert_eq!(windows_problem(name), None, "{name:?}");
        }
    }

    #[test]
    fn names_differing_only_in_case_share_a_key() {
        assert_eq!(case_key("README.md"), case_key("readme.MD"));
        assert_eq!(case_key("Ärger"), case_key("ärger"));
        assert_ne!(case_key("a"), case_key("b"));
    }
}
