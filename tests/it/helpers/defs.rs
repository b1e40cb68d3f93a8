//! Editing definition trees on disk: copies, and one field of one guest at a time.

use std::path::Path;

use serde_json::Value;

/// Copy a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Read a JSON file, change it, write it back (pretty).
pub fn update_json(path: &Path, change: impl FnOnce(&mut Value)) {
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    change(&mut v);
    std::fs::write(path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

/// Set one field of one container in a definitions tree.
pub fn set_field(defs: &Path, id: &str, field: &str, value: Value) {
    update_json(&defs.join("phoenix_lxc_configs.json"), |v| {
        v["lxc_configs"][id][field] = value;
    });
}

/// Set one field of one VM in a definitions tree.
pub fn set_vm_field(defs: &Path, id: &str, field: &str, value: Value) {
    update_json(&defs.join("phoenix_vm_configs.json"), |v| {
        let vm = v["vms"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|vm| vm["vmid"].as_u64().map(|n| n.to_string()).as_deref() == Some(id))
            .unwrap();
        vm[field] = value;
    });
}

/// The same JSON as text with every object's keys in reverse order and odd
/// whitespace: the same data, other text.
pub fn reordered_json(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let items: Vec<String> = m
                .iter()
                .rev()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), reordered_json(v)))
                .collect();
            format!("{{ {} }}", items.join(" ,\n\t"))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(reordered_json).collect::<Vec<_>>().join(" , ")
        ),
        other => other.to_string(),
    }
}
