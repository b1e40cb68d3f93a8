//! Snapshots: retaking one, and rolling back to a feature's `pre-<feature>`.
//!
//! On ZFS (and on qcow2 volume chains) Proxmox only rolls back to the most recent
//! snapshot: pve-storage `PVE::Storage::ZFSPoolPlugin::volume_rollback_is_possible`
//! dies with "can't rollback, '\<snap>' is not most recent snapshot on '\<volid>'",
//! reached from pve-guest-common `PVE::AbstractConfig::snapshot_rollback` before the
//! guest is even stopped. So before `pct rollback`/`qm rollback` phoenix deletes the
//! snapshots it took after the target (later features' `pre-*` and the guest's
//! template snapshot), newest first, on every storage (elsewhere it does no harm:
//! rolling back makes them stale anyway). A snapshot phoenix did not take is never
//! deleted: when one is newer, the rollback is refused, naming it.

use super::super::cmd::{Cmd, id, tool};
use crate::defs::Guest;

/// One snapshot as `pct listsnapshot`/`qm listsnapshot` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotNow {
    pub name: String,
    /// `YYYY-MM-DD HH:MM:SS` as listed (sorts as text), when listed.
    pub taken: Option<String>,
}

/// Parse `listsnapshot` (a tree: `` `-> name  2026-01-01 10:00:00  description``),
/// oldest first; `current` (the "You are here!" line) is not a snapshot.
pub fn parse_listsnapshot(text: &str) -> Vec<SnapshotNow> {
    let mut snaps: Vec<SnapshotNow> = text
        .lines()
        .filter_map(|l| {
            let mut words = l
                .trim_start_matches(|c: char| {
                    c == '`' || c == '-' || c == '>' || c == '|' || c.is_whitespace()
                })
                .split_whitespace();
            let name = words.next()?.to_string();
            let (date, time) = (words.next(), words.next());
            let taken = match (date, time) {
                (Some(d), Some(t)) if d.len() == 10 && d.as_bytes()[4] == b'-' => {
                    Some(format!("{d} {t}"))
                }
                _ => None,
            };
            (name != "current").then_some(SnapshotNow { name, taken })
        })
        .collect();
    // The tree lists branches depth first; creation time is what ZFS orders by.
    snaps.sort_by(|a, b| a.taken.cmp(&b.taken));
    snaps
}

/// Whether phoenix took the snapshot: a feature's `pre-*` (`pre-configured`
/// among them), the guest's template snapshot or its lifecycle `final-form`.
pub fn is_own_snapshot(g: &Guest, name: &str) -> bool {
    name.starts_with(crate::step::PRE_SNAPSHOT)
        || name == g.template_snapshot_name()
        || (g.lifecycle_snapshots && name == crate::step::FINAL_FORM)
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

/// The rollback alone.
pub fn rollback(g: &Guest, name: &str) -> Cmd {
    Cmd::new([tool(g), "rollback", &id(g), name])
}

/// Roll back to `name` given the guest's snapshots (oldest first): phoenix's own
/// newer snapshots deleted newest first, then the rollback. An error naming them
/// when the target is missing or a newer snapshot is not phoenix's.
pub fn rollback_to(g: &Guest, name: &str, snaps: &[SnapshotNow]) -> Result<Vec<Cmd>, String> {
    let at = snaps
        .iter()
        .position(|s| s.name == name)
        .ok_or_else(|| format!("{} has no snapshot `{name}`", g.label()))?;
    let newer = &snaps[at + 1..];
    let foreign: Vec<&str> = newer
        .iter()
        .filter(|s| !is_own_snapshot(g, &s.name))
        .map(|s| s.name.as_str())
        .collect();
    if !foreign.is_empty() {
        return Err(format!(
            "{} cannot roll back to `{name}`: snapshot `{}` was taken after it and is not phoenix's (Proxmox on ZFS only rolls back to the newest snapshot); delete it or roll back by hand",
            g.label(),
            foreign.join("`, `")
        ));
    }
    let mut cmds: Vec<Cmd> = newer
        .iter()
        .rev()
        .map(|s| Cmd::new([tool(g), "delsnapshot", &id(g), &s.name]))
        .collect();
    cmds.push(rollback(g, name));
    Ok(cmds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defs::{GuestKind, TemplateModel};

    fn guest() -> Guest {
        let mut g = Guest::empty(GuestKind::Ct, 900, "f.json", "x");
        g.features = vec!["base".into(), "docker".into(), "nvidia".into()];
        g.template = TemplateModel::Snapshot {
            name: "final-form".into(),
        };
        g
    }

    const LIST: &str = "`-> pre-base          2026-01-01 10:00:00     no-description\n  `-> pre-docker      2026-01-01 10:05:00     no-description\n    `-> pre-nvidia    2026-01-01 10:09:00     no-description\n      `-> final-form  2026-01-01 10:20:00     no-description\n        `-> current                           You are here!\n";

    #[test]
    fn newer_own_snapshots_go_newest_first_before_the_rollback() {
        let snaps = parse_listsnapshot(LIST);
        assert_eq!(snaps.len(), 4);
        let cmds: Vec<String> = rollback_to(&guest(), "pre-docker", &snaps)
            .unwrap()
            .iter()
            .map(Cmd::display)
            .collect();
        assert_eq!(
            cmds,
            [
                "pct delsnapshot 900 final-form",
                "pct delsnapshot 900 pre-nvidia",
                "pct rollback 900 pre-docker"
            ]
        );
    }

    #[test]
    fn a_newer_foreign_snapshot_is_never_deleted() {
        let list = format!("{LIST}`-> before-upgrade  2026-02-01 00:00:00  mine\n");
        let err = rollback_to(&guest(), "pre-docker", &parse_listsnapshot(&list)).unwrap_err();
        assert!(err.contains("`before-upgrade`"), "{err}");
        assert!(rollback_to(&guest(), "pre-gone", &parse_listsnapshot(LIST)).is_err());
    }

    #[test]
    fn branches_are_ordered_by_time_not_by_the_tree() {
        let list = "`-> a  2026-01-01 10:00:00  x\n  `-> pre-b  2026-01-01 12:00:00  x\n  `-> pre-c  2026-01-01 11:00:00  x\n`-> current  You are here!\n";
        let names: Vec<String> = parse_listsnapshot(list)
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["a", "pre-c", "pre-b"]);
    }
}
