//! The real binary on nasty files: clean, located errors, never a panic or an echo
//! of a huge input.

use super::{HYP, LXC, MIN_HOST, MIN_LXC, VM, write_tree};
use crate::helpers::phoenix;

/// The start of a possibly huge output, for assertion messages.
fn head(text: &str) -> String {
    text.chars().take(2000).collect()
}

#[test]
fn nasty_files_are_clean_errors() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_in_guest = format!(
        r#"{{"lxc_configs": {{"900": {{"name": "a", "template": "t", "x": {}{}}}}}}}"#,
        "{\"a\":".repeat(10_000),
        "1".to_string() + &"}".repeat(10_000)
    );
    let huge_string = format!("\"{}\"", "a".repeat(10 * 1024 * 1024));
    let nasty: Vec<(&str, Vec<u8>)> = vec![
        ("empty file", Vec::new()),
        ("[]", b"[]".to_vec()),
        ("null", b"null".to_vec()),
        ("BOM only", b"\xef\xbb\xbf".to_vec()),
        (
            "invalid UTF-8",
            b"{\"lxc_configs\": {\"900\": {\"name\": \"\xff\xfe\"}}}".to_vec(),
        ),
        ("NUL bytes", b"\0\0\0\0".to_vec()),
        (
            "1e400",
            b"{\"lxc_configs\": {\"900\": {\"memory_mb\": 1e400}}}".to_vec(),
        ),
        ("10 MB string", huge_string.into_bytes()),
        ("10,000 nested arrays", deep.into_bytes()),
        (
            "10,000 nested objects in a guest",
            deep_in_guest.into_bytes(),
        ),
    ];
    for file in [LXC, VM, HYP] {
        for (what, bytes) in &nasty {
            let dir = tempfile::tempdir().unwrap();
            write_tree(dir.path(), MIN_HOST, MIN_LXC, None);
            std::fs::write(dir.path().join(file), bytes).unwrap();
            for cmd in ["validate", "plan", "graph"] {
                let out = phoenix()
                    .defs(dir.path())
                    .cache(&dir.path().join("cache"))
                    .args([cmd])
                    .run();
                assert_eq!(
                    out.code, 3,
                    "{what} as {file}: `{cmd}` exit code\nstderr:\n{}",
                    out.stderr
                );
                let first = out.stderr.lines().next().unwrap_or_default();
                assert!(
                    first.starts_with(&format!("error: {file}")),
                    "{what} as {file}: `{cmd}` does not name the file\nstderr:\n{}",
                    head(&out.stderr)
                );
                assert!(
                    out.stderr.len() < 4096,
                    "{what} as {file}: `{cmd}` printed {} bytes of stderr",
                    out.stderr.len()
                );
                assert!(!out.stderr.contains("panicked"), "{what}: {}", out.stderr);
            }
        }
    }
}

/// A 10 MB hostname is an error, located, that does not echo the 10 MB back.
#[test]
fn huge_hostname_is_not_echoed_back() {
    let huge_name = format!(
        r#"{{"lxc_configs": {{"900": {{"name": "{}", "template": "t"}}}}}}"#,
        "a".repeat(10 * 1024 * 1024)
    );
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path(), MIN_HOST, &huge_name, None);
    let out = phoenix().defs(dir.path()).args(["validate"]).run();
    let start = head(&out.stderr);
    assert_eq!(out.code, 3, "{start}");
    assert!(
        out.stderr
            .contains("phoenix_lxc_configs.json: lxc_configs.900.name"),
        "{start}"
    );
    assert!(
        out.stderr.len() < 4096,
        "a 10 MB hostname is echoed back: {} bytes of stderr",
        out.stderr.len()
    );
}
