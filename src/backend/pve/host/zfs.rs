//! The `host:zfs` step: pools (after checking every disk, see `prepare_disks`),
//! datasets, the ARC limit, and the storages on the datasets.

use super::super::Pve;
use super::super::cmd::Cmd;
use super::model::{Pool, arc_max_bytes, datasets, pools, zfs_storages};
use super::parse::{importable_pools, is_member, signatures};
use super::steps::SHORT;
use crate::backend::{HostStep, Log, OpError, OpResult};

impl Pve {
    pub(in crate::backend::pve) fn zfs(&self, step: &HostStep, log: &mut Log) -> OpResult {
        let host = &step.defs.host;
        for (i, pool) in pools(host).iter().enumerate() {
            if self
                .check(
                    &Cmd::new(["zpool", "list", "-H", "-o", "name", &pool.name]),
                    SHORT,
                    log,
                )
                .is_ok()
            {
                log.note(&format!(
                    "pool {} exists; its disks are left as they are",
                    pool.name
                ));
                continue;
            }
            self.prepare_disks(pool, i, step, log)?;
            self.check(&pool.create(), step.timeout, log)?;
        }
        for d in datasets(host) {
            let exists = self
                .check(
                    &Cmd::new(["zfs", "list", "-H", "-o", "name", &d.full_name()]),
                    SHORT,
                    log,
                )
                .is_ok();
            if !exists {
                self.check(&d.create(), step.timeout, log)?;
            } else if let Some(set) = d.set() {
                self.check(&set, step.timeout, log)?;
            }
        }
        if let Some(bytes) = arc_max_bytes(host) {
            // Read after the installer's zfs.conf (modprobe reads the files in name
            // order, and the last value given wins).
            self.runner.upload(
                &self.host_path("/etc/modprobe.d/zz-phoenix-zfs-arc.conf"),
                format!("# written by phoenix host:zfs (zfs.arc_max_gb)\noptions zfs zfs_arc_max={bytes}\n").as_bytes(),
                log,
            )?;
            // With the root on ZFS the module loads from the initramfs.
            let root_fs = self
                .check(
                    &Cmd::new(["findmnt", "-n", "-o", "FSTYPE", "/"]),
                    SHORT,
                    log,
                )
                .unwrap_or_default();
            if root_fs.trim() == "zfs" {
                self.check(
                    &Cmd::new(["update-initramfs", "-u", "-k", "all"]),
                    step.timeout,
                    log,
                )?;
            }
            // Applies now as well as at the next boot.
            if let Err(e) = self.runner.upload(
                &self.host_path("/sys/module/zfs/parameters/zfs_arc_max"),
                format!("{bytes}\n").as_bytes(),
                log,
            ) {
                log.note(&format!(
                    "the ARC limit applies at the next boot: {}",
                    e.message
                ));
            }
        }
        self.sync_storages("zfs", &zfs_storages(host), log)
    }

    /// Check every disk of a pool about to be created. A disk holding anything is
    /// erased only with `--wipe-disks`; without it, the step stops before any disk
    /// is touched and says which disks hold what.
    fn prepare_disks(&self, pool: &Pool, index: usize, step: &HostStep, log: &mut Log) -> OpResult {
        // Members as given at creation and with links resolved (by-id names).
        let mut members = String::new();
        for args in [&["status", "-P"][..], &["status", "-P", "-L"][..]] {
            let mut c = Cmd::new(["zpool"]);
            c.argv.extend(args.iter().map(|a| (*a).to_string()));
            if let Ok(r) = self.runner.run(&c, None, SHORT, log) {
                members.push_str(&r.stdout);
            }
        }
        // Pools that exist on disks but are not imported: after a reinstall the host
        // ID changes and nothing imports them. They hold data, not leftovers.
        let importable = importable_pools(
            &self
                .runner
                .run(&Cmd::new(["zpool", "import"]), None, SHORT, log)
                .map(|r| r.stdout)
                .unwrap_or_default(),
        );
        let mut holding = Vec::new();
        for disk in &pool.disks {
            let resolved = self
                .check(&Cmd::new(["readlink", "-f", disk.as_str()]), SHORT, log)
                .map(|o| o.trim().to_string())
                .unwrap_or_default();
            let names: Vec<&str> = [disk.as_str(), resolved.as_str()]
                .into_iter()
                .filter(|n| !n.is_empty())
                .flat_map(|n| [n, n.rsplit('/').next().unwrap_or(n)])
                .collect();
            if let Some((found, _)) = importable.iter().find(|(name, devices)| {
                *name == pool.name
                    || devices
                        .iter()
                        .any(|d| names.iter().any(|n| is_member(d, n)))
            }) {
                return Err(OpError::new(format!(
                    "disk {disk} (zfs.pools[{index}].disks) holds ZFS pool `{found}`, which exists but is not imported. Nothing was changed, and phoenix erases no disk of an importable pool, --wipe-disks or not: import it with `zpool import {found}` (add -f if another host used it last), or destroy it yourself if its data may go"
                )));
            }
            if members
                .split_whitespace()
                .any(|w| is_member(w, disk) || (!resolved.is_empty() && is_member(w, &resolved)))
            {
                return Err(OpError::new(format!(
                    "disk {disk} (zfs.pools[{index}].disks) belongs to an imported ZFS pool; phoenix never touches it. Nothing was changed; fix the disk list of pool {}",
                    pool.name
                )));
            }
            let ran = self
                .runner
                .run(&Cmd::new(["wipefs", "--json", disk]), None, SHORT, log)?;
            if ran.status != 0 {
                return Err(OpError::new(format!(
                    "disk {disk} (zfs.pools[{index}].disks) cannot be read: {}. Nothing was changed; fix the path (a /dev/disk/by-id/ name is stable)",
                    crate::backend::command::last_lines(ran.stderr.lines())
                )));
            }
            let found = signatures(&ran.stdout).map_err(OpError::new)?;
            if !found.is_empty() {
                holding.push((disk, found));
            }
        }
        if holding.is_empty() {
            return Ok(());
        }
        if !step.wipe_disks {
            let list: Vec<String> = holding
                .iter()
                .map(|(d, f)| format!("{d} holds {}", f.join(", ")))
                .collect();
            return Err(OpError::new(format!(
                "pool {} not created: {}. Nothing was erased; if these disks may be erased, run again with --wipe-disks (their data is lost)",
                pool.name,
                list.join("; ")
            )));
        }
        for (disk, found) in &holding {
            log.note(&format!(
                "--wipe-disks: erasing {disk} ({})",
                found.join(", ")
            ));
            self.check(&Cmd::new(["wipefs", "--all", disk.as_str()]), SHORT, log)?;
        }
        Ok(())
    }
}
