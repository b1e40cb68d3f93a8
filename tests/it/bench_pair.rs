//! `scripts/bench-pair.py`, the paired runs the README's figures come from: run on
//! the real binary, its report read back.

use std::path::Path;
use std::process::Command;

use crate::helpers::bundled_defs;

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

fn bench_pair(args: &[&str]) -> Ran {
    bench_pair_in(Path::new("."), args)
}

/// [`bench_pair`], run from the directory `cwd`.
fn bench_pair_in(cwd: &Path, args: &[&str]) -> Ran {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/bench-pair.py");
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .current_dir(cwd)
        .env_remove("PHOENIX_LOG")
        .output()
        .expect("python3 runs (apt-get install -y python3)");
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A row's numbers: the medians of A and B and of their differences, then the
/// difference's quartiles.
fn numbers(report: &str, label: &str) -> Vec<f64> {
    let line = report
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no `{label}` row in:\n{report}"));
    line[label.len() + line.find(label).unwrap_or(0)..]
        .split(|c: char| c.is_whitespace() || matches!(c, '[' | ']' | ','))
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap_or_else(|_| panic!("`{w}` in `{line}`")))
        .collect()
}

/// The binary against itself, with its stages: both medians of every row are
/// real times (a run of `validate` reads the containers), each difference lies
/// between its quartiles, and the rounds are counted.
#[test]
fn paired_runs_report_medians_differences_and_stages() {
    let phoenix = env!("CARGO_BIN_EXE_phoenix");
    let defs = bundled_defs();
    let defs = defs.to_str().unwrap();
    let ran = bench_pair(&[
        "--runs", "3", "--warmup", "0", "--stages", phoenix, phoenix, "--", "validate", "--defs",
        defs,
    ]);
    assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
    assert!(ran.stdout.starts_with("3 rounds"), "{}", ran.stdout);
    for label in ["wall", "cpu (user + system)", "containers read"] {
        let n = numbers(&ran.stdout, label);
        assert_eq!(n.len(), 5, "{label}: {n:?}");
        assert!(n[0] > 0.0 && n[1] > 0.0, "{label}: {n:?}");
        assert!(n[3] <= n[2] && n[2] <= n[4], "{label}: {n:?}");
    }
    // Each binary's runs are its own, the same binary twice included: three
    // wall-time differences are not all one number.
    let wall = numbers(&ran.stdout, "wall");
    assert!(wall[3] < wall[4], "{wall:?}");
}

/// Bad arguments: exit 2 and the usage; a run that fails: exit 1 and its error;
/// `--help`: the description, exit 0.
#[test]
fn bad_arguments_and_failing_runs_stop_it() {
    let phoenix = env!("CARGO_BIN_EXE_phoenix");
    let help = bench_pair(&["--help"]);
    assert_eq!(help.code, 0, "{}", help.stderr);
    assert!(
        help.stdout.contains("Usage: scripts/bench-pair.py"),
        "{}",
        help.stdout
    );
    for args in [
        vec![phoenix, phoenix, "validate"],
        vec![phoenix, "--", "validate"],
        vec!["--runs", "1", phoenix, phoenix, "--", "validate"],
        vec!["--runs", "x", phoenix, phoenix, "--", "validate"],
        vec![phoenix, "/nonexistent/phoenix", "--", "validate"],
    ] {
        let ran = bench_pair(&args);
        assert_eq!(ran.code, 2, "{args:?}: {}{}", ran.stdout, ran.stderr);
        assert!(
            ran.stderr.contains("usage: bench-pair.py"),
            "{}",
            ran.stderr
        );
    }
    let ran = bench_pair(&[
        "--runs",
        "2",
        phoenix,
        phoenix,
        "--",
        "validate",
        "--defs",
        "/nonexistent/defs",
    ]);
    assert_eq!(ran.code, 1, "{}{}", ran.stdout, ran.stderr);
    assert!(
        ran.stderr.contains("definitions directory not found"),
        "{}",
        ran.stderr
    );
}

/// A binary named without a directory, as a file in the current directory, is
/// run from there: a shell would look the name up in `PATH` (where it is not),
/// and the script checked the file it then could not run.
#[test]
fn a_binary_named_without_a_directory_runs_from_the_current_one() {
    let phoenix = Path::new(env!("CARGO_BIN_EXE_phoenix"));
    let dir = phoenix.parent().expect("the binary's directory");
    let name = phoenix
        .file_name()
        .and_then(|n| n.to_str())
        .expect("its name");
    let defs = bundled_defs();
    let ran = bench_pair_in(
        dir,
        &[
            "--runs",
            "2",
            "--warmup",
            "0",
            name,
            name,
            "--",
            "validate",
            "--defs",
            defs.to_str().unwrap(),
        ],
    );
    assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.contains(&format!("A = {name}, B = {name}")),
        "{}",
        ran.stdout
    );
}
