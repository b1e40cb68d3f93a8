//! End to end on real LXC containers: the bundled definitions built for real,
//! incrementally, through failures and a kill -9.
//!
//! Needs root, the LXC tools and the `lxcbr0` bridge (`scripts/setup.sh` provides
//! them). Without them the tests skip with a message, except when
//! `PHOENIX_REQUIRE_LXC=1` or `CI=true`, where they fail. They run one at a time: the
//! bundled guests have fixed addresses on `lxcbr0`. Each test uses its own LXC path
//! and name prefix and destroys what it built, so no other container is touched.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::helpers::{Site, set_field, update_json};

static SERIAL: Mutex<()> = Mutex::new(());

/// Whether real containers can run here; says why not, or fails in CI.
fn lxc_ready() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let tools = phoenix::backend::lxc::Lxc::available();
    let bridge = Command::new("ip")
        .args(["link", "show", "lxcbr0"])
        .output()
        .is_ok_and(|o| o.status.success());
    let busybox = Path::new("/bin/busybox").exists() || Path::new("/usr/bin/busybox").exists();
    if root && tools && bridge && busybox {
        return true;
    }
    let why = format!("root={root} lxc-tools={tools} lxcbr0={bridge} busybox={busybox}");
    assert!(
        std::env::var("PHOENIX_REQUIRE_LXC").as_deref() != Ok("1")
            && std::env::var("CI").as_deref() != Ok("true"),
        "PHOENIX_REQUIRE_LXC=1 or CI=true, but LXC is not usable here: {why}"
    );
    eprintln!(
        "SKIPPED: real LXC tests need root, lxc, busybox and lxcbr0 ({why}); run scripts/setup.sh"
    );
    false
}

/// A [`Site`] with an LXC path of its own; everything in that LXC path is
/// destroyed when it goes out of scope. One at a time: it holds [`SERIAL`] until
/// then.
pub struct LxcSite {
    site: Site,
    pub lxcpath: PathBuf,
    /// Dropped last, after the containers are gone.
    _serial: MutexGuard<'static, ()>,
}

impl Deref for LxcSite {
    type Target = Site;
    fn deref(&self) -> &Site {
        &self.site
    }
}

/// The site of one real-LXC test on the bundled definitions.
fn site() -> Option<LxcSite> {
    lxc_site(Site::bundled)
}

/// The site of one real-LXC test (containers `phxt-<id>`), once the tests before
/// it are done; `None` (after saying why) where LXC is not usable.
pub fn lxc_site(make: impl FnOnce() -> Site) -> Option<LxcSite> {
    let serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !lxc_ready() {
        return None;
    }
    let site = make().jobs(4);
    let lxcpath = site.path().join("lxc");
    std::fs::create_dir_all(&lxcpath).unwrap();
    let site = site
        .backend(["--backend", "lxc", "--prefix", "phxt-", "--lxcpath"])
        .backend([&lxcpath]);
    Some(LxcSite {
        site,
        lxcpath,
        _serial: serial,
    })
}

impl LxcSite {
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
}

impl Drop for LxcSite {
    fn drop(&mut self) {
        for name in self.containers() {
            let _ = Command::new("lxc-stop")
                .arg("-P")
                .arg(&self.lxcpath)
                .args(["-n", &name, "-k"])
                .output();
            let _ = Command::new("lxc-destroy")
                .arg("-P")
                .arg(&self.lxcpath)
                .args(["-n", &name])
                .output();
        }
    }
}

/// GET `/` from one of the project's own containers.
fn http_get(addr: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut s) =
            TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2))
        {
            let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
            let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
            let mut body = String::new();
            let _ = s.read_to_string(&mut body);
            if !body.is_empty() {
                return body;
            }
        }
        assert!(Instant::now() < deadline, "{addr} does not answer");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Nothing answers at `addr` yet: a leftover container with the same address would
/// make every later check pass for the wrong reason.
fn assert_silent(addr: &str) {
    let open =
        TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_millis(500)).is_ok();
    assert!(
        !open,
        "{addr} answers before the test built anything: a leftover container is using the demo's addresses"
    );
}

/// Every container in the LXC path is a defined guest or a snapshot of one, and
/// every guest is stamped as finished.
fn assert_no_orphans(site: &LxcSite) {
    let defined = ["900", "901", "902", "920", "950", "101", "102", "103"];
    for name in site.containers() {
        let id = name
            .trim_start_matches("phxt-")
            .split("--")
            .next()
            .unwrap()
            .to_string();
        assert!(defined.contains(&id.as_str()), "orphan container {name}");
        let stamp = std::fs::read_to_string(site.lxcpath.join(&name).join("phoenix-stamp"))
            .unwrap_or_default();
        assert!(stamp.starts_with("built:"), "{name} is stamped {stamp:?}");
    }
}

#[test]
fn bundled_definitions_build_for_real_and_incrementally() {
    let Some(site) = site() else { return };
    assert_silent("10.0.3.150:8000");
    assert_silent("10.0.3.102:8080");
    // 900 on a ZFS storage: host:zfs is built in and needs Proxmox. Plain LXC skips
    // it (nothing here uses Proxmox storages), and 900, which needs it, still builds.
    update_json(
        &site.defs.join("phoenix_hypervisor_config.json"),
        |config| {
            config["zfs"] = serde_json::json!({
                "pools": [{"name": "tank", "raid_level": "single", "disks": ["/dev/disk/by-id/not-here"]}],
                "datasets": [{"name": "guests", "pool": "tank", "properties": "compression=lz4",
                              "proxmox_storage_type": "zfspool", "proxmox_content_type": "rootdir"}]
            });
        },
    );
    set_field(
        &site.defs,
        "900",
        "storage_pool",
        serde_json::json!("tank-guests"),
    );
    let out = site.build(&["all"]).success();
    let s = out.summary();
    assert_eq!(s["nodes"]["host:zfs"], "skipped", "{}", out.stdout);
    assert!(
        out.stdout.contains("does not carry out host step `zfs`"),
        "{}",
        out.stdout
    );
    for n in [
        "ct:900",
        "ct:901",
        "ct:902",
        "ct:920",
        "ct:950",
        "ct:101",
        "ct:102",
        "ct:103",
        "host:network",
        "host:firewall",
    ] {
        assert_eq!(s["nodes"][n], "built", "{n}: {}", out.stdout);
    }
    assert_eq!(
        s["nodes"]["vm:1001"], "skipped",
        "the lxc backend builds no VMs"
    );
    // The services answer: the vLLM stand-in, and the proxy serving the web guest's page.
    assert!(http_get("10.0.3.150:8000").contains("demo/tiny-model"));
    assert!(http_get("10.0.3.102:8080").contains("phoenix demo: web"));
    assert_no_orphans(&site);
    // Templates stop once their snapshot is taken; services keep running.
    let state = |name: &str| {
        let out = std::process::Command::new("lxc-info")
            .args(["-P"])
            .arg(&site.lxcpath)
            .args(["-n", name, "-s"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    for template in ["phxt-900", "phxt-901", "phxt-920"] {
        assert!(
            state(template).contains("STOPPED"),
            "{template}: {}",
            state(template)
        );
    }
    assert!(
        state("phxt-950").contains("RUNNING"),
        "{}",
        state("phxt-950")
    );

    // Nothing changed: nothing runs.
    let out = site.build(&["all"]).success();
    assert_eq!(out.summary()["steps_run"], 0, "{}", out.stdout);

    // A memory change runs one configure step, of ct:950 only.
    set_field(&site.defs, "950", "memory_mb", serde_json::json!(768));
    let out = site.build(&["all"]).success();
    assert_eq!(out.summary()["steps_run"], 1);
    assert_eq!(out.steps_of("ct:950"), ["configure"]);
    let config = std::fs::read_to_string(site.lxcpath.join("phxt-950/config")).unwrap();
    assert!(
        config.contains(&(768u64 * 1024 * 1024).to_string()) || config.contains("768M"),
        "{config}"
    );
    assert!(
        http_get("10.0.3.150:8000").contains("demo/tiny-model"),
        "950 came back after the restart"
    );

    // A changed feature of 901: 950 would be replaced, which needs consent.
    let nvidia = site.defs.join("features/lxc/nvidia.sh");
    let text = std::fs::read_to_string(&nvidia).unwrap();
    std::fs::write(&nvidia, format!("{text}\necho nvidia layer v2\n")).unwrap();
    let out = site.build(&["all"]).code(1);
    assert!(
        out.stderr.contains("ct:950 (vllm-demo)") && out.stderr.contains("--allow-replace"),
        "{}",
        out.stderr
    );
    let out = site.build(&["all", "--allow-replace"]).success();
    assert_eq!(
        out.steps_of("ct:901"),
        [
            "rollback:pre-nvidia",
            "start",
            "feature:nvidia",
            "snapshot",
            "stop"
        ]
    );
    assert_eq!(
        out.steps_of("ct:920").first().map(String::as_str),
        Some("define")
    );
    assert_eq!(
        out.steps_of("ct:950").first().map(String::as_str),
        Some("define")
    );
    for n in ["ct:900", "ct:902", "ct:101", "ct:102", "ct:103"] {
        assert!(out.steps_of(n).is_empty(), "{n} should not run");
    }
    assert!(http_get("10.0.3.150:8000").contains("demo/tiny-model"));
    assert_no_orphans(&site);

    // Teardown removes exactly what phoenix built.
    site.phoenix()
        .args(["destroy", "all", "--yes"])
        .run()
        .success();
    assert!(site.containers().is_empty(), "{:?}", site.containers());
}

#[test]
fn a_failing_feature_fails_its_branch_and_the_next_build_resumes() {
    let Some(site) = site() else { return };
    let docker = site.defs.join("features/lxc/docker.sh");
    let good = std::fs::read_to_string(&docker).unwrap();
    std::fs::write(
        &docker,
        "#!/bin/sh\necho docker: broken on purpose >&2\nexit 3\n",
    )
    .unwrap();
    let out = site.build(&["all"]).code(1);
    let s = out.summary();
    assert_eq!(s["nodes"]["ct:902"], "failed");
    assert_eq!(s["nodes"]["ct:101"], "skipped");
    assert_eq!(s["nodes"]["ct:102"], "skipped");
    for n in ["ct:900", "ct:901", "ct:920", "ct:950", "ct:103"] {
        assert_eq!(s["nodes"][n], "built", "independent branch {n}");
    }
    let log = std::fs::read_to_string(site.cache.join("logs/ct-902.log")).unwrap();
    assert!(log.contains("broken on purpose"), "{log}");

    std::fs::write(&docker, good).unwrap();
    let out = site.build(&["all"]).success();
    let steps = out.steps_of("ct:902");
    assert!(
        !steps.contains(&"define".to_string()),
        "902 resumes, it is not re-created: {steps:?}"
    );
    assert!(steps.contains(&"feature:docker".to_string()));
    assert_eq!(out.summary()["nodes"]["ct:102"], "built");
    assert!(out.steps_of("ct:950").is_empty());
    assert!(http_get("10.0.3.102:8080").contains("phoenix demo: web"));
    assert_no_orphans(&site);
}

#[test]
fn kill_9_in_the_middle_then_build_again() {
    let Some(site) = site() else { return };
    let mut child = site
        .phoenix()
        .args(["build", "all", "-j", "4", "--output", "json"])
        .command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // While it runs, a second build on the same cache stops at once.
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let second = site.build(&["all"]).code(4);
    assert!(
        second.stderr.contains("another phoenix build"),
        "{}",
        second.stderr
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // Kill it once a few guests are on their way.
    let deadline = Instant::now() + Duration::from_secs(60);
    while site.containers().len() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let out = site.build(&["all"]).success();
    for n in [
        "ct:900", "ct:901", "ct:902", "ct:920", "ct:950", "ct:101", "ct:102", "ct:103",
    ] {
        let got = out.summary()["nodes"][n].clone();
        assert!(got == "built" || got == "fresh", "{n}: {got}");
    }
    assert_no_orphans(&site);
    let again = site.build(&["all"]).success();
    assert_eq!(
        again.summary()["steps_run"],
        0,
        "state is consistent after the crash"
    );
    assert!(http_get("10.0.3.150:8000").contains("demo/tiny-model"));
}
