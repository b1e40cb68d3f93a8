//! What a worker hands a backend to run: a guest's script with the guest's
//! definition beside it, and the definitions' files a host step may read.

use std::path::PathBuf;

use serde_json::Value;

use crate::backend::Script;
use crate::defs::{Definitions, Guest};

/// A script with the guest's definition beside it. Root globals of the LXC file
/// are merged in where the guest does not set the same key, as the shell tool's
/// lookups fell back to them.
pub(super) fn guest_script(defs: &Definitions, g: &Guest, rel: &str, args: Vec<String>) -> Script {
    let mut obj = g.definition();
    for (k, v) in &defs.lxc_globals {
        obj.entry(k.clone()).or_insert_with(|| v.clone());
    }
    obj.insert("id".into(), Value::from(g.id));
    let json = serde_json::to_vec_pretty(&Value::Object(obj)).unwrap_or_default();
    Script {
        name: rel.to_string(),
        path: defs.path_of(rel),
        args,
        env: vec![
            ("PHOENIX_GUEST_ID".into(), g.id.to_string()),
            ("PHOENIX_GUEST_NAME".into(), g.name.clone()),
            ("PHOENIX_GUEST_JSON".into(), "/phoenix/guest.json".into()),
        ],
        files: vec![("guest.json".into(), json)],
        inputs: Vec::new(),
    }
}

/// A shell tool container feature script (`bin/lxc_setup/`) as the host runs it:
/// it reaches into the guest with `pct exec` itself, so nothing is placed in the
/// guest. What a guest script finds at `/phoenix/guest.json` is written into `dir`
/// on this machine instead and named by `PHOENIX_GUEST_JSON`, beside the
/// definitions' files (`PHOENIX_LXC_JSON`, ...), as a host step's are: a backend
/// that runs it on another host copies them there.
pub(super) fn on_host(
    defs: &Definitions,
    mut script: Script,
    dir: &std::path::Path,
) -> Result<Script, crate::backend::OpError> {
    let json = dir.join("guest.json");
    let body = script
        .files
        .iter()
        .find(|(name, _)| name == "guest.json")
        .map(|(_, bytes)| bytes.clone())
        .unwrap_or_default();
    crate::fsutil::write_atomic(&json, &body)
        .map_err(|e| crate::backend::OpError::new(e.to_string()))?;
    script.files.clear();
    script.env.retain(|(k, _)| k != "PHOENIX_GUEST_JSON");
    script.inputs = definition_files(defs);
    script.inputs.push(("PHOENIX_GUEST_JSON".into(), json));
    Ok(script)
}

/// The definitions' JSON files a host step script may read (the firewall and
/// DNS steps read the guests'), by the variable that names each: the ones
/// that exist, as absolute paths.
pub(super) fn definition_files(d: &Definitions) -> Vec<(String, PathBuf)> {
    [
        ("PHOENIX_HYPERVISOR_JSON", &d.hypervisor_file),
        ("PHOENIX_LXC_JSON", &d.lxc_file),
        ("PHOENIX_VM_JSON", &d.vm_file),
    ]
    .into_iter()
    .map(|(var, rel)| {
        let path = d.path_of(rel);
        (
            var.to_string(),
            std::fs::canonicalize(&path).unwrap_or(path),
        )
    })
    .filter(|(_, path)| path.is_file())
    .collect()
}
