//! The broken-definitions corpus (`tests/broken/<NN-name>/`): one small native tree per
//! error class, valid except for that one problem (see each directory's `README`).
//!
//! For every tree: `validate` exits 3 (0 for the warnings-only tree), its stderr names the
//! right file and JSON path, and the whole report is snapshotted; `plan` refuses without
//! printing a plan; `graph` refuses too, except where the only problem is a missing script
//! (graph draws JSON-only trees and just warns).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::helpers::phoenix;

#[path = "broken_cases.rs"]
mod cases;
use cases::{CASES, LXC};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/broken")
}

/// The report with the tree's absolute path (should it appear) replaced by `[DEFS]`.
fn redact(text: &str, dir: &Path) -> String {
    text.replace(&dir.display().to_string(), "[DEFS]")
}

#[test]
fn every_corpus_tree_has_a_case_and_a_readme() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let in_table: BTreeSet<String> = CASES.iter().map(|c| c.dir.to_string()).collect();
    assert_eq!(on_disk, in_table, "tests/broken and the CASES table differ");
    for name in &on_disk {
        let dir = corpus().join(name);
        let readme = std::fs::read_to_string(dir.join("README"))
            .unwrap_or_else(|e| panic!("{name}/README: {e}"));
        assert_eq!(
            readme.trim_end().lines().count(),
            1,
            "{name}/README must be one line"
        );
        assert!(dir.join(LXC).is_file(), "{name} has no {LXC}");
        let host: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("phoenix_hypervisor_config.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(host["version"], "1", "{name}: hypervisor file");
        // Trees about host values need host sections.
        if !name.contains("warn") && !name.contains("host") {
            assert_eq!(
                host,
                serde_json::json!({"version": "1"}),
                "{name}: the hypervisor file stays minimal"
            );
        }
    }
}

#[test]
fn broken_trees_are_reported_and_refused() {
    let cache = tempfile::tempdir().unwrap();
    for case in CASES {
        let dir = corpus().join(case.dir);
        let name = case.dir;

        let out = phoenix()
            .defs(&dir)
            .cache(cache.path())
            .args(["validate"])
            .run();
        assert_eq!(
            out.code, case.code,
            "{name}: validate exit code\nstderr:\n{}",
            out.stderr
        );
        for want in case.expect {
            assert!(
                out.stderr.contains(want),
                "{name}: validate's stderr lacks {want:?}\nstderr:\n{}",
                out.stderr
            );
        }
        let errors = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .count();
        if case.code == 0 {
            assert_eq!(errors, 0, "{name}: {}", out.stderr);
            assert!(out.stdout.starts_with("ok: "), "{name}: {}", out.stdout);
        } else {
            assert!(errors >= 1, "{name}: {}", out.stderr);
            assert!(out.stdout.is_empty(), "{name}: {}", out.stdout);
            // Every error line is located: a definition file, then a path or line:column.
            for line in out.stderr.lines().filter(|l| l.starts_with("error: ")) {
                let rest = &line["error: ".len()..];
                assert!(
                    rest.starts_with("phoenix_") && rest.contains(".json: "),
                    "{name}: error without a file: {line}"
                );
            }
        }
        insta::assert_snapshot!(name, redact(&out.stderr, &dir));

        // plan: refuses without printing a plan (the warnings-only tree plans normally).
        let out = phoenix()
            .defs(&dir)
            .cache(cache.path())
            .args(["plan"])
            .run();
        assert_eq!(
            out.code, case.code,
            "{name}: plan exit code\nstdout:\n{}\nstderr:\n{}",
            out.stdout, out.stderr
        );
        if case.code == 0 {
            assert!(out.stdout.starts_with("plan: "), "{name}: {}", out.stdout);
            assert!(
                out.stderr.contains("warnings in the definitions"),
                "{name}: {}",
                out.stderr
            );
        } else {
            assert!(
                out.stdout.is_empty(),
                "{name}: plan printed something:\n{}",
                out.stdout
            );
            assert!(
                out.stderr.contains(case.expect[0]),
                "{name}: plan's stderr lacks {:?}\n{}",
                case.expect[0],
                out.stderr
            );
        }

        // graph: draws trees whose only problem is a missing script, with a warning.
        let out = phoenix()
            .defs(&dir)
            .cache(cache.path())
            .args(["graph"])
            .run();
        assert_eq!(
            out.code, case.graph,
            "{name}: graph exit code\nstdout:\n{}\nstderr:\n{}",
            out.stdout, out.stderr
        );
        if case.graph == 0 {
            assert!(out.stdout.contains("ct:950"), "{name}: {}", out.stdout);
            assert!(
                out.stderr
                    .contains("in the definitions (`phoenix validate` lists them)"),
                "{name}: graph does not mention the warnings\n{}",
                out.stderr
            );
            assert!(!out.stderr.contains("error"), "{name}: {}", out.stderr);
        } else {
            assert!(out.stdout.is_empty(), "{name}: {}", out.stdout);
        }
    }
    // Nothing may have been written to the state directory by refused commands.
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0);
}
