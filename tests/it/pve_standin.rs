//! The pve backend end to end, through stand-in `pct`, `qm` and `pvesh` executables
//! that check every argument against the Proxmox API schema and keep the host's
//! state in a directory (`tests/standin/pve-standin.py`).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::helpers::{Output, bundled_defs, phoenix, shared};

struct Host {
    _dir: tempfile::TempDir,
    defs: PathBuf,
    cache: PathBuf,
    state: PathBuf,
    bin: PathBuf,
    images: PathBuf,
    schema: PathBuf,
}

fn host() -> Option<Host> {
    let shared = shared()?;
    if std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "python3 is needed for the pve stand-ins"
        );
        eprintln!("SKIPPED: python3 not found; the pve stand-ins need it");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let defs = dir.path().join("defs");
    crate::e2e_lxc::copy_dir(&bundled_defs(), &defs);
    // Host steps run on this machine for real: make them harmless here.
    for step in ["network", "firewall"] {
        std::fs::write(
            defs.join(format!("features/host/{step}.sh")),
            format!("#!/bin/sh\necho host step {step} with $1\n"),
        )
        .unwrap();
    }
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let standin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standin/pve-standin.py");
    for tool in ["pct", "qm", "pvesh"] {
        std::os::unix::fs::symlink(&standin, bin.join(tool)).unwrap();
    }
    let images = dir.path().join("images");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::write(
        images.join("debian-12-genericcloud-amd64.qcow2"),
        b"not really an image",
    )
    .unwrap();
    let state = dir.path().join("pve");
    std::fs::create_dir_all(&state).unwrap();
    Some(Host {
        cache: dir.path().join("cache"),
        defs,
        state,
        bin,
        images,
        schema: shared.join("proxmox/pve-api-schema.json"),
        _dir: dir,
    })
}

impl Host {
    fn build(&self, args: &[&str]) -> Output {
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        phoenix()
            .defs(&self.defs)
            .cache(&self.cache)
            .env("PATH", &path)
            .env("PHOENIX_STANDIN_DIR", &self.state.display().to_string())
            .env("PHOENIX_STANDIN_SCHEMA", &self.schema.display().to_string())
            .env("PHOENIX_PVE_IMAGE_DIR", &self.images.display().to_string())
            .env("PHOENIX_RETRY_BACKOFF_MS", "10")
            .args(["--backend", "pve", "build", "--output", "json", "-j", "3"])
            .args(args)
            .run()
    }

    fn commands(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.state.join("commands.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn assert_no_violations(&self) {
        let v = std::fs::read_to_string(self.state.join("violations.log")).unwrap_or_default();
        assert!(v.is_empty(), "commands the Proxmox API would reject:\n{v}");
    }
}

fn summary(out: &Output) -> Value {
    let last = out
        .stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("no output\n{}", out.stderr));
    serde_json::from_str(last).unwrap()
}

#[test]
fn builds_through_the_real_backend_code_and_a_second_build_runs_nothing() {
    let Some(h) = host() else { return };
    let out = h.build(&["all"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let s = summary(&out);
    for (node, outcome) in s["nodes"].as_object().unwrap() {
        assert_eq!(outcome, "built", "{node}");
    }
    h.assert_no_violations();
    let cmds = h.commands();
    let has = |want: &[&str]| {
        cmds.iter()
            .any(|c| c.iter().map(String::as_str).collect::<Vec<_>>() == want)
    };
    assert!(has(&[
        "pct",
        "clone",
        "920",
        "950",
        "--snapname",
        "vllm-snapshot",
        "--hostname",
        "vllm-demo",
        "--full",
        "1",
        "--storage",
        "local-lvm"
    ]));
    assert!(has(&["qm", "template", "9000"]));
    assert!(
        cmds.iter().any(|c| c[0] == "qm"
            && c[1] == "guest"
            && c.last()
                .is_some_and(|x| x.rsplit('.').next() == Some("exit"))),
        "VM features are polled"
    );

    let before = h.commands().len();
    let out = h.build(&["all"]);
    assert_eq!(summary(&out)["steps_run"], 0);
    let after = h.commands();
    assert_eq!(
        after[before..],
        [vec![
            "pvesh",
            "get",
            "/cluster/resources",
            "--type",
            "vm",
            "--output-format",
            "json"
        ]],
        "a no-op build costs one inventory call"
    );

    // A memory change: one `pct set` for 950 and its firewall, nothing else.
    crate::build_sim::set_field(&h.defs, "950", "memory_mb", serde_json::json!(1536));
    let out = h.build(&["all"]);
    assert_eq!(summary(&out)["steps_run"], 1);
    let all = h.commands();
    let new: Vec<&Vec<String>> = all[after.len()..].iter().collect();
    assert!(
        new.iter().any(|c| c[0] == "pct"
            && c[1] == "set"
            && c[2] == "950"
            && c.contains(&"1536".to_string())),
        "{new:?}"
    );
    assert!(
        new.iter()
            .all(|c| c.get(2).is_none_or(|id| id == "950" || c[0] == "pvesh")),
        "{new:?}"
    );
    h.assert_no_violations();
}

#[test]
fn a_lock_error_is_retried_and_a_failure_resumes() {
    let Some(h) = host() else { return };
    // Two lock errors on 103's clone (retried), one failure of a command in 101.
    std::fs::write(
        h.state.join("fail"),
        "lock:pct clone 900 103 2\npct exec 101 -- env 1\n",
    )
    .unwrap();
    let out = h.build(&["all"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let s = summary(&out);
    assert_eq!(s["nodes"]["ct:103"], "built", "the lock error was retried");
    assert_eq!(s["nodes"]["ct:101"], "failed");
    assert_eq!(s["nodes"]["ct:102"], "skipped");
    assert_eq!(s["nodes"]["ct:950"], "built");
    let out = h.build(&["all"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(summary(&out)["nodes"]["ct:102"], "built");
    let clones_of_101 = h
        .commands()
        .iter()
        .filter(|c| c[..2] == ["pct", "clone"] && c[3] == "101")
        .count();
    assert_eq!(clones_of_101, 1, "101 resumed, it was not cloned again");
    h.assert_no_violations();
}

#[test]
fn hostile_values_reach_the_guest_as_data() {
    let Some(h) = host() else { return };
    let hostile = "'; rm -rf / $(touch /tmp/phoenix-pwned) \"q\"\nsecond line";
    crate::build_sim::set_field(
        &h.defs,
        "103",
        "bootstrap_ca_url",
        serde_json::json!(hostile),
    );
    std::fs::write(
        h.defs.join("features/lxc/base_setup.sh"),
        "#!/bin/sh\necho \"$2\"\n",
    )
    .unwrap();
    let out = h.build(&["103"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let exec = h
        .commands()
        .into_iter()
        .find(|c| {
            c[..3] == ["pct", "exec", "103"] && c.iter().any(|a| a.ends_with("base_setup.sh"))
        })
        .unwrap();
    assert_eq!(
        exec.last().unwrap(),
        hostile,
        "the value is one argument, unchanged"
    );
    assert!(!Path::new("/tmp/phoenix-pwned").exists());
}
