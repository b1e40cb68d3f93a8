//! [`Site`]: where one test runs phoenix. A temporary directory holding a copy of the
//! definitions (`defs/`) and a cache (`cache/`), plus the backend arguments and
//! environment every command of the test gets. The sim, LXC, pve stand-in and ssh
//! tests add their own parts (a sim directory, an LXC path, stand-in tools, an sshd)
//! as small wrappers around it.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use phoenix::defs::Severity;
use phoenix::state::{NodeRecord, StateDir};
use serde_json::Value;

use super::{Output, Phoenix, bundled_defs, copy_dir, copy_with_scripts, fixture, phoenix};

pub struct Site {
    dir: tempfile::TempDir,
    /// The definitions this site's commands get (`--defs`).
    pub defs: PathBuf,
    /// The cache this site's commands get (`--cache`).
    pub cache: PathBuf,
    /// Global arguments before the subcommand: `--backend sim --sim-dir ...`.
    backend: Vec<OsString>,
    env: Vec<(String, OsString)>,
    /// `build`'s `-j`, if the site sets one.
    jobs: Option<u32>,
}

impl Site {
    /// Nothing in `defs/` yet: the test writes its own definitions.
    pub fn empty() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let defs = dir.path().join("defs");
        std::fs::create_dir_all(&defs).unwrap();
        Site {
            cache: dir.path().join("cache"),
            defs,
            dir,
            backend: Vec::new(),
            env: Vec::new(),
            jobs: None,
        }
    }

    /// A copy of the bundled definitions (`graph-defs/`).
    pub fn bundled() -> Site {
        let site = Site::empty();
        copy_dir(&bundled_defs(), &site.defs);
        site
    }

    /// A copy of one of the shared fixture sets, with a stand-in for every script it
    /// names; `None` (after saying why) where `../shared` is missing.
    pub fn fixture(name: &str) -> Option<Site> {
        let src = fixture(name)?;
        let site = Site::empty();
        copy_with_scripts(&src, &site.defs);
        Some(site)
    }

    /// The site's own directory, for the parts a test adds.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Global arguments for every command, e.g. `["--backend", "sim"]`.
    pub fn backend<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.backend
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// An environment variable for every command.
    pub fn env(mut self, k: &str, v: impl Into<OsString>) -> Self {
        self.env.push((k.to_string(), v.into()));
        self
    }

    /// `-j` for every `build`.
    pub fn jobs(mut self, n: u32) -> Self {
        self.jobs = Some(n);
        self
    }

    /// `phoenix` with this site's definitions, cache, backend and environment.
    pub fn phoenix(&self) -> Phoenix {
        let mut p = phoenix()
            .defs(&self.defs)
            .cache(&self.cache)
            .args(&self.backend);
        for (k, v) in &self.env {
            p = p.env(k, v);
        }
        p
    }

    /// `build --output json [-j N] ARGS`, whatever its exit code.
    pub fn build(&self, args: &[&str]) -> Output {
        let jobs = self.jobs.map(|n| ["-j".to_string(), n.to_string()]);
        self.phoenix()
            .args(["build", "--output", "json"])
            .args(jobs.iter().flatten())
            .args(args)
            .run()
    }

    /// `plan --output json TARGETS`, which must succeed.
    pub fn plan(&self, targets: &[&str]) -> Value {
        self.phoenix()
            .args(["plan", "--output", "json"])
            .args(targets)
            .run()
            .success()
            .json()
    }

    /// Record every node as built with its current keys, as a build would.
    pub fn record_all_built(&self) {
        let loaded = phoenix::pipeline::load(&self.defs, Severity::Error);
        assert!(!loaded.diags.has_errors(), "{:?}", loaded.diags);
        let state = StateDir::new(&self.cache);
        let assessed = phoenix::pipeline::assess(&loaded, &[], &state).unwrap();
        for (node, keys) in &assessed.keys {
            state
                .write(&node.slug(), &NodeRecord::built(&node.to_string(), keys))
                .unwrap();
        }
    }
}
