//! Containers on Proxmox, past the plain `pct` calls: the raw `lxc.*` lines phoenix
//! writes into the config file itself (the `lxc_options`, and the `lxc.idmap` lines
//! of a map made from `id_maps`), the host's `/etc/subuid` and `/etc/subgid` lines
//! that map needs, and running a script inside (files staged on the host, pushed
//! in, run with the step's environment).
//!
//! A script runs under `timeout` inside the container ([`exec_command`]): killing
//! `pct exec` (or the ssh that runs it) at the step timeout does not end what it
//! started in the guest, where a timed-out `apt-get` would keep holding the dpkg
//! lock. Its failure is the script's, never a lock of Proxmox's to retry.

use std::time::Duration;

use super::Pve;
use super::client::SHORT;
use super::cmd::Cmd;
use super::commands;
use super::host::READ_IF_EXISTS;
use super::runner::{REMOTE_GRACE, under_timeout};
use crate::backend::{GuestCtx, Log, OpError, OpResult, Script};
use crate::defs::IdKind;

impl Pve {
    /// Make the raw `lxc.*` lines of the main section of the guest's config file
    /// exactly its `lxc_options` and the `lxc.idmap` lines of its `id_maps` map
    /// (there is no `pct set` for them): lines added, and lines of options or maps
    /// since removed from the definitions taken out. Snapshot sections are never
    /// touched.
    pub(super) fn raw_lines(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        let lines = commands::guest_raw_lines(g.guest);
        let path = self.host_path(&format!("/etc/pve/lxc/{}.conf", g.guest.id));
        let conf = self.check(&Cmd::new(["cat", &path]), SHORT, log)?;
        // Proxmox marks a config that a backup, snapshot or migration is working on;
        // writing it then would race that work (the lock is retried like any other).
        if let Some(lock) = conf
            .lines()
            .take_while(|l| !l.starts_with('['))
            .find_map(|l| l.strip_prefix("lock: "))
        {
            return Err(OpError::from_output(format!(
                "CT is locked ({lock}): {path} is not written while Proxmox holds that lock"
            )));
        }
        let new = commands::with_raw_lines(&conf, &lines);
        if new != conf {
            log.note(&format!(
                "raw lxc lines written to the main section of {path}"
            ));
            self.runner.upload(&path, new.as_bytes(), log)?;
            if self.status(g, log)?.contains("running") {
                // Raw lines apply at start.
                log.notice("restarted to apply its raw lxc lines");
                self.check(
                    &Cmd::new(["pct", "reboot", &g.guest.id.to_string()]),
                    g.timeout,
                    log,
                )?;
            }
        }
        Ok(())
    }

    /// Let root map every host id of the container's id map outside Proxmox's
    /// default block (see [`commands::missing_subids`]): the `root:<host>:<count>`
    /// lines `/etc/subuid` and `/etc/subgid` lack are appended, nothing else in
    /// them is touched. A map within the default block costs no command.
    pub(super) fn allow_id_map(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        let map = g.guest.id_map();
        for kind in IdKind::BOTH {
            let ranges = map.ranges_outside_default(kind);
            if ranges.is_empty() {
                continue;
            }
            let path = self.host_path(kind.subid_file());
            let current = self.check(
                &Cmd::new(["sh", "-c", READ_IF_EXISTS, "sh", &path]),
                SHORT,
                log,
            )?;
            let missing = commands::missing_subids(&current, &ranges);
            if missing.is_empty() {
                continue;
            }
            log.note(&format!(
                "{} added to {path} so that root may map {}'s id map",
                missing.join(", "),
                g.node
            ));
            self.check(&commands::append_subids(&path, &missing), SHORT, log)?;
        }
        Ok(())
    }

    /// The template step of a converted container template (`is_template`): shut
    /// down, its snapshots deleted newest first (the `pre-` snapshots of its
    /// features), then `pct template`. pve-container `PVE::API2::LXC` `template`
    /// refuses a container that has snapshots ("unable to create template, because
    /// CT contains snapshots"), is running, or is a template already ("you can't
    /// convert a template to a template"): one that is (a build stopped between
    /// `pct template` and its record) is left as it is. `PVE::LXC::template_create`
    /// refuses a bind mount or a volume on a storage without the `template`
    /// feature (thick LVM); Proxmox's message names it.
    pub(super) fn ct_make_template(&self, g: &GuestCtx, log: &mut Log) -> OpResult {
        let id = g.guest.id.to_string();
        let config = self.check(&Cmd::new(["pct", "config", &id]), SHORT, log)?;
        if is_template(&config) {
            log.note(&format!("{} is a template already", g.node));
            return Ok(());
        }
        if self.status(g, log)?.contains("running") {
            self.check(&Cmd::new(["pct", "shutdown", &id]), g.timeout, log)?;
        }
        for snap in self.snapshots(g, log).iter().rev() {
            self.check(
                &Cmd::new(["pct", "delsnapshot", &id, &snap.name]),
                g.timeout,
                log,
            )?;
        }
        self.check(&commands::ct_template(g.guest), g.timeout, log)
            .map(|_| ())
    }

    /// Run a script inside a container: its files and the script go to a staging
    /// directory on the host, `pct push` puts them in, `pct exec` runs it.
    pub(super) fn ct_exec(&self, g: &GuestCtx, script: &Script, log: &mut Log) -> OpResult {
        let id = g.guest.id.to_string();
        let base = script
            .path
            .file_name()
            .map_or("script".into(), |n| n.to_string_lossy().into_owned());
        let staging = self.staging(&format!("ct-{id}"));
        let mut files: Vec<(String, Vec<u8>)> = script
            .files
            .iter()
            .map(|(n, b)| (format!("/phoenix/{n}"), b.clone()))
            .collect();
        let body = std::fs::read(&script.path)
            .map_err(|e| OpError::new(format!("{}: {e}", script.path.display())))?;
        let remote = format!("/phoenix/run/{base}");
        files.push((remote.clone(), body));
        self.check(
            &Cmd::new(["pct", "exec", &id, "--", "mkdir", "-p", "/phoenix/run"]),
            SHORT,
            log,
        )?;
        let pushed = files.iter().try_for_each(|(dest, bytes)| {
            let name = dest.rsplit('/').next().unwrap_or("file");
            let host_path = format!("{staging}/{name}");
            self.runner.upload(&host_path, bytes, log)?;
            self.check(
                &Cmd::new(["pct", "push", &id, &host_path, dest]),
                SHORT,
                log,
            )
            .map(|_| ())
        });
        // The copies on the host are only on their way in; a failed removal leaves
        // a directory in /tmp, nothing worse.
        let _ = self.check(&Cmd::new(["rm", "-rf", "--", &staging]), SHORT, log);
        pushed?;
        let run = exec_command(&id, script, &remote, g.timeout);
        self.runner
            .check_script(&run, g.timeout + REMOTE_GRACE, log)
            .map(|_| ())
    }
}

/// Whether `pct config` output is a template's (`template: 1` in its main
/// section; pve-container `PVE::LXC::Config::is_template`).
fn is_template(config: &str) -> bool {
    config
        .lines()
        .take_while(|l| !l.starts_with('['))
        .any(|l| l.trim() == "template: 1")
}

/// `pct exec ID -- env K=V... timeout -k 10 SECS <interpreter> SCRIPT ARGS`: the
/// script at `remote` in the container, with its environment, ended inside the
/// container at `timeout` (see the module doc).
pub(super) fn exec_command(id: &str, script: &Script, remote: &str, timeout: Duration) -> Cmd {
    let mut inside: Vec<String> = script.interpreter();
    inside.push(remote.to_string());
    inside.extend(script.args.iter().cloned());
    let mut run = Cmd::new(["pct", "exec", id, "--", "env"]);
    run.argv
        .extend(script.env.iter().map(|(k, v)| format!("{k}={v}")));
    run.argv.extend(under_timeout(&inside, timeout));
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_is_known_by_its_main_section() {
        assert!(is_template("arch: amd64\ntemplate: 1\n"));
        assert!(!is_template("arch: amd64\n[snap]\ntemplate: 1\n"));
        assert!(!is_template("arch: amd64\n"));
    }

    /// GitHub issue 15: the script ran without a deadline inside the container, so
    /// a step timeout killed `pct exec` and left the script running there.
    #[test]
    fn a_script_in_a_container_is_ended_there_at_the_step_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("base_setup.sh");
        std::fs::write(
            &path,
            "#!/bin/bash
echo hi
",
        )
        .unwrap();
        let script = Script {
            name: "features/lxc/base_setup.sh".into(),
            path,
            args: vec!["103".into(), "it's".into()],
            env: vec![("PHOENIX_GUEST_ID".into(), "103".into())],
            files: Vec::new(),
            inputs: Vec::new(),
        };
        let cmd = exec_command(
            "103",
            &script,
            "/phoenix/run/base_setup.sh",
            Duration::from_secs(1800),
        );
        assert_eq!(
            cmd.argv,
            [
                "pct",
                "exec",
                "103",
                "--",
                "env",
                "PHOENIX_GUEST_ID=103",
                "timeout",
                "-k",
                "10",
                "1800",
                "/bin/bash",
                "/phoenix/run/base_setup.sh",
                "103",
                "it's"
            ]
        );
        // A step timeout below a second still gets a deadline (`timeout 0` has none).
        let short = exec_command("103", &script, "/x", Duration::from_millis(300));
        assert!(
            short.display().contains(" timeout -k 10 1 "),
            "{}",
            short.display()
        );
    }
}
