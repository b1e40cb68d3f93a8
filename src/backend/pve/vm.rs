//! VMs on Proxmox, past the plain `qm` calls: the cloud image a template is made
//! from, the guest agent, cloud-init, NFS volumes and template generalisation.
//!
//! What the shell tool got wrong here (reference §3, §7 "VMs / cloud-init / guest
//! agent") and phoenix does instead:
//! - The image is downloaded once to the host's image directory (to a partial file,
//!   checked against `template_image_sha256` or the publisher's `SHA256SUMS`, then
//!   renamed), not fetched afresh to `/tmp` on every run. It is customised (guest
//!   agent, NFS client) in a per-VM copy, so the downloaded file stays pristine.
//! - cloud-init's exit 2 (recoverable errors) gets one reboot and a second wait;
//!   anything else non-zero fails the step.
//! - NFS volumes go into one marked block of the guest's `/etc/fstab`, so a removed
//!   volume's line goes away instead of accumulating; host directories are created
//!   only when the host itself serves the export, and are not made world-writable.
//! - A template is generalised (instance data and machine ID removed, `cloud-init
//!   clean` last because it can stop the agent) and shut down cleanly before
//!   `qm template`.
//!
//! Everything inside the guest goes through the guest agent (`agent`), where long
//! commands run detached and are polled.

use std::time::Duration;

use super::Pve;
use super::client::SHORT;
use super::cmd::Cmd;
use super::commands::{self, Current};
use super::host::{nfs_server, with_block};
use crate::backend::{GuestCtx, Log, OpError, OpResult};
use crate::defs::NfsMount;

const FSTAB_BEGIN: &str = "# BEGIN phoenix: NFS volumes of this VM, managed by phoenix";

/// The `/etc/fstab` lines for the volumes.
pub fn fstab_lines(volumes: &[NfsMount]) -> Vec<String> {
    volumes
        .iter()
        .map(|v| {
            format!(
                "{} {} nfs defaults,_netdev,nofail 0 0",
                v.source(),
                v.mount_point
            )
        })
        .collect()
}

impl Pve {
    pub(super) fn cloud_init_wait(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        let argv: Vec<String> = ["cloud-init", "status", "--wait"]
            .map(String::from)
            .to_vec();
        for round in 0..2 {
            let (code, last) = self.agent_detached(
                g,
                "cloud-init status --wait",
                &argv,
                "/phoenix/run/cloud-init-wait",
                Duration::from_secs(900).min(g.timeout),
                log,
            )?;
            match code {
                0 => return Ok(()),
                127 => {
                    log.note("no cloud-init in this image; nothing to wait for");
                    return Ok(());
                }
                2 if round == 0 => {
                    log.note("cloud-init finished with recoverable errors: rebooting once");
                    self.check(
                        &Cmd::new(["qm", "reboot", &g.guest.id.to_string()]),
                        g.timeout,
                        log,
                    )?;
                    self.wait_agent(g, log)?;
                }
                _ => {
                    return Err(OpError::new(format!(
                        "cloud-init failed in {} (exit {code}): {last}",
                        g.node
                    )));
                }
            }
        }
        Err(OpError::new(format!(
            "cloud-init still reports errors in {} after a reboot",
            g.node
        )))
    }

    /// Mount the VM's NFS volumes: the host directory when this host serves it, the
    /// fstab block, the mount points, each mounted (with retries) and checked.
    pub(super) fn vm_volumes(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        let volumes = &g.guest.mounts.nfs;
        let fstab = match self.agent_run(g, &["cat", "/etc/fstab"], log) {
            Ok(text) => text,
            Err(e) if e.message.contains("No such file") => String::new(),
            Err(e) => return Err(e),
        };
        let new = with_block(&fstab, FSTAB_BEGIN, &fstab_lines(volumes))
            .map_err(|e| OpError::new(format!("/etc/fstab in {}: {e}", g.node)))?;
        if volumes.is_empty() && new == fstab {
            return Ok(());
        }
        let this_host = nfs_server(&g.defs.host);
        for v in volumes {
            if this_host
                .as_deref()
                .is_some_and(|ip| v.source().starts_with(&format!("{ip}:")))
            {
                self.check(
                    &Cmd::new(["mkdir", "-p", &self.host_path(&v.path)]),
                    SHORT,
                    log,
                )?;
            }
        }
        if new != fstab {
            self.agent_put(g, "/etc/fstab", new.as_bytes(), log)?;
        }
        for v in volumes {
            let (src, mp) = (v.source(), v.mount_point.as_str());
            // Detached like any long command: a slow mount is waited for, not cut off
            // by the agent's short synchronous window.
            let mount: Vec<String> = [
                "/bin/sh",
                "-c",
                "mkdir -p \"$1\" && for try in 1 2 3; do mountpoint -q \"$1\" && exit 0; mount \"$1\" || sleep 3; done; mountpoint -q \"$1\"",
                "sh",
                mp,
            ]
            .map(String::from)
            .to_vec();
            let (code, last) = self.agent_detached(
                g,
                &format!("mounting {mp}"),
                &mount,
                "/phoenix/run/mount",
                Duration::from_secs(300),
                log,
            )?;
            if code != 0 {
                return Err(OpError::new(format!(
                    "NFS volume {src} is not mounted at {mp} (exit {code}: {last}); check that the host exports it (host:nfs) to this VM's address"
                )));
            }
        }
        Ok(())
    }

    /// The template step of a template VM: generalise it if it ran, shut it down,
    /// convert it.
    pub(super) fn vm_make_template(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        if self.status(g, log)?.contains("running") {
            let cmds = commands::vm_generalise(g.guest);
            let (clean, rest) = cmds.split_last().unwrap_or_else(|| unreachable!());
            self.all(rest, SHORT, log)?;
            // `cloud-init clean` may take the agent down with it before it answers.
            if let Err(e) = self.check(clean, SHORT, log) {
                log.note(&format!(
                    "cloud-init clean: {} (the agent may have stopped)",
                    e.message
                ));
            }
        }
        self.all(&commands::vm_template(g.guest), g.timeout, log)
    }

    /// Grow the boot disk to `disk_size_gb` when it is smaller.
    pub(super) fn grow_vm_disk(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        if g.guest.settings.disk_gb.is_none() {
            return Ok(());
        }
        let config = self.check(
            &Cmd::new(["qm", "config", &g.guest.id.to_string()]),
            SHORT,
            log,
        )?;
        match commands::vm_grow_disk(g.guest, &Current::parse(&config)) {
            Some(resize) => self.check(&resize, g.timeout, log).map(|_| ()),
            None => Ok(()),
        }
    }

    /// A template VM from its cloud image: fetched when the host lacks it,
    /// customised in a copy, imported, the copy removed.
    pub(super) fn create_template_vm(&self, g: &GuestCtx, tags: &str, log: &mut Log) -> OpResult {
        let dir = self.opts.image_dir.clone();
        self.fetch_image(g, &dir, log)?;
        self.ensure_tool("virt-customize", "libguestfs-tools", g.timeout, log)?;
        let work = commands::image_work_copy(g.guest, &dir);
        let result = self
            .all(&commands::image_customise(g.guest, &dir), g.timeout, log)
            .and_then(|()| {
                self.all(
                    &commands::vm_create_template(g.guest, &work, tags),
                    g.timeout,
                    log,
                )
            })
            .and_then(|()| self.grow_vm_disk(g, log));
        // The copy is only needed until it is imported, whatever happened.
        let _ = self.check(&Cmd::new(["rm", "-f", &work]), SHORT, log);
        result
    }

    /// Make sure the image is in `dir`: download it to a partial file, check its
    /// SHA-256 when one is known, rename it into place.
    fn fetch_image(&self, g: &GuestCtx, dir: &str, log: &mut Log) -> OpResult {
        let path = commands::image_path(g.guest, dir);
        if self
            .check(&Cmd::new(["test", "-f", &path]), SHORT, log)
            .is_ok()
        {
            return Ok(());
        }
        let url = commands::image_url(g.guest).ok_or_else(|| {
            OpError::new(format!(
                "cloud image {path} is not on the host and {} says nowhere to get it: set template_image_url (or vm_defaults.ubuntu_release for an Ubuntu image), or put the file there",
                g.node
            ))
        })?;
        // One partial file per VM: two templates of one image may download at once.
        let partial = format!("{path}.part-{}", g.guest.id);
        self.check(&Cmd::new(["mkdir", "-p", dir]), SHORT, log)?;
        log.note(&format!("downloading {url}"));
        self.check(&commands::image_download(&url, &partial), g.timeout, log)?;
        // The name the publisher's checksum list uses: the URL's.
        let name = url.rsplit('/').next().unwrap_or_default().to_string();
        let given = g.guest.shape.image.as_ref().and_then(|i| i.sha256.clone());
        let expected = if given.is_some() {
            given
        } else {
            // The publisher's list beside the image, when there is one.
            let sums = format!("{}/SHA256SUMS", url.rsplit_once('/').map_or("", |(d, _)| d));
            let fetch = Cmd::new([
                "curl",
                "--fail",
                "--location",
                "--silent",
                "--show-error",
                &sums,
            ]);
            let listed = self.check(&fetch, SHORT, log).unwrap_or_default();
            listed.lines().find_map(|l| {
                let (sum, file) = l.split_once(char::is_whitespace)?;
                (file.trim().trim_start_matches('*') == name).then(|| sum.to_ascii_lowercase())
            })
        };
        if let Some(want) = expected {
            let have = self
                .check(&Cmd::new(["sha256sum", &partial]), g.timeout, log)?
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            if have != want {
                let _ = self.check(&Cmd::new(["rm", "-f", &partial]), SHORT, log);
                return Err(OpError::new(format!(
                    "the download of {url} has SHA-256 {have}, not {want}; it was removed. Check template_image_sha256 or the URL"
                )));
            }
        } else {
            log.note(&format!(
                "no SHA-256 known for {name}; set template_image_sha256 to have downloads checked"
            ));
        }
        self.check(&Cmd::new(["mv", &partial, &path]), SHORT, log)
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fstab_lines_are_nofail_network_mounts() {
        let v = vec![NfsMount {
            name: None,
            server: "10.0.0.13".into(),
            path: "/tank/data/1001".into(),
            mount_point: "/persistent".into(),
        }];
        assert_eq!(
            fstab_lines(&v),
            ["10.0.0.13:/tank/data/1001 /persistent nfs defaults,_netdev,nofail 0 0"]
        );
        let fstab = "LABEL=root / ext4 defaults 0 1\n";
        let once = with_block(fstab, FSTAB_BEGIN, &fstab_lines(&v)).unwrap();
        assert!(once.starts_with(fstab));
        assert_eq!(
            with_block(&once, FSTAB_BEGIN, &fstab_lines(&v)).unwrap(),
            once
        );
        assert_eq!(
            with_block(&once, FSTAB_BEGIN, &[]).unwrap(),
            fstab,
            "a removed volume's line goes"
        );
    }
}
