//! What every real-LXC test shares: the tests' own network and the site that
//! holds real containers.
//!
//! The tests never use the demo's network (`lxcbr0`, 10.0.3.0/24, where
//! `sh scripts/quickstart.sh` builds the bundled definitions) nor its LXC path or
//! prefix (`/var/lib/lxc`, `phx-`): their containers sit on the bridge
//! [`BRIDGE`] with addresses in [`SUBNET`].0/24 (the host is [`GATEWAY`]), under an
//! LXC path of their own in a temporary directory, named with a prefix of their
//! own. `sh scripts/setup.sh --test-net` makes the bridge (as root; idempotent) and
//! `--remove-test-net` removes it; `scripts/test-all.sh` does both around the
//! tests. Without it (or root, the LXC tools, busybox) the tests skip, saying
//! why, except under `PHOENIX_REQUIRE_LXC=1` or `CI=true`, where they fail.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::MutexGuard;

use super::Site;

/// The tests' bridge.
pub const BRIDGE: &str = "phxtest0";
/// The tests' /24, without its last number.
pub const SUBNET: &str = "10.250.0";
/// The host's address on [`BRIDGE`], the guests' gateway.
pub const GATEWAY: &str = "10.250.0.1";

/// `10.250.0.<last>`.
pub fn addr(last: u8) -> String {
    format!("{SUBNET}.{last}")
}

/// `10.250.0.<last>:<port>`, for a connection from the host.
pub fn socket(last: u8, port: u16) -> String {
    format!("{SUBNET}.{last}:{port}")
}

fn run_ok(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether real containers can run here on the tests' network; says why not, or
/// fails where LXC is required.
pub fn lxc_ready() -> bool {
    let root = run_ok(Command::new("id").arg("-u")).is_some_and(|o| o.trim() == "0");
    let tools = phoenix::backend::lxc::Lxc::available();
    let busybox = Path::new("/bin/busybox").exists() || Path::new("/usr/bin/busybox").exists();
    let bridge = run_ok(Command::new("ip").args(["-4", "addr", "show", "dev", BRIDGE]))
        .is_some_and(|o| o.contains(&format!("inet {GATEWAY}/24")));
    if root && tools && busybox && bridge {
        return true;
    }
    let why = format!(
        "root={root} lxc-tools={tools} busybox={busybox} {BRIDGE}-with-{GATEWAY}/24={bridge}"
    );
    assert!(
        std::env::var("PHOENIX_REQUIRE_LXC").as_deref() != Ok("1")
            && std::env::var("CI").as_deref() != Ok("true"),
        "PHOENIX_REQUIRE_LXC=1 or CI=true, but LXC is not usable here: {why}; \
         run `sh scripts/setup.sh --test-net` as root"
    );
    eprintln!(
        "SKIPPED: real LXC tests need root, lxc, busybox and the test bridge {BRIDGE} \
         ({GATEWAY}/24) ({why}); run `sh scripts/setup.sh --test-net` as root \
         (scripts/test-all.sh does, and removes the bridge after)"
    );
    false
}

/// Rewrite a copy of the bundled definitions (every file: the JSON, the scripts
/// that check or call addresses between guests, the README) from the demo's
/// network to the tests': `lxcbr0` → [`BRIDGE`], `10.0.3.x` → `10.250.0.x`, and the
/// MAC addresses to a block of their own. Fails if anything of the demo's network
/// is left, so a new address in the bundled definitions cannot slip through.
pub fn to_test_net(defs: &Path) {
    let rules = [
        ("lxcbr0", BRIDGE.to_string()),
        ("10.0.3.", format!("{SUBNET}.")),
        ("10\\.0\\.3\\.", SUBNET.replace('.', "\\.") + "\\."),
        ("52:54:00:00:", "52:54:00:fa:".to_string()),
    ];
    for file in files(defs) {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let mut new = text.clone();
        for (from, to) in &rules {
            new = new.replace(from, to);
        }
        for left in ["lxcbr0", "10.0.3", "10\\.0\\.3"] {
            assert!(
                !new.contains(left),
                "{} still names `{left}` of the demo's network after the rewrite to {BRIDGE}: \
                 extend helpers::lxc::to_test_net",
                file.display()
            );
        }
        if new != text {
            std::fs::write(&file, new).unwrap();
        }
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A [`Site`] with an LXC path of its own, its containers named `<prefix><id>`;
/// everything in that LXC path is destroyed when it goes out of scope.
pub struct LxcSite {
    site: Site,
    pub lxcpath: PathBuf,
    pub prefix: String,
    /// Held until the containers are gone: real-LXC tests that share addresses
    /// run one at a time.
    _serial: Option<MutexGuard<'static, ()>>,
    /// The machine-wide lock of the tests with this prefix (see [`machine_lock`]),
    /// released last.
    _machine: std::fs::File,
}

/// Two test runs on one machine (a developer's `cargo test` while CI runs, say)
/// would build the same guests on the same addresses: the tests with one prefix
/// (one set of addresses) take a lock file of their own, so across processes
/// they run one at a time too (an advisory `flock`, dropped when the process
/// ends however it ends).
fn machine_lock(prefix: &str) -> std::fs::File {
    let path = std::env::temp_dir().join(format!("phoenix-lxc-tests-{prefix}lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if file.try_lock().is_err() {
        eprintln!(
            "waiting for another test run's real-LXC tests with the prefix {prefix} ({})",
            path.display()
        );
        file.lock()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    file
}

impl Deref for LxcSite {
    type Target = Site;
    fn deref(&self) -> &Site {
        &self.site
    }
}

impl LxcSite {
    /// The site `make` returns, with `--backend lxc`, an LXC path in the site's
    /// directory and `prefix`; `None` (after saying why) where LXC is not usable.
    /// `serial` is held for the site's life.
    pub fn new(
        prefix: &str,
        serial: Option<MutexGuard<'static, ()>>,
        make: impl FnOnce() -> Site,
    ) -> Option<LxcSite> {
        if !lxc_ready() {
            return None;
        }
        let machine = machine_lock(prefix);
        let site = make().jobs(4);
        // An unprivileged container's root (host uid 100000) must reach its
        // root filesystem: the temporary directory is 0700.
        open_to_containers(site.path());
        let lxcpath = site.path().join("lxc");
        std::fs::create_dir_all(&lxcpath).unwrap();
        let site = site
            .backend(["--backend", "lxc", "--prefix", prefix, "--lxcpath"])
            .backend([&lxcpath]);
        Some(LxcSite {
            site,
            lxcpath,
            prefix: prefix.to_string(),
            _serial: serial,
            _machine: machine,
        })
    }

    /// The containers in the site's LXC path, by name.
    pub fn containers(&self) -> Vec<String> {
        let out = Command::new("lxc-ls")
            .arg("-P")
            .arg(&self.lxcpath)
            .arg("-1")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    /// `<prefix><id>`.
    pub fn name(&self, id: u32) -> String {
        format!("{}{id}", self.prefix)
    }

    /// Run an lxc tool on one of the site's containers; its stdout and stderr.
    pub fn lxc(&self, tool: &str, name: &str, rest: &[&str]) -> String {
        let out = Command::new(tool)
            .arg("-P")
            .arg(&self.lxcpath)
            .args(["-n", name])
            .args(rest)
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// A command run inside a running container (`lxc-attach`); its output.
    /// A command that fails fails the test, with what it printed and the
    /// container's state: a test reading the command's effect afterwards would
    /// otherwise report only that the effect is missing.
    ///
    /// `lxc-attach` dying before it runs the command (liblxc failing to
    /// re-execute itself: "Failed to rexec as memfd", seen on these machines) is
    /// run again, twice at most, as phoenix runs such a step again.
    pub fn attach(&self, name: &str, cmd: &[&str]) -> String {
        let run = || {
            let out = Command::new("lxc-attach")
                .arg("-P")
                .arg(&self.lxcpath)
                .args(["-n", name, "--"])
                .args(cmd)
                .output()
                .unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            (out, text)
        };
        let mut attempt = run();
        for _ in 0..2 {
            let (out, text) = &attempt;
            let first = text.lines().next().unwrap_or("");
            if out.status.success() || !phoenix::backend::started_nothing(first) {
                break;
            }
            eprintln!("lxc-attach -n {name} died before running its command ({first}): again");
            attempt = run();
        }
        let (out, text) = attempt;
        assert!(
            out.status.success(),
            "lxc-attach -n {name} -- {} failed ({}): {text}\nstate: {}",
            cmd.join(" "),
            out.status,
            self.state(name).trim()
        );
        text
    }

    /// `RUNNING` or `STOPPED`, as `lxc-info -s` says.
    pub fn state(&self, name: &str) -> String {
        self.lxc("lxc-info", name, &["-s"])
    }
}

impl Drop for LxcSite {
    fn drop(&mut self) {
        for name in self.containers() {
            for args in [vec!["lxc-stop", "-k"], vec!["lxc-destroy"]] {
                let _ = Command::new(args[0])
                    .arg("-P")
                    .arg(&self.lxcpath)
                    .args(["-n", &name])
                    .args(&args[1..])
                    .output();
            }
        }
    }
}

/// Let every user search (not list) `dir`, as an unprivileged container's root
/// needs for the LXC path inside it.
pub fn open_to_containers(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir).unwrap().permissions().mode();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o011)).unwrap();
}

/// The memory limit and the CPU quota and period of a running container, read
/// from the host's cgroup files of its init (`/proc/<pid>/cgroup`): cgroup v2's
/// `memory.max`, `memory.swap.max` and `cpu.max`, else v1's
/// `memory.limit_in_bytes`, `memory.memsw.limit_in_bytes` (memory plus swap) and
/// the CFS quota and period. `v2` says which.
#[derive(Debug)]
pub struct Limits {
    pub v2: bool,
    pub memory: String,
    pub swap: Option<String>,
    pub cpu: String,
}

pub fn limits(site: &LxcSite, name: &str) -> Limits {
    let pid = site.lxc("lxc-info", name, &["-p", "-H"]);
    let pid = pid.trim();
    assert!(
        pid.bytes().all(|b| b.is_ascii_digit()) && !pid.is_empty(),
        "{name} has no init pid: {pid}"
    );
    let groups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let read = |p: PathBuf| {
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .trim()
            .to_string()
    };
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        let path = groups.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
        let dir = Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
        return Limits {
            v2: true,
            memory: read(dir.join("memory.max")),
            swap: Some(read(dir.join("memory.swap.max"))),
            cpu: read(dir.join("cpu.max")),
        };
    }
    let dir = |controller: &str| {
        let path = groups
            .lines()
            .find_map(|l| {
                let mut parts = l.splitn(3, ':');
                let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
                ctrls.split(',').any(|c| c == controller).then_some(path)
            })
            .unwrap_or_else(|| panic!("no {controller} cgroup in {groups}"));
        Path::new("/sys/fs/cgroup")
            .join(controller)
            .join(path.trim_start_matches('/'))
    };
    let memsw = dir("memory").join("memory.memsw.limit_in_bytes");
    Limits {
        v2: false,
        memory: read(dir("memory").join("memory.limit_in_bytes")),
        swap: memsw.exists().then(|| read(memsw)),
        cpu: format!(
            "{} {}",
            read(dir("cpu").join("cpu.cfs_quota_us")),
            read(dir("cpu").join("cpu.cfs_period_us"))
        ),
    }
}
