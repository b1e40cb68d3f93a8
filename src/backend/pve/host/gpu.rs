//! What `host:gpu_init` must leave behind, whatever its script does: the device
//! nodes every GPU container passes through.
//!
//! A GPU container gets `/dev/nvidiactl`, `/dev/nvidia-uvm`, `/dev/nvidia-uvm-tools`
//! and `/dev/nvidiaN` as native `devN` entries. Proxmox checks each path when the
//! entry is set and again at start (pve-container
//! `PVE::LXC::Tools::get_device_mode_and_rdev`: "Device /dev/nvidia-uvm does not
//! exist"). The shell tool bind-mounted the nodes with `optional`, so a missing one
//! was skipped without a word and CUDA failed inside the guest; its `gpu_init` script
//! (reference §4, step 7) runs `nvidia-smi` at boot, which makes `nvidiactl` and
//! `nvidiaN` but not the two `uvm` nodes: those appear once the `nvidia-uvm` module
//! is loaded and its nodes made. So after the script, phoenix checks the two nodes,
//! makes missing ones with the driver's own tool (`nvidia-modprobe -u -c=0` loads
//! `nvidia-uvm` and makes both), and fails the step, before any GPU guest is
//! touched, when they still are not there.

use super::super::Pve;
use super::super::cmd::Cmd;
use super::steps::SHORT;
use crate::backend::{HostStep, Log, OpError, OpResult};

/// The nodes the `nvidia-uvm` module provides.
const UVM_NODES: [&str; 2] = ["/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"];

/// Prints each argument that does not exist.
const MISSING: &str = "for p; do [ -e \"$p\" ] || echo \"$p\"; done";

impl Pve {
    pub(in crate::backend::pve) fn gpu_device_nodes(
        &self,
        step: &HostStep,
        log: &mut Log,
    ) -> OpResult {
        let nodes: Vec<String> = UVM_NODES.iter().map(|p| self.host_path(p)).collect();
        let missing = |log: &mut Log| -> Result<Vec<String>, OpError> {
            let mut probe = Cmd::new(["sh", "-c", MISSING, "sh"]);
            probe.argv.extend(nodes.iter().cloned());
            Ok(self
                .check(&probe, SHORT, log)?
                .lines()
                .map(str::to_string)
                .collect())
        };
        if missing(log)?.is_empty() {
            return Ok(());
        }
        log.note(
            "the nvidia-uvm device nodes are missing: loading the module with nvidia-modprobe",
        );
        let made = self.check(
            &Cmd::new(["nvidia-modprobe", "-u", "-c=0"]),
            step.timeout,
            log,
        );
        let still = missing(log)?;
        if still.is_empty() {
            return Ok(());
        }
        let why = made
            .err()
            .map_or_else(String::new, |e| format!(" ({})", e.message));
        Err(OpError::new(format!(
            "host:gpu_init ran, but {} still do{} not exist and `nvidia-modprobe -u -c=0` did not make them{why}. GPU containers pass them through, and Proxmox refuses a device that does not exist: install the driver's nvidia-modprobe, or have the gpu_init script load nvidia-uvm and make the nodes",
            still.join(" and "),
            if still.len() == 1 { "es" } else { "" }
        )))
    }
}
