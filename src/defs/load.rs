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
use super::read;
use super::{checks, ct, dupkeys, dupreport, hypervisor, vm};

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

    let file = |rel: &str, required, guests| JsonFile {
        rel: rel.to_string(),
        required,
        guests,
    };
    let host_file = file(&defs.hypervisor_file, true, None);
    if let Some(Value::Object(host)) = read_json(dir, &host_file, &mut diags) {
        defs.host = host;
    }
    hypervisor::read_host(&mut defs, &mut diags);
    let lxc_file = file(&defs.lxc_file, true, Some("lxc_configs"));
    if let Some(lxc) = read_json(dir, &lxc_file, &mut diags) {
        ct::read_lxc(&mut defs, lxc, &mut diags);
    }
    let vm_file = file(&defs.vm_file, false, Some("vms"));
    if let Some(vms) = read_json(dir, &vm_file, &mut diags) {
        vm::read_vms(&mut defs, vms, &mut diags);
    }
    checks::check_references(&defs, &mut diags);
    checks::check_duplicates(&defs, &mut diags);
    checks::check_inherited_raw_lines(&defs, &mut diags);
    checks::check_template_snapshots(&mut defs, &mut diags);
    checks::check_template_conversions(&defs, &mut diags);
    checks::check_firewall_policies(&defs, &mut diags);
    checks::check_clone_disk_sizes(&defs, &mut diags);
    checks::check_control_characters(&defs, &mut diags);
    (defs, diags)
}

/// One definition file to read.
pub(crate) struct JsonFile {
    /// Relative to the definitions directory.
    pub rel: String,
    /// Whether its absence is an error.
    pub required: bool,
    /// The top-level key whose values are guests (`lxc_configs`, `vms`): a key written
    /// twice under it with two values is an error, elsewhere a warning (`dupreport`).
    pub guests: Option<&'static str>,
}

pub(crate) fn read_json(dir: &Path, file: &JsonFile, diags: &mut Diagnostics) -> Option<Value> {
    let (rel, required) = (file.rel.as_str(), file.required);
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
            dupreport::report(rel, text, file.guests, &duplicates, diags);
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
