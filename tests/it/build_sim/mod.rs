//! `phoenix build` on the sim backend: scheduling, failure, resume, retries and
//! guards, with faults injected into a simulated host.

mod adopt;
mod changes;
mod converted;
mod full_disk;
mod observe;
mod runs;
mod unfinished;

use std::ops::Deref;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::helpers::Site;

/// A [`Site`] on the sim backend, whose simulated host lives in `sim/`:
/// 900 → 901 (gpu) → 910; 900 → 902 (docker) → 920, which also depends on 910.
pub(crate) struct SimSite {
    site: Site,
    pub(crate) sim: PathBuf,
}

impl Deref for SimSite {
    type Target = Site;
    fn deref(&self) -> &Site {
        &self.site
    }
}

pub(crate) fn tree() -> SimSite {
    let lxc = json!({
        "900": ct("base", 10, &json!({"template": "local:vztmpl/x.tar.zst", "template_snapshot_name": "base", "features": ["base_setup"]})),
        "901": ct("gpu", 11, &json!({"clone_from_ctid": "900", "template_snapshot_name": "gpu", "features": ["gpu"]})),
        "902": ct("docker", 12, &json!({"clone_from_ctid": "900", "template_snapshot_name": "docker", "features": ["docker"]})),
        "910": ct("svc-a", 13, &json!({"clone_from_ctid": "901", "application_script": "app.sh"})),
        "920": ct("svc-b", 14, &json!({"clone_from_ctid": "902", "dependencies": ["910"], "application_script": "app.sh"})),
    });
    site(&lxc, &["base_setup", "gpu", "docker"])
}

/// A container named `name` on 10.9.0.`n`, with `extra` fields.
pub(crate) fn ct(name: &str, n: u8, extra: &Value) -> Value {
    let mut v = json!({
        "name": name, "memory_mb": 512, "cores": 1, "storage_pool": "local-lvm", "storage_size_gb": 4,
        "network_config": {"name": "eth0", "bridge": "lxcbr0", "ip": format!("10.9.0.{n}/24"), "gw": "10.9.0.1"},
        "mac_address": format!("52:54:00:00:00:{n:02x}"), "unprivileged": true
    });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

/// A sim site with these `lxc_configs`, a script for each of `features` and the
/// app script `apps/app.sh`.
pub(crate) fn site(lxc_configs: &Value, features: &[&str]) -> SimSite {
    let site = Site::empty();
    let defs = &site.defs;
    let lxc = json!({ "lxc_configs": lxc_configs });
    std::fs::create_dir_all(defs.join("features/lxc")).unwrap();
    std::fs::create_dir_all(defs.join("apps")).unwrap();
    std::fs::write(
        defs.join("phoenix_lxc_configs.json"),
        serde_json::to_string_pretty(&lxc).unwrap(),
    )
    .unwrap();
    std::fs::write(
        defs.join("phoenix_hypervisor_config.json"),
        r#"{"version": "1"}"#,
    )
    .unwrap();
    for f in features {
        std::fs::write(
            defs.join(format!("features/lxc/{f}.sh")),
            format!("#!/bin/sh\necho {f}\n"),
        )
        .unwrap();
    }
    std::fs::write(defs.join("apps/app.sh"), "#!/bin/sh\necho app\n").unwrap();
    let sim = site.path().join("sim");
    let site = site
        .backend(["--backend", "sim", "--sim-dir"])
        .backend([&sim])
        .env("PHOENIX_RETRY_BACKOFF_MS", "10");
    SimSite { site, sim }
}

impl SimSite {
    /// The same site with `k=v` in phoenix's environment.
    pub(crate) fn env(self, k: &str, v: &str) -> SimSite {
        SimSite {
            site: self.site.env(k, v),
            sim: self.sim,
        }
    }

    /// The site, and the simulated host's directory.
    pub(crate) fn into_parts(self) -> (Site, PathBuf) {
        (self.site, self.sim)
    }

    pub(crate) fn faults(&self, faults: &Value) {
        std::fs::create_dir_all(&self.sim).unwrap();
        std::fs::write(self.sim.join("faults.json"), faults.to_string()).unwrap();
    }

    /// The simulated host's guests, as `guests.json` holds them (after a build,
    /// which folds its log in).
    pub(crate) fn host(&self) -> Vec<Value> {
        let v: Value = serde_json::from_str(
            &std::fs::read_to_string(self.sim.join("guests.json")).unwrap_or_else(|_| "[]".into()),
        )
        .unwrap();
        v.as_array().unwrap().clone()
    }

    /// Guests on the simulated host.
    pub(crate) fn guests(&self) -> Vec<String> {
        let v: Value = serde_json::from_str(
            &std::fs::read_to_string(self.sim.join("guests.json")).unwrap_or_else(|_| "[]".into()),
        )
        .unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|g| g["node"].as_str().unwrap().to_string())
            .collect()
    }

    pub(crate) fn ops(&self) -> Vec<Op> {
        std::fs::read_to_string(self.sim.join("ops.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let mut p = l.splitn(5, ' ');
                let start = p.next().unwrap().parse().unwrap();
                let end = p.next().unwrap().parse().unwrap();
                Op {
                    start,
                    end,
                    node: p.next().unwrap().into(),
                    op: p.next().unwrap().into(),
                    detail: p.next().unwrap_or("").into(),
                }
            })
            .collect()
    }
}

#[derive(Debug)]
pub(crate) struct Op {
    pub(crate) start: u128,
    pub(crate) end: u128,
    pub(crate) node: String,
    pub(crate) op: String,
    pub(crate) detail: String,
}
