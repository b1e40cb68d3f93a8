//! Guests built by hand with the shell tool's command sequence (reference §2.1),
//! through the stand-in: what `phoenix adopt` takes over.

use std::path::Path;

use phoenix::defs::{Definitions, GuestKind, Severity};
use serde_json::{Value, json};

use super::super::StandIn;

/// Run a stand-in command that must succeed; its stdout.
#[track_caller]
pub(super) fn ok(pve: &StandIn, argv: &[&str]) -> String {
    let out = pve.run(argv);
    assert!(
        out.status.success(),
        "{}: {}",
        argv.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Build container `id` of the definitions in `defs` as the shell tool's `create`
/// does (reference §2.1), through the stand-in, its clone sources first when
/// they are missing: `pct create` from the OS template (or `pct clone` of the
/// source's template snapshot), `pct stop`, `pct set` of memory, cores, onboot,
/// startup and net0, `--features` from `pct_options`, the firewall (`firewall=1`
/// on net0, every rule deleted and created again with `--enable 1`; its options
/// never written), `pct resize`, `pct start`, and the template snapshot. A
/// missing `boot_delay` is 0, as phoenix takes it (the shell tool's `--startup`
/// is invalid without one). Nothing runs inside the guest. Leaves the guest
/// running.
pub(in crate::pve_standin) fn shell_tool_build(pve: &StandIn, defs: &Path, id: u32) {
    let defs = phoenix::pipeline::load(defs, Severity::Error).defs;
    shell_tool_guest(pve, &defs, id);
}

fn shell_tool_guest(pve: &StandIn, defs: &Definitions, id: u32) {
    let exists = |id: u32| {
        pve.run(&["pct", "status", &id.to_string()])
            .status
            .success()
    };
    if exists(id) {
        return;
    }
    let g = defs.guest(id).unwrap();
    assert_eq!(
        g.kind,
        GuestKind::Ct,
        "the shell tool's §2.1 is for containers"
    );
    let ids = id.to_string();
    let pool = g.shape.storage_pool.clone().unwrap();
    let net = &g.net;
    let mut net0 = format!(
        "name={},bridge={}",
        net.name.as_deref().unwrap_or("eth0"),
        net.bridge.as_deref().unwrap_or("vmbr0")
    );
    for (k, v) in [
        ("ip", net.ip.map(|i| i.to_string())),
        ("gw", net.gateway.map(|g| g.to_string())),
        ("hwaddr", net.mac.clone()),
    ] {
        if let Some(v) = v {
            net0 += &format!(",{k}={v}");
        }
    }
    let name = g.name.as_str();
    let memory = g.settings.memory_mb.unwrap().to_string();
    let cores = g.settings.cores.unwrap().to_string();
    if let Some((src, _)) = &g.clone_from {
        shell_tool_guest(pve, defs, *src);
        let snap = defs.guest(*src).unwrap().template.snapshot_name().unwrap();
        let src = src.to_string();
        ok(
            pve,
            &[
                "pct",
                "clone",
                &src,
                &ids,
                "--snapname",
                snap,
                "--hostname",
                name,
                "--storage",
                &pool,
            ],
        );
    } else {
        let rootfs = format!("{pool}:{}", g.settings.disk_gb.unwrap());
        let unprivileged = if g.shape.unprivileged { "1" } else { "0" };
        ok(
            pve,
            &[
                "pct",
                "create",
                &ids,
                g.shape.os_template.as_deref().unwrap(),
                "--hostname",
                name,
                "--memory",
                &memory,
                "--cores",
                &cores,
                "--storage",
                &pool,
                "--rootfs",
                &rootfs,
                "--net0",
                &net0,
                "--unprivileged",
                unprivileged,
            ],
        );
    }
    let _ = pve.run(&["pct", "stop", &ids]);
    let order = g.settings.boot_order.unwrap_or(0);
    let delay = g.settings.boot_delay.unwrap_or(0);
    let startup = format!("order={order},up={delay},down={delay}");
    let onboot = if g.settings.start_at_boot { "1" } else { "0" };
    ok(
        pve,
        &[
            "pct",
            "set",
            &ids,
            "--memory",
            &memory,
            "--cores",
            &cores,
            "--onboot",
            onboot,
            "--startup",
            &startup,
            "--net0",
            &net0,
        ],
    );
    if !g.settings.pct_features.is_empty() {
        ok(
            pve,
            &[
                "pct",
                "set",
                &ids,
                "--features",
                &g.settings.pct_features.join(","),
            ],
        );
    }
    if g.firewall.enabled {
        ok(
            pve,
            &["pct", "set", &ids, "--net0", &format!("{net0},firewall=1")],
        );
        let base = format!("/nodes/pve/lxc/{id}/firewall/rules");
        let rules: Value = serde_json::from_str(&ok(
            pve,
            &["pvesh", "get", &base, "--output-format", "json"],
        ))
        .unwrap_or(json!([]));
        for pos in (0..rules.as_array().map_or(0, Vec::len)).rev() {
            ok(pve, &["pvesh", "delete", &format!("{base}/{pos}")]);
        }
        for r in &g.firewall.rules {
            let mut argv = vec![
                "pvesh".to_string(),
                "create".into(),
                base.clone(),
                "--type".into(),
                r.direction.as_str().into(),
                "--action".into(),
                r.action.as_str().into(),
                "--enable".into(),
                "1".into(),
            ];
            for (k, v) in [
                ("source", &r.source),
                ("dest", &r.dest),
                ("proto", &r.proto),
                ("dport", &r.port),
                ("comment", &r.comment),
            ] {
                if let Some(v) = v {
                    argv.extend([format!("--{k}"), v.clone()]);
                }
            }
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            ok(pve, &argv);
        }
    }
    if let Some(gb) = g.settings.disk_gb {
        ok(pve, &["pct", "resize", &ids, "rootfs", &format!("{gb}G")]);
    }
    ok(pve, &["pct", "start", &ids]);
    if let Some(snap) = g.template.snapshot_name() {
        ok(pve, &["pct", "snapshot", &ids, snap]);
    }
}
