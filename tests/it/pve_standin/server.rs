//! The stand-in host's server (`tests/standin/standin-server.py`): one Python
//! process per staged host that runs `pve-standin.py` for every tool call in a
//! process forked for it, so a call costs no Python start-up; the tools on the
//! host's PATH are shims (`tests/standin/shim.sh`) that fall back to running the
//! stand-in directly when no server answers. The tests here check that the two
//! ways behave the same.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{StandIn, stage};
use crate::helpers::{Site, shared};

/// A running stand-in server, killed (and its address removed) on drop, so none
/// outlives its test, also when the test panics. A test process killed outright
/// leaves it to notice it was orphaned, or to stop after ten idle minutes.
pub struct Server {
    child: Option<Child>,
    dir: PathBuf,
}

/// The stand-ins' source directory.
pub fn source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standin")
}

/// `s` quoted for a POSIX shell.
fn sh_quote(s: &Path) -> String {
    format!("'{}'", s.display().to_string().replace('\'', "'\\''"))
}

impl Server {
    /// Lay out `state/.server` (the tools' direct fallbacks under `direct/`), write
    /// the shims into `bin`, and start the server; return once it listens.
    pub fn start(bin: &Path, state: &Path, tools: &[&str]) -> Server {
        let src = source();
        let dir = state.join(".server");
        for d in [dir.join("direct"), dir.join("req")] {
            std::fs::create_dir_all(d).unwrap();
        }
        let shim = std::fs::read_to_string(src.join("shim.sh")).unwrap();
        for tool in tools {
            std::os::unix::fs::symlink(src.join("pve-standin.py"), dir.join("direct").join(tool))
                .unwrap();
            let text = shim
                .replacen("srv=SERVER_DIR", &format!("srv={}", sh_quote(&dir)), 1)
                .replacen("tool=TOOL", &format!("tool={tool}"), 1);
            let path = bin.join(tool);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        }
        let schema = shared()
            .expect("the stand-ins need the shared folder's API schema")
            .join("proxmox/pve-api-schema.json");
        let log = std::fs::File::create(dir.join("server.log")).unwrap();
        let child = Command::new("python3")
            .arg("-S")
            .arg(src.join("standin-server.py"))
            .arg(&dir)
            .env("PHOENIX_STANDIN_DIR", state)
            .env("PHOENIX_STANDIN_SCHEMA", schema)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("python3 runs the stand-in server");
        let mut server = Server {
            child: Some(child),
            dir,
        };
        server.wait_listening();
        server
    }

    /// Wait for the server's address; fail with its log if it stopped. A server
    /// that is only slow to start (a loaded machine) leaves the first calls to the
    /// shims' fallback.
    fn wait_listening(&mut self) {
        let start = Instant::now();
        while !self.dir.join("addr").exists() {
            let child = self.child.as_mut().unwrap();
            if let Some(status) = child.try_wait().unwrap() {
                let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                panic!("the stand-in server stopped ({status}):\n{log}");
            }
            if start.elapsed() > Duration::from_secs(30) {
                eprintln!(
                    "the stand-in server is slow to start: tools run directly until it is up"
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stop the server: the tools run the stand-in directly from now on.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(self.dir.join("addr"));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What a call printed and how it ended.
#[derive(Debug, PartialEq)]
struct Answer {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Run `program` (a tool of `pve`'s) with `args` and `stdin`.
fn call(pve: &StandIn, program: &Path, args: &[&str], stdin: &str) -> Answer {
    use std::io::Write;
    let mut child = pve
        .command(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Answer {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// What the stand-in host keeps, its config files included.
fn kept(pve: &StandIn) -> Vec<String> {
    let mut files = vec!["state.json", "commands.log", "violations.log", "fail"]
        .into_iter()
        .map(|f| pve.state.join(f))
        .collect::<Vec<_>>();
    let conf = pve.root().join("etc/pve/lxc");
    let mut confs: Vec<_> = std::fs::read_dir(&conf)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    confs.sort();
    files.extend(confs);
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            format!("{}:\n{text}", f.file_name().unwrap().to_string_lossy())
        })
        .collect()
}

/// The same commands give the same output, exit status, logs, state and config
/// files whether the stand-in runs directly (the old way: `pve-standin.py` under
/// the tool's name), through the shims and the server, or through the shims with
/// the server stopped (their fallback). Among them: refusals (exit 1 and 2, a
/// violation), stdin passed to `qm guest exec`, an injected failure, a crash.
#[test]
fn through_the_server_or_directly_a_command_does_the_same() {
    if shared().is_none() {
        return;
    }
    let ct = "pct create 200 local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst";
    let calls = [
        "pvesh get /cluster/resources --type vm --output-format json",
        &format!(
            "{ct} --hostname a --memory 512 --rootfs local-lvm:4 --net0 name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp"
        ),
        ct,
        "pct set 200 --bogus 1",
        "pct set 200 --memory 1024 --delete swap",
        "pct stop 200",
        "pct start 200",
        "pct config 200",
        "qm create 300 --name v --memory 1024 --agent 1 --net0 virtio=BC:24:11:00:00:02,bridge=vmbr0",
        "qm start 300",
        "qm guest exec 300 --pass-stdin 1 -- tee /etc/x",
        "qm guest exec 300 -- cat /etc/x",
        "zfs list -H -o name",
        "pvesh get",
        "pct snapshot 200 s1",
        "pct snapshot 200 s2",
        "pct listsnapshot 200",
    ];
    // What each call gets on stdin: the first `qm guest exec` passes it on.
    let stdin = |argv: &[&str]| {
        if argv.contains(&"--pass-stdin") {
            "two\nlines ünïcode"
        } else {
            "not read"
        }
    };
    let sites: Vec<Site> = (0..3).map(|_| Site::bundled()).collect();
    let mut hosts: Vec<StandIn> = sites.iter().map(stage).collect();
    hosts[2].server.stop();
    let mut answers = vec![];
    for (i, pve) in hosts.iter().enumerate() {
        std::fs::write(pve.state.join("fail"), "pct snapshot 200 s2 1\n").unwrap();
        let mut said = vec![];
        for line in calls {
            let argv: Vec<&str> = line.split(' ').collect();
            // The first host runs each tool the old way, the others through the shims.
            let program = if i == 0 {
                pve.state.join(".server/direct").join(argv[0])
            } else {
                pve.bin.join(argv[0])
            };
            let mut answer = call(pve, &program, &argv[1..], stdin(&argv));
            // A crash's traceback names the script as it was run.
            for path in [
                pve.bin.join(argv[0]),
                pve.state.join(".server/direct").join(argv[0]),
            ] {
                answer.stderr = answer.stderr.replace(&path.display().to_string(), "TOOL");
            }
            said.push((argv.join(" "), answer));
        }
        answers.push((said, kept(pve)));
    }
    let (said, kept) = &answers[0];
    assert!(said[13].1.stderr.contains("IndexError"), "{:?}", said[13]);
    assert!(
        kept.iter()
            .any(|f| f.contains("/etc/x") && f.contains("two\\nlines")),
        "{kept:?}"
    );
    assert!(
        said[15].1.stderr.contains("injected failure"),
        "{:?}",
        said[15]
    );
    assert_eq!(
        said[16].1.stdout.matches("`-> s").count(),
        1,
        "{:?}",
        said[16]
    );
    for (i, other) in answers.iter().enumerate().skip(1) {
        for (direct, through) in said.iter().zip(&other.0) {
            assert_eq!(direct, through, "host {i}");
        }
        assert_eq!(kept, &other.1, "host {i}");
    }
}

/// Calls at once are served at once, each in its own process: none is lost to
/// another's write of the state (the stand-in's lock holds across them), and each
/// draws its own generated MAC address. The tools cannot run the stand-in
/// directly here: the server answers them all.
#[test]
fn the_server_serves_calls_at_once_each_in_its_own_process() {
    if shared().is_none() {
        return;
    }
    let site = Site::bundled();
    let pve = stage(&site);
    std::fs::remove_dir_all(pve.state.join(".server/direct")).unwrap();
    let ids: Vec<String> = (0..8).map(|i| format!("{}", 210 + i)).collect();
    let answers: Vec<Answer> = std::thread::scope(|s| {
        let calls: Vec<_> = ids
            .iter()
            .map(|id| {
                let pve = &pve;
                s.spawn(move || {
                    let args = [
                        "create",
                        id,
                        "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
                        "--net0",
                        "name=eth0,bridge=vmbr0,ip=dhcp",
                    ];
                    call(pve, &pve.bin.join("pct"), &args, "")
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    for a in &answers {
        assert_eq!(a.code, Some(0), "{a:?}");
    }
    let state = pve.stand_in_state();
    let mut macs: Vec<&str> = ids
        .iter()
        .map(|id| {
            let net0 = state["guests"][id]["config"]["net0"].as_str().unwrap();
            net0.split(',').find(|p| p.starts_with("hwaddr=")).unwrap()
        })
        .collect();
    macs.sort_unstable();
    macs.dedup();
    assert_eq!(macs.len(), ids.len(), "{macs:?}");
    assert_eq!(pve.commands().len(), ids.len());
    pve.assert_no_violations();
}

/// A host's server stops with its [`StandIn`], also when the test panics; one
/// left without calls stops by itself.
#[test]
fn a_server_does_not_outlive_its_host() {
    if shared().is_none() {
        return;
    }
    let gone = |pid: u32| !Path::new(&format!("/proc/{pid}")).exists();
    let site = Site::bundled();
    let pve = stage(&site);
    let pid = pve.server.pid().unwrap();
    assert!(!gone(pid));
    drop(pve);
    assert!(gone(pid));

    let pid = std::sync::Mutex::new(None);
    let panicked = std::panic::catch_unwind(|| {
        let site = Site::bundled();
        let pve = stage(&site);
        *pid.lock().unwrap() = pve.server.pid();
        panic!("a test fails");
    });
    assert!(panicked.is_err());
    assert!(gone(pid.into_inner().unwrap().unwrap()));

    let state = tempfile::tempdir().unwrap();
    let dir = state.path().join(".server");
    let mut idle = Command::new("python3")
        .arg("-S")
        .arg(source().join("standin-server.py"))
        .arg(&dir)
        .env("PHOENIX_STANDIN_DIR", state.path())
        .env(
            "PHOENIX_STANDIN_SCHEMA",
            shared().unwrap().join("proxmox/pve-api-schema.json"),
        )
        .env("PHOENIX_STANDIN_IDLE", "1")
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = idle.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "an idle server runs on"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    assert!(dir.join("req").is_dir() && !dir.join("addr").exists());
}
