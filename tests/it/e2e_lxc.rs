//! End to end on real LXC containers: the bundled definitions built for real,
//! incrementally, through failures and a kill -9.
//!
//! Needs root, the LXC tools, busybox and the tests' bridge (see
//! [`crate::helpers::lxc`]: `sh scripts/setup.sh --test-net`); without them the
//! tests skip with a message, except when `PHOENIX_REQUIRE_LXC=1` or `CI=true`,
//! where they fail. The bundled definitions are copied and rewritten to the tests'
//! network (`phxtest0`, 10.250.0.0/24), built under an LXC path of the test's own
//! with the prefix `phxt-`, so a running demo (`lxcbr0`, 10.0.3.x, `phx-` in
//! `/var/lib/lxc`) is never touched. They run one at a time: the bundled guests
//! have fixed addresses. Each destroys what it built.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::helpers::lxc::{LxcSite, limits, socket, to_test_net};
use crate::helpers::{Site, set_field, update_json};

static SERIAL: Mutex<()> = Mutex::new(());

/// The tests that share the bundled guests' addresses, one at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The site of one real-LXC test on the bundled definitions, rewritten to the
/// tests' network, once the tests before it are done.
fn site() -> Option<LxcSite> {
    LxcSite::new("phxt-", Some(serial()), || {
        let site = Site::bundled();
        to_test_net(&site.defs);
        site
    })
}

/// The vLLM stand-in (950) and the proxy (102), as the host reaches them.
fn vllm() -> String {
    socket(150, 8000)
}
fn proxy() -> String {
    socket(102, 8080)
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
        "{addr} answers before the test built anything: a leftover container is using the tests' addresses \
         (one of a test run that was killed? `lxc-ls -f -P /tmp/.tmpXXXX/lxc` lists it)"
    );
}

/// `name` is unprivileged as Proxmox makes it: its root is host uid 100000, seen
/// from inside (`/proc/self/uid_map`) and from the host (the owner of a file it
/// creates).
fn assert_unprivileged(site: &LxcSite, name: &str) {
    let map = site.attach(name, &["cat", "/proc/self/uid_map"]);
    assert_eq!(
        map.split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"],
        "{name}: {map}"
    );
    site.attach(name, &["touch", "/root/made-inside"]);
    let meta = std::fs::metadata(site.lxcpath.join(name).join("rootfs/root/made-inside"))
        .unwrap_or_else(|e| {
            let config = std::fs::read_to_string(site.lxcpath.join(name).join("config"));
            let rootfs = config.iter().flat_map(|c| c.lines());
            let rootfs: Vec<_> = rootfs.filter(|l| l.contains("rootfs")).collect();
            panic!("{name}: /root/made-inside, made inside, is not in its rootfs: {e}; {rootfs:?}")
        });
    assert_eq!((meta.uid(), meta.gid()), (100_000, 100_000), "{name}");
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
    assert_silent(&vllm());
    assert_silent(&proxy());
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
    assert!(http_get(&vllm()).contains("demo/tiny-model"));
    assert!(http_get(&proxy()).contains("phoenix demo: web"));
    assert_no_orphans(&site);
    // Templates stop once their snapshot is taken; services keep running.
    for template in ["phxt-900", "phxt-901", "phxt-902", "phxt-920"] {
        let state = site.state(template);
        assert!(state.contains("STOPPED"), "{template}: {state}");
    }
    let state = site.state("phxt-950");
    assert!(state.contains("RUNNING"), "{state}");
    assert_unprivileged(&site, "phxt-950");
    assert_unprivileged(&site, "phxt-101");

    // Nothing changed: nothing runs.
    let out = site.build(&["all"]).success();
    assert_eq!(out.summary()["steps_run"], 0, "{}", out.stdout);

    // A memory change runs one configure step, of ct:950 only.
    set_field(&site.defs, "950", "memory_mb", serde_json::json!(768));
    let out = site.build(&["all"]).success();
    assert_eq!(out.summary()["steps_run"], 1);
    assert_eq!(out.steps_of("ct:950"), ["configure"]);
    // Enforced: the host's cgroup files of the restarted container say so.
    let got = limits(&site, "phxt-950");
    if !got.v2 {
        eprintln!("note: a cgroup v1 host: the limits checked are the v1 controllers'");
    }
    assert_eq!(got.memory, (768u64 << 20).to_string(), "{got:?}");
    assert_eq!(got.cpu, "100000 100000", "cores 1: {got:?}");
    assert!(
        http_get(&vllm()).contains("demo/tiny-model"),
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
    assert!(http_get(&vllm()).contains("demo/tiny-model"));
    assert_no_orphans(&site);

    built_by_someone_else_then_adopted(&site);

    // Teardown removes exactly what phoenix built.
    site.phoenix()
        .args(["destroy", "all", "--yes"])
        .run()
        .success();
    assert!(site.containers().is_empty(), "{:?}", site.containers());
}

/// The host as another tool would have left it (issue "Take over a running
/// host"): no stamps, no cache, and 950's memory changed by hand. `adopt all
/// --yes` takes it over; the next build runs exactly one update, then nothing.
fn built_by_someone_else_then_adopted(site: &LxcSite) {
    for c in site.containers() {
        let _ = std::fs::remove_file(site.lxcpath.join(&c).join("phoenix-stamp"));
    }
    std::fs::remove_dir_all(&site.cache).unwrap();
    let config = site.lxcpath.join(site.name(950)).join("config");
    let text = std::fs::read_to_string(&config).unwrap();
    let (key, value) = if limits(site, &site.name(950)).v2 {
        ("lxc.cgroup2.memory.max", "1024M".to_string())
    } else {
        (
            "lxc.cgroup.memory.limit_in_bytes",
            (1024u64 << 20).to_string(),
        )
    };
    let edited: Vec<String> = text
        .lines()
        .map(|l| {
            if l.split('=').next().unwrap_or("").trim() == key {
                format!("{key} = {value}")
            } else {
                l.to_string()
            }
        })
        .collect();
    assert_ne!(edited.join("\n"), text.trim_end(), "{key} in {text}");
    std::fs::write(&config, edited.join("\n") + "\n").unwrap();
    let plan = site.plan(&["all"]);
    assert_eq!(
        plan["foreign"].as_array().map(Vec::len),
        Some(8),
        "without stamps every container is another tool's: {plan}"
    );

    let out = site
        .phoenix()
        .args(["adopt", "all", "--yes"])
        .run()
        .success();
    let memory = out
        .stdout
        .lines()
        .find(|l| l.contains(key) && l.contains("differs"))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(memory.contains(&value), "{memory}");
    let out = site.build(&["all"]).success();
    assert_eq!(out.summary()["steps_run"], 1, "{}", out.stdout);
    assert_eq!(out.steps_of("ct:950"), ["configure"]);
    assert_eq!(
        limits(site, &site.name(950)).memory,
        (768u64 << 20).to_string()
    );
    let out = site.build(&["all"]).success();
    assert_eq!(out.summary()["steps_run"], 0, "{}", out.stdout);
    assert!(http_get(&vllm()).contains("demo/tiny-model"));
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
    assert!(http_get(&proxy()).contains("phoenix demo: web"));
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
    assert!(http_get(&vllm()).contains("demo/tiny-model"));
}
