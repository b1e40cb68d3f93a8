//! Loading a definitions directory: the three JSON files read and parsed (a syntax
//! error reported with line and column, the other files still read), then handed to
//! the hypervisor, container and VM readers and the cross-guest checks.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde_json::{Map, Value};

use super::diag::{Diagnostic, Diagnostics};
use super::layout::{self, Layout};
use super::model::Definitions;
use super::read::{self, quote};
use super::{checks, ct, dupkeys, hypervisor, vm};

/// Read a definitions directory. Always returns what could be read, with every
/// problem found on the way; callers decide whether errors stop them.
pub fn load(dir: &Path) -> (Definitions, Diagnostics) {
    let mut diags = Diagnostics::default();
    let layout = Layout::detect(dir);
    let mut defs = Definitions {
        dir: dir.to_path_buf(),
        layout,
        hypervisor_file: layout.json(layout::HYPERVISOR_FILE),
        lxc_file: layout.json(layout::LXC_FILE),
        vm_file: layout.json(layout::VM_FILE),
        host: Map::new(),
        lxc_globals: Map::new(),
        vm_defaults: Map::new(),
        guests: BTreeMap::new(),
        host_steps: Vec::new(),
    };
    if !dir.is_dir() {
        diags.push(
            Diagnostic::error(&dir.display().to_string(), "", "definitions directory not found")
                .help("pass --defs DIR or set PHOENIX_DEFS to the folder that holds phoenix_lxc_configs.json"),
        );
        return (defs, diags);
    }

    if let Some(Value::Object(host)) = read_json(dir, &defs.hypervisor_file, true, &mut diags) {
        defs.host = host;
    }
    hypervisor::read_host(&mut defs, &mut diags);
    if let Some(lxc) = read_json(dir, &defs.lxc_file, true, &mut diags) {
        ct::read_lxc(&mut defs, lxc, &mut diags);
    }
    if let Some(vms) = read_json(dir, &defs.vm_file, false, &mut diags) {
        vm::read_vms(&mut defs, vms, &mut diags);
    }
    checks::check_references(&defs, &mut diags);
    checks::check_duplicates(&defs, &mut diags);
    checks::check_inherited_raw_lines(&defs, &mut diags);
    checks::check_template_snapshots(&defs, &mut diags);
    checks::check_firewall_policies(&defs, &mut diags);
    checks::check_clone_disk_sizes(&defs, &mut diags);
    checks::check_control_characters(&defs, &mut diags);
    (defs, diags)
}

pub(crate) fn read_json(
    dir: &Path,
    rel: &str,
    required: bool,
    diags: &mut Diagnostics,
) -> Option<Value> {
    let path = dir.join(rel);
    let text = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if required {
                diags.push(Diagnostic::error(rel, "", "file not found").help(format!(
                    "create `{rel}` in {} or point --defs at the right folder",
                    dir.display()
                )));
            }
            return None;
        }
        Err(e) => {
            diags.push(
                Diagnostic::error(rel, "", format!("cannot read: {e}"))
                    .help("check the file's permissions"),
            );
            return None;
        }
    };
    let text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&text);
    // The duplicate-key pass reads the same bytes: run it beside the real parse.
    let (parsed, duplicates) = rayon::join(
        || serde_json::from_slice::<Value>(text),
        || dupkeys::duplicate_keys(text),
    );
    match parsed {
        Ok(v) if v.is_object() => {
            for path in duplicates {
                let key = path.rsplit(['.', '[']).next().unwrap_or(&path).to_string();
                diags.push(
                    Diagnostic::error(rel, path, format!("key `{}` appears twice in the same object", quote(&key)))
                        .help("JSON keeps only the last one, so the first would be silently lost: rename or merge them"),
                );
            }
            Some(v)
        }
        Ok(other) => {
            diags.push(
                Diagnostic::error(
                    rel,
                    "",
                    format!(
                        "expected a JSON object at the top, found {}",
                        read::describe(&other)
                    ),
                )
                .help("the file must hold one object: { ... }"),
            );
            None
        }
        Err(e) => {
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
            diags.push(
                Diagnostic::error(rel, format!("{}:{}", e.line(), e.column()), format!("malformed JSON: {msg}"))
                    .help("fix the syntax at that line and column (often a missing comma or quote just before it)"),
            );
            None
        }
    }
}
