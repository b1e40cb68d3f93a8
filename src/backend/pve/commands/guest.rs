//! Commands that are the same for containers and VMs but for the tool (`pct` or
//! `qm`): firewall, snapshots, rollback, destroy, the stamp tags, the inventory.

use super::super::cmd::{Cmd, id, tool};
use crate::defs::{Guest, GuestKind};

/// Firewall: switch the guest's firewall on or off, replace its rules. `existing`
/// is the number of rules it has now (they are deleted from the last one down).
pub fn firewall(g: &Guest, node: &str, existing: usize) -> Vec<Cmd> {
    let kind = if g.kind == GuestKind::Ct {
        "lxc"
    } else {
        "qemu"
    };
    let base = format!("/nodes/{node}/{kind}/{}/firewall", g.id);
    let enabled = g.firewall.enabled;
    let mut cmds =
        vec![Cmd::new(["pvesh", "set", &format!("{base}/options")]).flag("enable", enabled)];
    for pos in (0..existing).rev() {
        cmds.push(Cmd::new([
            "pvesh",
            "delete",
            &format!("{base}/rules/{pos}"),
        ]));
    }
    if !enabled {
        return cmds;
    }
    for rule in &g.firewall.rules {
        let mut c = Cmd::new(["pvesh", "create", &format!("{base}/rules")])
            .opt("type", rule.direction.as_str())
            .opt("action", rule.action.as_str())
            .opt("enable", "1");
        for (name, value) in [
            ("source", &rule.source),
            ("dest", &rule.dest),
            ("proto", &rule.proto),
            ("dport", &rule.port),
            ("comment", &rule.comment),
        ] {
            c = c.opt_if(name, value.clone());
        }
        cmds.push(c);
    }
    cmds
}

/// Retake a snapshot: delete the old one of that name first when there is one.
pub fn snapshot(g: &Guest, name: &str, exists: bool) -> Vec<Cmd> {
    let tool = tool(g);
    let mut cmds = Vec::new();
    if exists {
        cmds.push(Cmd::new([tool, "delsnapshot", &id(g), name]));
    }
    cmds.push(Cmd::new([tool, "snapshot", &id(g), name]));
    cmds
}

pub fn rollback(g: &Guest, name: &str) -> Cmd {
    Cmd::new([tool(g), "rollback", &id(g), name])
}

pub fn destroy(g: &Guest) -> Vec<Cmd> {
    vec![
        Cmd::new([tool(g), "stop", &id(g)]),
        Cmd::new([tool(g), "destroy", &id(g)]).opt("purge", "1"),
    ]
}

/// Stamp the guest: the `phoenix` tag marks ownership, a second tag carries the key.
pub fn stamp(g: &Guest, tags: &str) -> Cmd {
    Cmd::new([tool(g), "set", &id(g)]).opt("tags", tags)
}

/// Tags for a stamp: `phoenix;phx-built-<key prefix>` or `phoenix;phx-building`.
pub fn stamp_tags(stamp: &str) -> String {
    match stamp.strip_prefix("built:") {
        Some(key) => format!("phoenix;phx-built-{}", &key[..key.len().min(32)]),
        None => "phoenix;phx-building".into(),
    }
}

/// Everything on the host in one call.
pub fn inventory() -> Cmd {
    Cmd::new([
        "pvesh",
        "get",
        "/cluster/resources",
        "--type",
        "vm",
        "--output-format",
        "json",
    ])
}
