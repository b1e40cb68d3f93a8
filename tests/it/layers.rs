//! The dependency rule of DESIGN §8, checked over the source so it holds tomorrow:
//! dependencies point down the pipeline. The pure core (`defs`, `graph`, `key`,
//! `plan`) and the low layers (`state`, `inventory`, `fsutil`) never reach up into
//! `backend`, `exec`, `app` or the command line; backends never depend on the plan or
//! the executor.

use std::path::{Path, PathBuf};

/// (files under this path, may not name these top-level modules)
const RULES: &[(&str, &[&str])] = &[
    (
        "defs",
        &[
            "backend", "exec", "app", "cli", "pipeline", "plan", "report", "state",
        ],
    ),
    (
        "graph",
        &[
            "backend", "exec", "app", "cli", "pipeline", "plan", "report", "state",
        ],
    ),
    (
        "key",
        &[
            "backend", "exec", "app", "cli", "pipeline", "plan", "report", "state",
        ],
    ),
    (
        "plan",
        &["backend", "exec", "app", "cli", "pipeline", "report"],
    ),
    (
        "state",
        &[
            "backend", "exec", "app", "cli", "pipeline", "plan", "report",
        ],
    ),
    (
        "inventory.rs",
        &[
            "backend", "exec", "app", "cli", "pipeline", "plan", "report",
        ],
    ),
    (
        "fsutil.rs",
        &[
            "backend", "exec", "app", "cli", "pipeline", "plan", "report", "state",
        ],
    ),
    (
        "backend",
        &["plan", "exec", "app", "cli", "pipeline", "report", "state"],
    ),
    ("exec", &["app", "cli", "report"]),
];

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            rust_files(&entry.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// Every `crate::<module>` a file names in code (comments and doc links aside), with
/// its line number.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let module: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `use crate::{a, b}` names several modules at once.
            if module.is_empty() && after.starts_with('{') {
                let group = after[1..].split('}').next().unwrap_or("");
                for item in group.split(',') {
                    let m = item.trim().split("::").next().unwrap_or("").to_string();
                    out.push((n + 1, m));
                }
            } else {
                out.push((n + 1, module));
            }
            rest = after;
        }
    }
    out
}

#[test]
fn dependencies_point_down_the_pipeline() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut broken = Vec::new();
    let mut checked = 0;
    for (room, forbidden) in RULES {
        let mut files = Vec::new();
        rust_files(&src.join(room), &mut files);
        assert!(!files.is_empty(), "no source under src/{room}");
        for file in files {
            checked += 1;
            let text = std::fs::read_to_string(&file).unwrap();
            for (line, module) in crate_paths(&text) {
                if forbidden.contains(&module.as_str()) {
                    broken.push(format!(
                        "{}:{line}: src/{room} may not use crate::{module}",
                        file.strip_prefix(&src).unwrap().display()
                    ));
                }
            }
        }
    }
    assert!(checked > 20, "only {checked} files checked");
    assert!(
        broken.is_empty(),
        "dependencies pointing up:\n{}",
        broken.join("\n")
    );
}

/// Outside `defs` (which reads it) and `key` (which hashes every field of it), a
/// guest's JSON definition is only handed on whole (the script payload): values
/// are read from the typed fields, resolved once in `defs`.
#[test]
fn only_defs_and_keys_read_the_definition_by_field_name() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let by_name = [
        ".definition().get(",
        ".definition()[",
        ".definition().contains_key(",
        ".written.parse().get(",
    ];
    let mut broken = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        if rel.starts_with("defs") || rel.starts_with("key") {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if by_name.iter().any(|p| code.contains(p)) {
                broken.push(format!("{}:{}: {}", rel.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(files.len() > 50, "only {} files read", files.len());
    assert!(
        broken.is_empty(),
        "definition fields read by name outside defs and key (add a typed field in defs::settings):\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_checker_sees_every_form_of_crate_path() {
    let text = "use crate::backend::Backend;\nuse crate::{defs, exec::Run};\n\
                let x = crate::app::run(); // crate::cli in a comment\n";
    let found: Vec<String> = crate_paths(text).into_iter().map(|(_, m)| m).collect();
    assert_eq!(found, ["backend", "defs", "exec", "app"]);
}
