//! Checking command lines against the Proxmox VE API schema.
//!
//! `pct` and `qm` subcommands map one to one onto API endpoints (`pct set` is
//! `PUT /nodes/{node}/lxc/{vmid}/config`), and `pvesh` names the endpoint itself. For
//! each command this finds the endpoint and checks every option: it exists (indexed
//! options like `net0` match `net[n]`), its value has the right type, lies in range,
//! is one of the enum values, and a property string (`name=eth0,bridge=vmbr0,...`)
//! uses only sub-keys the format defines, with valid values, and sets the required
//! ones. A few named string formats are checked too (tags, MAC and IPv4 addresses,
//! startup order). `pvesm add/set/remove` are `/storage` calls. Commands with no API
//! counterpart (`pct exec`, `pct push`, `qm guest exec`) have their guest ID checked.
//!
//! Only the tests use it, so it lives here rather than in the library.

use serde_json::{Map, Value};

use phoenix::backend::pve::commands::Cmd;

use self::values::{check_options, check_value};

mod values;

pub struct Schema {
    root: Value,
}

fn find<'a>(nodes: &'a [Value], path: &str) -> Option<&'a Value> {
    for n in nodes {
        if n.get("path").and_then(Value::as_str) == Some(path) {
            return Some(n);
        }
        if let Some(found) = n
            .get("children")
            .and_then(Value::as_array)
            .and_then(|c| find(c, path))
        {
            return Some(found);
        }
    }
    None
}

/// Every endpoint path in the schema.
fn all_paths(nodes: &[Value], out: &mut Vec<String>) {
    for n in nodes {
        if let Some(p) = n.get("path").and_then(Value::as_str) {
            out.push(p.to_string());
        }
        if let Some(c) = n.get("children").and_then(Value::as_array) {
            all_paths(c, out);
        }
    }
}

impl Schema {
    pub fn load(path: &std::path::Path) -> Result<Schema, String> {
        let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let root: Value =
            serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Schema { root })
    }

    fn nodes(&self) -> &[Value] {
        self.root.as_array().map_or(&[], Vec::as_slice)
    }

    fn params(&self, path: &str, method: &str) -> Option<&Map<String, Value>> {
        find(self.nodes(), path)?
            .get("info")?
            .get(method)?
            .get("parameters")?
            .get("properties")?
            .as_object()
    }

    /// The schema path matching a concrete path (`/nodes/pve/lxc/101/firewall/rules`).
    fn match_path(&self, concrete: &str) -> Option<(String, Vec<(String, String)>)> {
        let mut paths = Vec::new();
        all_paths(self.nodes(), &mut paths);
        let parts: Vec<&str> = concrete.trim_end_matches('/').split('/').collect();
        for p in paths {
            let pat: Vec<&str> = p.split('/').collect();
            if pat.len() != parts.len() {
                continue;
            }
            let mut bound = Vec::new();
            let ok = pat.iter().zip(&parts).all(|(a, b)| {
                if let Some(name) = a.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
                    bound.push((name.to_string(), (*b).to_string()));
                    true
                } else {
                    a == b
                }
            });
            if ok {
                return Some((p, bound));
            }
        }
        None
    }

    /// Problems with one command; empty when it is valid.
    pub fn check(&self, cmd: &Cmd) -> Vec<String> {
        let a: Vec<&str> = cmd.argv.iter().map(String::as_str).collect();
        let (endpoint, method, positional, rest): (String, &str, Vec<(&str, &str)>, &[&str]) =
            match a.as_slice() {
                ["pct", "create", id, tmpl, rest @ ..] => (
                    "/nodes/{node}/lxc".into(),
                    "POST",
                    vec![("vmid", *id), ("ostemplate", *tmpl)],
                    rest,
                ),
                ["qm", "guest", "exec", id, ..] => return self.check_vmid(id),
                ["qm", "guest", "cmd", id, "ping"] => (
                    "/nodes/{node}/qemu/{vmid}/agent/ping".into(),
                    "POST",
                    vec![("vmid", *id)],
                    &[],
                ),
                ["qm", "create", id, rest @ ..] => (
                    "/nodes/{node}/qemu".into(),
                    "POST",
                    vec![("vmid", *id)],
                    rest,
                ),
                [tool @ ("pct" | "qm"), sub, id, rest @ ..] => {
                    let kind = if *tool == "pct" { "lxc" } else { "qemu" };
                    let base = format!("/nodes/{{node}}/{kind}/{{vmid}}");
                    match (*sub, rest) {
                        ("set", rest) => (
                            format!("{base}/config"),
                            if *tool == "qm" { "POST" } else { "PUT" },
                            vec![("vmid", *id)],
                            rest,
                        ),
                        ("clone", [newid, rest @ ..]) => (
                            format!("{base}/clone"),
                            "POST",
                            vec![("vmid", *id), ("newid", *newid)],
                            rest,
                        ),
                        ("start" | "stop" | "reboot" | "shutdown", rest) => (
                            format!("{base}/status/{sub}"),
                            "POST",
                            vec![("vmid", *id)],
                            rest,
                        ),
                        ("snapshot", [name, rest @ ..]) => (
                            format!("{base}/snapshot"),
                            "POST",
                            vec![("vmid", *id), ("snapname", *name)],
                            rest,
                        ),
                        ("delsnapshot", [name, rest @ ..]) => (
                            format!("{base}/snapshot/{{snapname}}"),
                            "DELETE",
                            vec![("vmid", *id), ("snapname", *name)],
                            rest,
                        ),
                        ("rollback", [name, rest @ ..]) => (
                            format!("{base}/snapshot/{{snapname}}/rollback"),
                            "POST",
                            vec![("vmid", *id), ("snapname", *name)],
                            rest,
                        ),
                        ("resize", [disk, size, rest @ ..]) => (
                            format!("{base}/resize"),
                            "PUT",
                            vec![("vmid", *id), ("disk", *disk), ("size", *size)],
                            rest,
                        ),
                        // The probes of a build: what is pending, which snapshots exist.
                        ("pending", rest) => {
                            (format!("{base}/pending"), "GET", vec![("vmid", *id)], rest)
                        }
                        ("listsnapshot", rest) => {
                            (format!("{base}/snapshot"), "GET", vec![("vmid", *id)], rest)
                        }
                        ("destroy", rest) => (base.clone(), "DELETE", vec![("vmid", *id)], rest),
                        ("template", rest) => (
                            format!("{base}/template"),
                            "POST",
                            vec![("vmid", *id)],
                            rest,
                        ),
                        ("cloudinit", [sub2, ..]) if *id == "update" => {
                            return self.check_vmid(sub2);
                        }
                        ("exec" | "push" | "config" | "status", _) => {
                            return self.check_vmid(id);
                        }
                        _ => {
                            return vec![format!(
                                "`{} {sub}` is not a command phoenix knows how to check",
                                tool
                            )];
                        }
                    }
                }
                ["pvesm", "add", kind, id, rest @ ..] => (
                    "/storage".into(),
                    "POST",
                    vec![("type", *kind), ("storage", *id)],
                    rest,
                ),
                ["pvesm", "set", id, rest @ ..] => (
                    "/storage/{storage}".into(),
                    "PUT",
                    vec![("storage", *id)],
                    rest,
                ),
                ["pvesm", "remove", id] => (
                    "/storage/{storage}".into(),
                    "DELETE",
                    vec![("storage", *id)],
                    &[],
                ),
                ["pvesh", verb, path, rest @ ..] => {
                    let method = match *verb {
                        "get" => "GET",
                        "set" => "PUT",
                        "create" => "POST",
                        "delete" => "DELETE",
                        other => return vec![format!("unknown pvesh verb `{other}`")],
                    };
                    let Some((schema_path, bound)) = self.match_path(path) else {
                        return vec![format!("no API path matches `{path}`")];
                    };
                    let Some(params) = self.params(&schema_path, method) else {
                        return vec![format!("{method} {schema_path} does not exist")];
                    };
                    let mut errs = Vec::new();
                    for (name, value) in &bound {
                        if let Some(def) = params.get(name) {
                            errs.extend(check_value(name, value, def));
                        }
                    }
                    // pvesh's own formatting option is not an API parameter.
                    let rest: Vec<&str> = match rest {
                        [head @ .., "--output-format", f]
                            if matches!(*f, "json" | "json-pretty" | "text" | "yaml") =>
                        {
                            head.to_vec()
                        }
                        other => other.to_vec(),
                    };
                    errs.extend(check_options(params, &rest, &[]));
                    return errs
                        .into_iter()
                        .map(|e| format!("{}: {e}", cmd.display()))
                        .collect();
                }
                _ => {
                    return vec![format!(
                        "`{}` is not a pct, qm, pvesh or pvesm command",
                        cmd.display()
                    )];
                }
            };
        let Some(params) = self.params(&endpoint, method) else {
            return vec![format!("{method} {endpoint} is not in the schema")];
        };
        let mut errs = Vec::new();
        for (name, value) in &positional {
            match params.get(*name) {
                Some(def) => errs.extend(check_value(name, value, def)),
                None => errs.push(format!(
                    "positional `{name}` is not a parameter of {method} {endpoint}"
                )),
            }
        }
        let skip: Vec<&str> = positional.iter().map(|(n, _)| *n).collect();
        errs.extend(check_options(params, rest, &skip));
        errs.into_iter()
            .map(|e| format!("{}: {e}", cmd.display()))
            .collect()
    }

    fn check_vmid(&self, id: &str) -> Vec<String> {
        match self
            .params("/nodes/{node}/lxc", "POST")
            .and_then(|p| p.get("vmid"))
        {
            Some(def) => check_value("vmid", id, def),
            None => Vec::new(),
        }
    }
}
