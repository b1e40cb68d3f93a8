//! The pve backend end to end, through stand-in `pct`, `qm` and `pvesh` executables
//! that check every argument against the Proxmox API schema and keep the host's
//! state in a directory (`tests/standin/pve-standin.py`), and stand-in `zpool`, `zfs`,
//! `wipefs`, `pvesm`, `exportfs` and `showmount` for the built-in host steps. The
//! host's own files (`/etc/pve/lxc/*.conf`, `/etc/exports`, `/etc/subuid`...) live
//! under [`StandIn::root`]. The tools are shims that hand each command to the
//! host's stand-in server (`server`), so a call costs no Python start-up.

mod adopt;
mod containers;
mod firewall_rules;
mod fixtures;
mod host_storage;
mod idmap;
mod observe;
mod replay;
mod rules;
mod server;
mod template_rules;
mod templates;
mod vms;

use std::ops::Deref;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::helpers::{Site, shared};

/// The parts of a stand-in Proxmox host, in a [`Site`]'s directory.
pub struct StandIn {
    /// The stand-in tools, and an `apt-get` that refuses.
    pub bin: PathBuf,
    /// The stand-ins' state (`PHOENIX_STANDIN_DIR`).
    pub state: PathBuf,
    /// The image directory, with the template's cloud image in it.
    pub images: PathBuf,
    /// The server the tools hand their commands to; stopped when this is dropped.
    pub server: server::Server,
}

/// The tools a Proxmox host (with ZFS, an NFS server and the NVIDIA driver) has,
/// each stood in for by `tests/standin/pve-standin.py` (through the host's
/// [`server::Server`]).
pub const STAND_INS: &[&str] = &[
    "pct",
    "qm",
    "pvesh",
    "pvesm",
    "zpool",
    "zfs",
    "wipefs",
    "exportfs",
    "showmount",
    "curl",
    "nvidia-modprobe",
    "virt-customize",
];

/// Lay out a stand-in host in `site`, whose definitions must be the bundled ones
/// (also used by the ssh tests).
pub fn stage(site: &Site) -> StandIn {
    let dir = site.path();
    // Host steps run on this machine for real: make them harmless here. The ones
    // that read the guests' definitions fail when they cannot see them, by their
    // variable or next to the hypervisor file (over ssh too).
    let sees_guests = "for f in \"$PHOENIX_LXC_JSON\" \"$(dirname \"$1\")/phoenix_lxc_configs.json\"; do\n  \
         [ -f \"$f\" ] || { echo \"no guest definitions at '$f'\" >&2; exit 1; }\ndone\n";
    for step in ["network", "firewall", "dns"] {
        let path = site.defs.join(format!("features/host/{step}.sh"));
        if step == "dns" && !path.exists() {
            continue;
        }
        let check = if step == "network" { "" } else { sees_guests };
        std::fs::write(
            path,
            format!("#!/bin/sh\necho host step {step} with $1\n{check}"),
        )
        .unwrap();
    }
    let (bin, state, images) = (dir.join("bin"), dir.join("pve"), dir.join("images"));
    for d in [&bin, &state, &images] {
        std::fs::create_dir_all(d).unwrap();
    }
    // The backend installs missing host packages with apt-get: never on this machine.
    let apt = bin.join("apt-get");
    std::fs::write(
        &apt,
        "#!/bin/sh\necho \"apt-get $* refused in a test\" >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&apt, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        images.join("debian-12-genericcloud-amd64.qcow2"),
        b"not really an image",
    )
    .unwrap();
    // Root's subordinate ids as a Proxmox host has them: the block of Proxmox's
    // default map, which the stand-in's `pct start` checks a map against.
    let etc = state.join("root/etc");
    std::fs::create_dir_all(&etc).unwrap();
    for file in ["subuid", "subgid"] {
        std::fs::write(etc.join(file), "root:100000:65536\n").unwrap();
    }
    let server = server::Server::start(&bin, &state, STAND_INS);
    StandIn {
        bin,
        state,
        images,
        server,
    }
}

impl StandIn {
    /// Where the host's files (`/etc/exports`, the storage ledger) live.
    pub fn root(&self) -> PathBuf {
        self.state.join("root")
    }

    /// The stand-ins' record of the host (`state.json`).
    pub fn stand_in_state(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.state.join("state.json")).unwrap())
            .unwrap()
    }

    /// Set one top-level entry of the stand-ins' state (`state.json`, made if missing).
    pub fn set_stand_in_state(&self, key: &str, value: Value) {
        let path = self.state.join("state.json");
        let mut st = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_else(|| serde_json::json!({"guests": {}}));
        st[key] = value;
        std::fs::write(path, st.to_string()).unwrap();
    }

    /// Every command the stand-ins ran, in order.
    pub fn commands(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.state.join("commands.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Run one stand-in tool directly, as the host's shell would (`pct start 101`).
    pub fn run(&self, argv: &[&str]) -> std::process::Output {
        self.command(&self.bin.join(argv[0]))
            .args(&argv[1..])
            .output()
            .unwrap()
    }

    /// `program` in the environment the host's shell gives the stand-in tools.
    pub fn command(&self, program: &Path) -> std::process::Command {
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = std::process::Command::new(program);
        cmd.env("PATH", path)
            .env("PHOENIX_STANDIN_DIR", &self.state)
            .env(
                "PHOENIX_STANDIN_SCHEMA",
                shared().unwrap().join("proxmox/pve-api-schema.json"),
            )
            .env("PHOENIX_PVE_ROOT", self.root());
        cmd
    }

    pub fn assert_no_violations(&self) {
        let v = std::fs::read_to_string(self.state.join("violations.log")).unwrap_or_default();
        assert!(v.is_empty(), "commands the Proxmox API would reject:\n{v}");
    }

    /// The commands after the first `before` are only the inventory call.
    #[track_caller]
    pub fn assert_only_inventory_since(&self, before: usize) {
        assert_eq!(
            self.commands()[before..],
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
    }
}

/// A [`Site`] on the pve backend, its tools the stand-ins of [`StandIn`].
struct Host {
    site: Site,
    pve: StandIn,
}

impl Deref for Host {
    type Target = Site;
    fn deref(&self) -> &Site {
        &self.site
    }
}

fn host() -> Option<Host> {
    shared()?;
    host_on(Site::bundled())
}

/// [`host`] for a site of the test's choosing (a fixture set, say).
fn host_on(site: Site) -> Option<Host> {
    let shared = shared()?;
    // The stand-ins' `#!` line names the system interpreter (see pve-standin.py).
    if std::process::Command::new("/usr/bin/python3")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "/usr/bin/python3 is needed for the pve stand-ins"
        );
        eprintln!("SKIPPED: /usr/bin/python3 not found; the pve stand-ins need it");
        return None;
    }
    let pve = stage(&site);
    let path = format!(
        "{}:{}",
        pve.bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let site = site
        .backend(["--backend", "pve"])
        .jobs(3)
        .env("PATH", path)
        .env("PHOENIX_STANDIN_DIR", &pve.state)
        .env(
            "PHOENIX_STANDIN_SCHEMA",
            shared.join("proxmox/pve-api-schema.json"),
        )
        .env("PHOENIX_PVE_IMAGE_DIR", &pve.images)
        .env("PHOENIX_PVE_ROOT", pve.root())
        .env("PHOENIX_RETRY_BACKOFF_MS", "10");
    Some(Host { site, pve })
}
