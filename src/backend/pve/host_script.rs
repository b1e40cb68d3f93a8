//! A host step's script, wherever the host is: run here (locally, or recorded
//! for a dry run), uploaded with the files it reads to a host over ssh and run
//! there, or on a cluster (the api backend) on every online node in turn.

use std::time::Duration;

use super::Pve;
use super::client::SHORT;
use super::cmd::Cmd;
use super::runner::Runner;
use crate::backend::api::{Cluster, Scope};
use crate::backend::{Log, OpError, OpResult, Script};

impl Pve {
    /// A host step's script: here, on the host over ssh, or on a cluster (the api
    /// backend) on every online node in turn, since each node has its own network,
    /// firewall and packages.
    pub(super) fn host_script(
        &self,
        script: &Script,
        timeout: Duration,
        log: &mut Log,
    ) -> OpResult {
        if let Runner::Api(api) = &self.runner {
            for node in api.0.online_nodes(log)? {
                log.note(&format!("host step on node {node}"));
                let _on = Cluster::scope(Scope::Node(node.clone()));
                self.host_remote(script, timeout, log)
                    .map_err(|e| OpError::new(format!("on node {node}: {}", e.message)))?;
            }
            return Ok(());
        }
        if let Runner::Local | Runner::Recording(_) = &self.runner {
            return self
                .runner
                .check_script(
                    &host_command(script, &script.path.display().to_string(), &[]),
                    timeout,
                    log,
                )
                .map(|_| ());
        }
        self.host_remote(script, timeout, log)
    }

    /// A host step's script on a remote host: uploaded with the files it reads,
    /// then run there.
    fn host_remote(&self, script: &Script, timeout: Duration, log: &mut Log) -> OpResult {
        // The script and the files it reads go to this run's staging directory on
        // the host first, side by side (a script that looks for the guests' files
        // next to the hypervisor file finds them there too).
        let dir = self.staging("host");
        let name = |p: &std::path::Path| {
            p.file_name()
                .map_or("file".into(), |n| n.to_string_lossy().into_owned())
        };
        let remote = format!("{dir}/{}", name(&script.path));
        let body = std::fs::read(&script.path)
            .map_err(|e| OpError::new(format!("{}: {e}", script.path.display())))?;
        self.runner.upload(&remote, &body, log)?;
        let mut copies = Vec::new();
        for (_, local) in &script.inputs {
            let bytes = std::fs::read(local)
                .map_err(|e| OpError::new(format!("{}: {e}", local.display())))?;
            let copy = format!("{dir}/{}", name(local));
            self.runner.upload(&copy, &bytes, log)?;
            copies.push((local.display().to_string(), copy));
        }
        let ran = self
            .runner
            .check_script(&host_command(script, &remote, &copies), timeout, log);
        let _ = self.check(&Cmd::new(["rm", "-rf", "--", &dir]), SHORT, log);
        ran.map(|_| ())
    }
}

/// `env VAR=FILE... /bin/sh SCRIPT ARGS` for a host script at `path`: each of its
/// inputs named by its variable, by the copy's path where `copies` has one (local
/// path, copy), and so is an argument that names one.
fn host_command(script: &Script, path: &str, copies: &[(String, String)]) -> Cmd {
    let here = |local: &str| {
        copies
            .iter()
            .find(|(l, _)| l == local)
            .map_or_else(|| local.to_string(), |(_, c)| c.clone())
    };
    let mut cmd = Cmd::new(["env"]);
    cmd.argv
        .extend(script.env.iter().map(|(k, v)| format!("{k}={v}")));
    cmd.argv.extend(
        script
            .inputs
            .iter()
            .map(|(var, local)| format!("{var}={}", here(&local.display().to_string()))),
    );
    cmd.argv.extend(script.interpreter());
    cmd.argv.push(path.to_string());
    cmd.argv.extend(script.args.iter().map(|a| here(a)));
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Over ssh the host step's script gets the copies of its definition files, by
    /// variable and as its argument; arguments that are not files (a legacy
    /// container feature's guest id) pass unchanged, where they were once read as
    /// files to upload.
    #[test]
    fn a_host_script_names_the_copies_of_its_inputs() {
        let script = Script {
            name: "features/host/firewall.sh".into(),
            path: "/defs/features/host/firewall.sh".into(),
            args: vec!["/defs/phoenix_hypervisor_config.json".into(), "901".into()],
            env: Vec::new(),
            files: Vec::new(),
            inputs: vec![
                (
                    "PHOENIX_HYPERVISOR_JSON".into(),
                    "/defs/phoenix_hypervisor_config.json".into(),
                ),
                (
                    "PHOENIX_LXC_JSON".into(),
                    "/defs/phoenix_lxc_configs.json".into(),
                ),
            ],
        };
        let copies = [
            (
                "/defs/phoenix_hypervisor_config.json".to_string(),
                "/tmp/s/host/phoenix_hypervisor_config.json".to_string(),
            ),
            (
                "/defs/phoenix_lxc_configs.json".to_string(),
                "/tmp/s/host/phoenix_lxc_configs.json".to_string(),
            ),
        ];
        assert_eq!(
            host_command(&script, "/tmp/s/host/firewall.sh", &copies).argv,
            [
                "env",
                "PHOENIX_HYPERVISOR_JSON=/tmp/s/host/phoenix_hypervisor_config.json",
                "PHOENIX_LXC_JSON=/tmp/s/host/phoenix_lxc_configs.json",
                "/bin/sh",
                "/tmp/s/host/firewall.sh",
                "/tmp/s/host/phoenix_hypervisor_config.json",
                "901"
            ]
        );
        // Run here: the files where they are.
        assert_eq!(
            host_command(&script, "/defs/features/host/firewall.sh", &[]).argv[1],
            "PHOENIX_HYPERVISOR_JSON=/defs/phoenix_hypervisor_config.json"
        );
    }
}
