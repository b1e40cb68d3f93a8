//! The Proxmox VE REST API stand-in (`tests/standin/pve_api.py`): a cluster of
//! nodes `pve1..pveN` on 127.0.0.1 over HTTPS, on the behavioural model the CLI
//! stand-in uses, checking every request against the API schema.
//!
//! [`ApiStandIn::start`] makes a certificate authority and a server certificate
//! for `127.0.0.1`/`localhost`/`pve1` in a temporary directory (as a Proxmox node
//! has `pve-root-ca.pem` and `pve-ssl.pem`), an API token, starts the server and
//! waits until it listens; dropping it stops the server (also when a test
//! panics; the server also exits when the test process is gone). Tests talk to
//! it with `curl` ([`ApiStandIn::call`]); the backend tests will use
//! [`ApiStandIn::url`], [`ApiStandIn::ca`], [`ApiStandIn::fingerprint`] and
//! [`ApiStandIn::token_file`]. Without `python3`, `openssl` or `curl` the tests
//! skip with a message (and fail under `CI=true`).
//!
//! The nodes' shells: [`ApiStandIn::ssh_bin`] is a directory with an `ssh`
//! (`tests/standin/node-ssh.py`) that reaches the cluster's nodes by their `ip`
//! (`10.0.0.i`, only names here) and runs the command line on this machine with
//! the CLI stand-in's `pct`, `qm`, `pvesh`... on the cluster's own state, as that
//! node; [`ApiStandIn::ssh_log`] is what went through it. Everything it needs is
//! in the directory's files: a test puts it first on phoenix's PATH and sets
//! nothing else.

#![allow(dead_code, reason = "the helper is also for the api backend's tests")]

mod certs;
mod faults;
mod node_bin;
mod node_shell;
mod smoke;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::shared;

/// The API token's ID (`user@realm!tokenid`); its secret is made per server.
pub const TOKEN_ID: &str = "root@pam!phoenix";

/// How to start the stand-in.
#[derive(Clone, Debug)]
pub struct Options {
    /// Cluster size (`pve1..pveN`).
    pub nodes: usize,
    /// Seconds a task runs before its work (0: done before the call answers).
    pub task_delay: f64,
    /// The initial `state.json` (storages, guests...), if any.
    pub state: Option<Value>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            nodes: 3,
            task_delay: 0.0,
            state: None,
        }
    }
}

/// A running stand-in; stopped when dropped.
pub struct ApiStandIn {
    child: Child,
    dir: tempfile::TempDir,
    secret: String,
    pub port: u16,
}

/// One answer: HTTP status (0 when the connection failed) and JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    /// curl's exit code (non-zero for a connection error).
    pub curl_exit: i32,
}

impl Reply {
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// The error message (Proxmox's `message`), without its newline.
    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("").trim_end()
    }

    /// The data of a successful answer.
    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "the call failed: {self:?}");
        self.data()
    }
}

/// Whether `tool` runs (`tool --version`, or `openssl version`).
fn have(tool: &str) -> bool {
    let arg = if tool == "openssl" {
        "version"
    } else {
        "--version"
    };
    Command::new(tool)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl ApiStandIn {
    /// A 3-node cluster with tasks that end at once; `None` (after saying why)
    /// without the shared schema, `python3`, `openssl` or `curl`.
    pub fn start() -> Option<Self> {
        Self::start_with(&Options::default())
    }

    pub fn start_with(opts: &Options) -> Option<Self> {
        let shared = shared()?;
        for tool in ["python3", "/usr/bin/python3", "openssl", "curl"] {
            if !have(tool) {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "{tool} is needed for the API stand-in"
                );
                eprintln!("SKIPPED: {tool} not found; the API stand-in tests need it");
                return None;
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        certs::certificates(d);
        // A secret of the form Proxmox gives (a UUID), different for every server.
        let random = std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), d);
        let more = std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), random);
        let secret = format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            random >> 32,
            (random >> 16) & 0xffff,
            random & 0xfff,
            more >> 52,
            more & 0xffff_ffff_ffff
        );
        std::fs::write(d.join("token"), format!("{TOKEN_ID}={secret}\n")).unwrap();
        std::fs::write(
            d.join("auth-header"),
            format!("Authorization: PVEAPIToken={TOKEN_ID}={secret}\n"),
        )
        .unwrap();
        let state = d.join("state");
        std::fs::create_dir(&state).unwrap();
        if let Some(s) = &opts.state {
            std::fs::write(state.join("state.json"), s.to_string()).unwrap();
        }
        node_bin::node_shells(d, &state, &shared.join("proxmox/pve-api-schema.json"));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standin/pve_api.py");
        let log = std::fs::File::create(d.join("server.log")).unwrap();
        let mut child = Command::new("python3")
            .arg(script)
            .arg("--dir")
            .arg(&state)
            .args(["--nodes", &opts.nodes.to_string(), "--port", "0"])
            .args(["--task-delay", &opts.task_delay.to_string()])
            .arg("--port-file")
            .arg(d.join("port"))
            .arg("--cert")
            .arg(d.join("cert.pem"))
            .arg("--key")
            .arg(d.join("key.pem"))
            .arg("--token-file")
            .arg(d.join("token"))
            .arg("--schema")
            .arg(shared.join("proxmox/pve-api-schema.json"))
            .arg("--exit-with-parent")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(d.join("port")) {
                break text.trim().parse().unwrap();
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "the API stand-in exited ({status}):\n{}",
                    std::fs::read_to_string(d.join("server.log")).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the API stand-in did not start in 30 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Some(ApiStandIn {
            child,
            dir,
            secret,
            port,
        })
    }

    /// `https://127.0.0.1:PORT` (the API is under `/api2/json`).
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The CA certificate that signed the server's (`--ca-file`).
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A file with the token, `user@realm!tokenid=secret` (`--token-file`).
    pub fn token_file(&self) -> PathBuf {
        self.dir.path().join("token")
    }

    /// The token (`PHOENIX_PVE_TOKEN`).
    pub fn token(&self) -> String {
        format!("{TOKEN_ID}={}", self.secret)
    }

    /// The secret alone: what must never show in output, logs or caches.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The server certificate's SHA-256 fingerprint as the Proxmox GUI shows
    /// it (`AB:CD:...`), for `--fingerprint`.
    pub fn fingerprint(&self) -> String {
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(self.dir.path().join("cert.pem"))
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        text.trim().rsplit('=').next().unwrap().to_string()
    }

    /// The state directory (`state.json`, `requests.log`, `violations.log`,
    /// and the fault files `down` and `fail`).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// A directory to put first on phoenix's PATH: its `ssh` reaches the
    /// cluster's nodes (see `tests/standin/node-ssh.py`). A node in
    /// [`Self::set_down`]'s list, or a host that is no node, fails as ssh does
    /// (exit 255).
    pub fn ssh_bin(&self) -> PathBuf {
        self.dir.path().join("ssh-bin")
    }

    /// Every ssh call, in order: its destination (`root@10.0.0.2`) and the
    /// command line it sent.
    pub fn ssh_log(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(self.state_dir().join("ssh.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                (text("destination"), text("command"))
            })
            .collect()
    }

    /// Let `pct exec` run a file pushed into a container for real (a script the
    /// test wrote; see `tests/standin/pve_guest_exec.py`); otherwise it runs nothing.
    pub fn run_pushed_scripts(&self) {
        std::fs::write(self.state_dir().join("guest-exec"), "").unwrap();
    }

    /// Every command the CLI stand-in ran on the nodes (its argv).
    pub fn node_commands(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.state_dir().join("commands.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// One API call with the token: `params` go in the query of a GET or
    /// DELETE, in a form body otherwise (a repeated name is a list).
    pub fn call(&self, method: &str, path: &str, params: &[(&str, &str)]) -> Reply {
        self.call_as(
            method,
            path,
            params,
            &[
                "-H".into(),
                format!("@{}", self.dir.path().join("auth-header").display()),
            ],
        )
    }

    /// [`Self::call`] with other curl arguments for the authentication.
    pub fn call_as(
        &self,
        method: &str,
        path: &str,
        params: &[(&str, &str)],
        auth: &[String],
    ) -> Reply {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "20", "--cacert"])
            .arg(self.ca())
            .args(auth)
            .args(["-X", method, "-w", "\n%{http_code}"]);
        if matches!(method, "GET" | "DELETE") {
            cmd.arg("-G");
        }
        for (k, v) in params {
            cmd.arg("--data-urlencode").arg(format!("{k}={v}"));
        }
        let out = cmd
            .arg(format!("{}/api2/json{path}", self.url()))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        Reply {
            status: code.trim().parse().unwrap_or(0),
            body: serde_json::from_str(body).unwrap_or(Value::Null),
            curl_exit: out.status.code().unwrap_or(-1),
        }
    }

    /// Poll a task until it has stopped; its status.
    #[track_caller]
    pub fn wait_task(&self, upid: &str) -> Value {
        let node = upid.split(':').nth(1).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let st = self
                .call("GET", &format!("/nodes/{node}/tasks/{upid}/status"), &[])
                .ok()
                .clone();
            if st["status"] == "stopped" {
                return st;
            }
            assert!(Instant::now() < deadline, "task {upid} still running");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The lines of a task's log.
    pub fn task_log(&self, upid: &str) -> Vec<String> {
        let node = upid.split(':').nth(1).unwrap();
        let reply = self.call("GET", &format!("/nodes/{node}/tasks/{upid}/log"), &[]);
        reply
            .ok()
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["t"].as_str().unwrap().to_string())
            .collect()
    }

    /// Every request the server got, in order (`method`, `path`, `params`,
    /// `status`, `user`).
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(self.state_dir().join("requests.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// What `violations.log` holds: requests the Proxmox API would reject.
    pub fn violations(&self) -> String {
        std::fs::read_to_string(self.state_dir().join("violations.log")).unwrap_or_default()
    }

    /// The cluster's state (`state.json`).
    pub fn state(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.state_dir().join("state.json")).unwrap())
            .unwrap()
    }

    /// Mark nodes down: `(node, "595")` answers 595, `(node, "drop")` closes the
    /// connection; either way ssh to the node fails (exit 255). An empty list
    /// brings them all back.
    pub fn set_down(&self, nodes: &[(&str, &str)]) {
        let text: String = nodes
            .iter()
            .map(|(n, m)| [n, " ", m, "\n"].concat())
            .collect();
        std::fs::write(self.state_dir().join("down"), text).unwrap();
    }

    /// Make the next `times` calls whose line contains `pattern` fail (their
    /// task, for an asynchronous call).
    pub fn fail(&self, pattern: &str, times: usize) {
        std::fs::write(
            self.state_dir().join("fail"),
            format!("{pattern} {times}\n"),
        )
        .unwrap();
    }

    /// What the server wrote on stderr.
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for ApiStandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
