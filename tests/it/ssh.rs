//! The pve backend over a real ssh connection: a private `sshd` on a free port of
//! 127.0.0.1 (its own host key, client key and config in a temporary directory), and
//! a client config handed to phoenix through `PHOENIX_SSH_CONFIG`. The unit tests in
//! `runner.rs` only feed the quoted command line to a local `sh -c`; here it crosses
//! sshd and the remote login shell.
//!
//! Needs `/usr/sbin/sshd` and root (sshd logs in as root); elsewhere the tests skip
//! and say so, except under `CI=true`, where they fail.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use phoenix::backend::Log;
use phoenix::backend::pve::commands::Cmd;
use phoenix::backend::pve::runner::{Runner, SSH_CONFIG_ENV, SshTarget};
use serde_json::Value;

use crate::helpers::{Output, Site, shared};

const SSHD: &str = "/usr/sbin/sshd";

/// A private sshd, killed on drop.
struct Sshd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    /// A connection that ssh calls reuse (`ControlPath`), if started.
    master: Option<Child>,
}

/// Print why a test cannot run here, or fail under CI, which installs what it needs.
fn skip(why: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but {why}"
    );
    eprintln!("SKIPPED: {why}");
}

impl Sshd {
    /// Start one whose sessions get the variables `env` (`SetEnv`; the remote login
    /// shell still reads root's `.bashrc`), or `None` after saying why this machine
    /// cannot.
    fn start(env: &[(&str, &str)]) -> Option<Sshd> {
        if !Path::new(SSHD).exists() {
            skip(&format!(
                "{SSHD} not found (apt-get install openssh-server, or run scripts/setup.sh)"
            ));
            return None;
        }
        if std::fs::metadata("/proc/self").map(|m| m.uid()).ok() != Some(0) {
            skip("the ssh tests start an sshd that logs in as root; run them as root");
            return None;
        }
        // sshd refuses to start without its privilege separation directory.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        for key in ["host_key", "client_key"] {
            let ok = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(d.join(key))
                .status()
                .unwrap()
                .success();
            assert!(ok, "ssh-keygen failed");
        }
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        let mut config = format!(
            "ListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
             StrictModes no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nUsePAM no\nPidFile none\nMaxStartups 100\nMaxSessions 100\n",
            d = d.display()
        );
        if !env.is_empty() {
            let pairs: Vec<String> = env.iter().map(|(k, v)| format!("\"{k}={v}\"")).collect();
            config += &format!("SetEnv {}\n", pairs.join(" "));
        }
        std::fs::write(d.join("sshd_config"), config).unwrap();
        // No Port here: it must come from `--host`.
        std::fs::write(
            d.join("ssh_config"),
            format!(
                "IdentityFile {}/client_key\nIdentitiesOnly yes\nStrictHostKeyChecking no\n\
                 UserKnownHostsFile /dev/null\nLogLevel ERROR\nControlPath {}/mux-%r@%h:%p\n",
                d.display(),
                d.display()
            ),
        )
        .unwrap();
        // A free port can be taken between probing and binding: try a few.
        for _ in 0..3 {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let log = std::fs::File::create(d.join("sshd.log")).unwrap();
            let mut child = Command::new(SSHD)
                .args(["-D", "-e", "-f"])
                .arg(d.join("sshd_config"))
                .args(["-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap();
            if listening(&mut child, port) {
                return Some(Sshd {
                    child,
                    port,
                    dir,
                    master: None,
                });
            }
            let _ = child.kill();
            let _ = child.wait();
            eprintln!(
                "sshd on port {port} did not start:\n{}",
                std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default()
            );
        }
        panic!("sshd did not start (see above)");
    }

    /// Open one connection that later ssh calls run their sessions in. Without it
    /// every call is a login, which costs a key exchange and the remote login shell's
    /// start-up; the build test makes hundreds. Users can do the same in their
    /// `PHOENIX_SSH_CONFIG` (`ControlMaster auto`, `ControlPersist`).
    fn multiplex(&mut self) {
        let master = Command::new("ssh")
            .arg("-F")
            .arg(self.client_config())
            .args(["-M", "-N", "-o", "BatchMode=yes", "-p"])
            .arg(self.port.to_string())
            .arg("root@127.0.0.1")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        self.master = Some(master);
        let socket = self
            .dir
            .path()
            .join(format!("mux-root@127.0.0.1:{}", self.port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "no ssh master:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn client_config(&self) -> PathBuf {
        self.dir.path().join("ssh_config")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// How many ssh sessions sshd accepted.
    fn logins(&self) -> usize {
        self.log().matches("Accepted publickey for root").count()
    }
}

/// Whether `port` accepts connections before `sshd` exits or 10 s pass.
fn listening(sshd: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if sshd.try_wait().unwrap().is_some() {
            return false;
        }
        if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

impl Drop for Sshd {
    fn drop(&mut self) {
        if let Some(master) = &mut self.master {
            let _ = master.kill();
            let _ = master.wait();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Set by `hostile_values_and_files_cross_a_real_ssh_connection` for the child
/// process that runs `remote_side_of_hostile_values`.
const HOST_ENV: &str = "PHOENIX_TEST_SSH_HOST";

/// The runner reads `PHOENIX_SSH_CONFIG` from its environment, which a test cannot
/// change in its own process (`set_var` is unsafe, and unsafe code is forbidden):
/// the library half runs in a child process of this test binary that has it.
#[test]
fn hostile_values_and_files_cross_a_real_ssh_connection() {
    let Some(sshd) = Sshd::start(&[]) else { return };
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "ssh::remote_side_of_hostile_values"])
        .args(["--include-ignored", "--nocapture", "--test-threads", "1"])
        .env(SSH_CONFIG_ENV, sshd.client_config())
        .env(HOST_ENV, format!("ssh://root@127.0.0.1:{}", sshd.port))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}\nsshd:\n{}",
        String::from_utf8_lossy(&out.stderr),
        sshd.log()
    );
    assert_eq!(sshd.logins(), 4, "every call is one ssh login");
}

#[test]
#[ignore = "runs in a child process of hostile_values_and_files_cross_a_real_ssh_connection"]
fn remote_side_of_hostile_values() {
    let Ok(host) = std::env::var(HOST_ENV) else {
        eprintln!("SKIPPED: run by hostile_values_and_files_cross_a_real_ssh_connection only");
        return;
    };
    let runner = Runner::Ssh {
        target: SshTarget::parse(&host).unwrap(),
        config: std::env::var(SSH_CONFIG_ENV).ok(),
    };
    let mut log = Log::sink();
    let marker = Path::new("/tmp/phoenix-pwned-ssh");
    let _ = std::fs::remove_file(marker);
    let run = |argv: Vec<String>, log: &mut Log| {
        let ran = runner
            .run(&Cmd::new(argv), None, Duration::from_secs(60), log)
            .unwrap();
        assert_eq!(ran.status, 0, "{}", ran.stderr);
        ran.stdout
    };

    // It is really sshd on the port from `--host` that runs the commands.
    let port = host.rsplit(':').next().unwrap();
    let conn = run(
        vec!["sh".into(), "-c".into(), "echo \"$SSH_CONNECTION\"".into()],
        &mut log,
    );
    assert!(
        conn.trim_end().ends_with(&format!(" 127.0.0.1 {port}")),
        "{conn:?}"
    );

    let hostile = [
        "; rm -rf /",
        "$(touch /tmp/phoenix-pwned-ssh)",
        "`touch /tmp/phoenix-pwned-ssh`",
        "it's \"quoted\"",
        "'",
        "two\nlines",
        "trailing newline\n",
        "a b\tc",
        "*",
        "~root",
        "$HOME",
        "back\\slash",
        "!! #not a comment",
        "",
        "--",
        "-n",
        "€ ünïcode",
    ];
    let mut argv: Vec<String> = vec!["printf".into(), "%s\\0".into()];
    argv.extend(hostile.iter().map(|s| (*s).to_string()));
    let out = run(argv, &mut log);
    let got: Vec<&str> = out
        .strip_suffix('\0')
        .unwrap_or_else(|| panic!("{out:?}"))
        .split('\0')
        .collect();
    assert_eq!(
        got, hostile,
        "each value arrives as one argument, unchanged"
    );
    assert!(!marker.exists(), "a value was run as a command");

    // A file with every byte value, into a directory and file name that need quoting.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dir with space/it's $(touch x).bin");
    let path = path.to_str().unwrap();
    let mut bytes: Vec<u8> = (0..=255).collect();
    bytes.extend_from_slice(b"\n$(touch /tmp/phoenix-pwned-ssh) 'q' \"q\"\0");
    runner.upload(path, &bytes, &mut log).unwrap();
    assert_eq!(std::fs::read(path).unwrap(), bytes);
    let hex = run(
        vec![
            "od".into(),
            "-An".into(),
            "-v".into(),
            "-tx1".into(),
            path.into(),
        ],
        &mut log,
    );
    let back: Vec<u8> = hex
        .split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    assert_eq!(back, bytes, "read back over ssh");
    assert!(!marker.exists(), "a value was run as a command");
}

/// The stand-in pve host of `pve_standin.rs`, reached only through sshd: the
/// stand-in `pct`, `qm`, `pvesh` and host tools are on the PATH of ssh sessions,
/// not on phoenix's, so a command that did not go through ssh fails.
#[test]
fn a_pve_build_over_ssh_builds_everything_and_a_rebuild_runs_nothing() {
    let Some(shared) = shared() else { return };
    if Command::new("python3").arg("--version").output().is_err() {
        skip("python3 not found; the pve stand-ins need it");
        return;
    }
    let site = Site::bundled();
    let pve = crate::pve_standin::stage(&site);
    let remote_path = format!(
        "{}:{}",
        pve.bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let schema = shared.join("proxmox/pve-api-schema.json");
    // The host's files (`/etc/pve/lxc/*.conf`, `/etc/exports`): phoenix prefixes the
    // paths it sends, the stand-ins read them.
    let root = pve.root();
    let Some(mut sshd) = Sshd::start(&[
        ("PATH", &remote_path),
        ("PHOENIX_STANDIN_DIR", pve.state.to_str().unwrap()),
        ("PHOENIX_STANDIN_SCHEMA", schema.to_str().unwrap()),
        ("PHOENIX_PVE_ROOT", root.to_str().unwrap()),
    ]) else {
        return;
    };
    sshd.multiplex();
    let host = format!("root@127.0.0.1:{}", sshd.port);
    let site = site
        .backend(["--backend", "pve", "--host", &host])
        .jobs(3)
        .env(SSH_CONFIG_ENV, sshd.client_config())
        .env("PHOENIX_PVE_IMAGE_DIR", &pve.images)
        .env("PHOENIX_PVE_ROOT", &root)
        .env("PHOENIX_RETRY_BACKOFF_MS", "10");
    let build = || site.build(&["all"]);

    let out = build();
    let s = summary(&out, &sshd);
    let nodes = s["nodes"].as_object().unwrap();
    for (node, outcome) in nodes {
        assert_eq!(outcome, "built", "{node}\n{}", out.stderr);
    }
    pve.assert_no_violations();
    // The node logs record what phoenix ran: ssh, with the config and the port
    // from `--host`, never a pve tool directly.
    let ssh = format!(
        "$ ssh -F {} -o BatchMode=yes -p {} root@127.0.0.1 -- ",
        sshd.client_config().display(),
        sshd.port
    );
    let mut lines = 0;
    for log in std::fs::read_dir(site.cache.join("logs")).unwrap() {
        let text = std::fs::read_to_string(log.unwrap().path()).unwrap();
        for line in text.lines().filter(|l| l.starts_with("$ ")) {
            assert!(line.starts_with(&ssh), "{line}");
            lines += 1;
        }
    }
    let ran = pve.commands();
    assert!(
        lines >= ran.len(),
        "{lines} logged commands, {} ran",
        ran.len()
    );
    // Every guest of the definitions is on the stand-in host, stamped.
    let host_state = pve.stand_in_state();
    let mut want: Vec<&str> = nodes
        .keys()
        .filter_map(|n| n.strip_prefix("ct:").or_else(|| n.strip_prefix("vm:")))
        .collect();
    let mut have: Vec<&str> = host_state["guests"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    want.sort_unstable();
    have.sort_unstable();
    assert_eq!(have, want);
    assert!(want.contains(&"950") && want.contains(&"9000"), "{want:?}");

    let out = build();
    assert_eq!(summary(&out, &sshd)["steps_run"], 0, "{}", out.stdout);
    pve.assert_only_inventory_since(ran.len());
}

/// The summary of a build that must have succeeded, or sshd's log.
fn summary(out: &Output, sshd: &Sshd) -> Value {
    assert_eq!(
        out.code,
        0,
        "{}\n{}\nsshd:\n{}",
        out.stdout,
        out.stderr,
        sshd.log()
    );
    out.summary()
}
