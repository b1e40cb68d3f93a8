//! The cross-guest checks, run side by side and put together in their order.
//!
//! At 10,000 guests the eight checks take as long as building the graph, and
//! both were one core's work in turn. None of them changes the definitions as it
//! reads them, and the graph does not read what the one change they make touches
//! (a snapshot template Proxmox cannot snapshot, which nothing clones, is built as
//! a plain container: [`check_template_snapshots`]). So the checks run in two
//! groups of about equal cost, beside the graph and the script checks
//! (`pipeline::load`), each into its own list; [`Across::apply`] then adds the
//! lists in the order the checks always ran in, runs the last check (which reads
//! what was reported before it), and makes the change. The diagnostics are those
//! the checks gave one after the other, in the same order.

use super::checks::{
    check_clone_disk_sizes, check_control_characters, check_duplicates, check_firewall_policies,
    check_inherited_raw_lines, check_references, check_template_conversions,
    check_template_snapshots,
};
use super::diag::Diagnostics;
use super::model::Definitions;
use super::settings::TemplateModel;

/// What the cross-guest checks found, check by check in their order, and the
/// guests to build as plain containers.
pub struct Across {
    found: Vec<Diagnostics>,
    plain: Vec<u32>,
}

/// Run the cross-guest checks over `defs`, on whichever cores are free.
pub fn across(defs: &Definitions) -> Across {
    let one = |check: fn(&Definitions, &mut Diagnostics)| {
        let mut found = Diagnostics::default();
        check(defs, &mut found);
        found
    };
    let ((references, raw_lines, (snapshots, plain)), (duplicates, rest)) = rayon::join(
        || {
            let mut snapshots = Diagnostics::default();
            let plain = check_template_snapshots(defs, &mut snapshots);
            (
                one(check_references),
                one(check_inherited_raw_lines),
                (snapshots, plain),
            )
        },
        || {
            (
                one(check_duplicates),
                [
                    one(check_template_conversions),
                    one(check_firewall_policies),
                    one(check_clone_disk_sizes),
                ],
            )
        },
    );
    let mut found = vec![references, duplicates, raw_lines, snapshots];
    found.extend(rest);
    Across { found, plain }
}

impl Across {
    /// Add what the checks found to `diags`, in their order, and build the snapshot
    /// templates Proxmox cannot snapshot, which nothing clones, as plain containers.
    ///
    /// The last check, for control characters, runs here, on one core: it leaves
    /// out a value something before it reported already, so it reads `diags` as
    /// every other check and reader left them. It reads again only the rare guest
    /// found with one.
    pub fn apply(self, defs: &mut Definitions, diags: &mut Diagnostics) {
        for found in self.found {
            diags.extend(found);
        }
        check_control_characters(defs, diags);
        for id in self.plain {
            if let Some(g) = defs.guests.get_mut(&id) {
                g.template = TemplateModel::None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::defs::load_unchecked;

    /// The checks as they ran before: one after the other, the snapshot check
    /// changing the definitions before the four after it read them.
    fn one_after_the_other(defs: &mut Definitions, diags: &mut Diagnostics) {
        check_references(defs, diags);
        check_duplicates(defs, diags);
        check_inherited_raw_lines(defs, diags);
        for id in check_template_snapshots(defs, diags) {
            if let Some(g) = defs.guests.get_mut(&id) {
                g.template = TemplateModel::None;
            }
        }
        check_template_conversions(defs, diags);
        check_firewall_policies(defs, diags);
        check_clone_disk_sizes(defs, diags);
        check_control_characters(defs, diags);
    }

    /// A tree whose snapshot templates Proxmox cannot snapshot: 205 (a bind mount)
    /// nothing clones, so it is built plain; 206 (a directory storage) is cloned,
    /// an error; 208, a converted template with a bind mount, another error.
    fn unsnapshottable(dir: &Path) {
        use serde_json::json;
        let host = json!({ "zfs": { "datasets": [
            { "pool": "tank", "name": "ct", "proxmox_storage_type": "zfspool" },
            { "pool": "tank", "name": "files", "proxmox_storage_type": "dir" } ] } });
        let bind = json!([{ "host_path": "/srv/a", "container_path": "/a" }]);
        let ct = |storage: &str| {
            json!({ "name": "c", "template": "local:vztmpl/x.tar.zst",
                    "storage_pool": storage, "memory_mb": 512 })
        };
        let mut lxc = json!({ "lxc_configs": {
            "205": ct("tank-ct"), "206": ct("tank-files"), "208": ct("tank-ct"),
            "207": { "name": "c7", "clone_from_ctid": "206", "memory_mb": 512 } } });
        let g = &mut lxc["lxc_configs"];
        g["205"]["template_snapshot_name"] = json!("ts");
        g["205"]["mount_points"] = bind.clone();
        g["206"]["template_snapshot_name"] = json!("us");
        g["208"]["is_template"] = json!(true);
        g["208"]["mount_points"] = bind;
        std::fs::write(
            dir.join(crate::defs::layout::HYPERVISOR_FILE),
            host.to_string(),
        )
        .unwrap();
        std::fs::write(dir.join(crate::defs::layout::LXC_FILE), lxc.to_string()).unwrap();
    }

    /// Every broken tree of the tests, the example definitions and a tree with
    /// templates Proxmox cannot make: side by side, the checks find what they found
    /// one after the other, in the same order, and leave the same templates.
    #[test]
    fn side_by_side_the_checks_find_what_they_found_one_after_the_other() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut dirs: Vec<_> = std::fs::read_dir(root.join("tests/broken"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        dirs.push(root.join("graph-defs"));
        dirs.sort();
        let made = tempfile::tempdir().unwrap();
        unsnapshottable(made.path());
        dirs.push(made.path().to_path_buf());
        let mut found = 0;
        let mut made_plain = 0;
        for dir in dirs.iter().filter(|d| d.is_dir()) {
            let (mut serial, mut serial_diags) = load_unchecked(dir, crate::defs::KeyTexts::Now);
            one_after_the_other(&mut serial, &mut serial_diags);
            let (mut side, mut side_diags) = load_unchecked(dir, crate::defs::KeyTexts::Now);
            across(&side).apply(&mut side, &mut side_diags);
            let show = |d: &Diagnostics| d.0.iter().map(|d| format!("{d:?}")).collect::<Vec<_>>();
            assert_eq!(show(&side_diags), show(&serial_diags), "{}", dir.display());
            let templates = |d: &Definitions| {
                d.guests
                    .values()
                    .map(|g| (g.id, g.template.clone()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(templates(&side), templates(&serial), "{}", dir.display());
            found += serial_diags.0.len();
            let (read, _) = load_unchecked(dir, crate::defs::KeyTexts::Now);
            made_plain += templates(&read)
                .iter()
                .zip(templates(&side))
                .filter(|(a, b)| **a != *b)
                .count();
        }
        assert!(found > 50, "the trees are broken: {found} diagnostics");
        assert_eq!(made_plain, 1, "205 is built plain");
    }
}
