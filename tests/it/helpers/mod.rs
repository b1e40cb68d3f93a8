//! A small fluent helper around the real `phoenix` binary, and access to `../shared`.
//! [`Site`] is the test site most tests start from: a copy of some definitions, a
//! cache, and the backend arguments every command of the test gets.

#![allow(dead_code)]

mod defs;
mod events;
pub mod lxc;
mod site;

use std::path::{Path, PathBuf};
use std::process::Command;

pub use defs::{copy_dir, reordered_json, set_field, set_vm_field, update_json};
pub use site::Site;

/// `../shared` (or `PHOENIX_SHARED`). Without it, tests that need it skip with a
/// visible message, except when `PHOENIX_REQUIRE_SHARED=1` (CI), where they fail.
pub fn shared() -> Option<PathBuf> {
    let dir = std::env::var_os("PHOENIX_SHARED").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"),
        PathBuf::from,
    );
    if dir.join("fixtures").is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("PHOENIX_REQUIRE_SHARED").as_deref() != Ok("1"),
        "PHOENIX_REQUIRE_SHARED=1 but {} has no fixtures/",
        dir.display()
    );
    eprintln!(
        "SKIPPED: {} not found (set PHOENIX_SHARED to run this test)",
        dir.display()
    );
    None
}

/// The shared folder, or return from the test (after printing why).
#[macro_export]
macro_rules! require_shared {
    () => {
        match $crate::helpers::shared() {
            Some(dir) => dir,
            None => return,
        }
    };
}

pub fn fixture(name: &str) -> Option<PathBuf> {
    shared().map(|s| s.join("fixtures").join(name))
}

pub fn bundled_defs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("graph-defs")
}

#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    #[track_caller]
    pub fn success(self) -> Self {
        assert_eq!(
            self.code, 0,
            "phoenix failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn code(self, want: i32) -> Self {
        assert_eq!(
            self.code, want,
            "unexpected exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// `phoenix()` → builder → `.run()`.
pub struct Phoenix {
    cmd: Command,
}

pub fn phoenix() -> Phoenix {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_phoenix"));
    cmd.env_remove("PHOENIX_DEFS")
        .env_remove("PHOENIX_CACHE")
        .env_remove("PHOENIX_OUTPUT")
        .env_remove("PHOENIX_VERBOSE");
    Phoenix { cmd }
}

impl Phoenix {
    pub fn defs(mut self, dir: &Path) -> Self {
        self.cmd.arg("--defs").arg(dir);
        self
    }

    pub fn cache(mut self, dir: &Path) -> Self {
        self.cmd.arg("--cache").arg(dir);
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(mut self, args: I) -> Self {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env(k, v);
        self
    }

    /// The command as it stands, for a test that spawns it and kills it.
    pub fn command(self) -> Command {
        self.cmd
    }

    pub fn run(mut self) -> Output {
        let out = self.cmd.output().expect("run phoenix");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Copy the JSON files of `src` into a temporary directory and write a small script
/// for every script the definitions name (the fixtures ship JSON only).
pub fn defs_with_scripts(src: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_with_scripts(src, dir.path());
    dir
}

/// [`defs_with_scripts`] into an existing directory.
pub fn copy_with_scripts(src: &Path, to: &Path) {
    for entry in std::fs::read_dir(src).expect("read fixture") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) == Some("json") {
            std::fs::copy(&path, to.join(path.file_name().expect("name"))).expect("copy");
        }
    }
    write_missing_scripts(to);
}

pub fn write_missing_scripts(dir: &Path) {
    let (defs, _) = phoenix::defs::load(dir);
    let missing = phoenix::defs::checks::check_scripts(&defs, phoenix::defs::Severity::Error);
    for d in &missing.0 {
        let rel = d.message.split('`').nth(1).expect("script path in message");
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, format!("#!/bin/sh\n# stand-in for {rel}\nexit 0\n"))
            .expect("write script");
    }
}

/// Replace `old` by `new` in a file, asserting that `old` is there.
pub fn edit(path: &Path, old: &str, new: &str) {
    let text = std::fs::read_to_string(path).expect("read");
    assert!(
        text.contains(old),
        "{} does not contain {old:?}",
        path.display()
    );
    std::fs::write(path, text.replacen(old, new, 1)).expect("write");
}
