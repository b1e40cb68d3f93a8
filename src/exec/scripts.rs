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
    let mut obj = g.definition.clone();
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
