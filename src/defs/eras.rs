//! The eras of the shell tool's definitions, read into one model.
//!
//! The container file changed shape over the shell tool's life (reference §6.2,
//! §6.4). phoenix reads every era as written; where an old field means what a
//! modern one does, a warning names the modern field. The rules live here so that
//! the readers (`guest`, `ct`) hold no history:
//!
//! | era | written | read as |
//! |---|---|---|
//! | 2025-08 (`ff11a70`) | `features: "nesting=1,keyctl=1"` | its parts join `pct_options` (Proxmox `--features`); no feature scripts |
//! | 2025-08-29 (`185f0ab`) | `clone_from_template_ctid` | `clone_from_ctid` (edges and keys alike) |
//! | 2025-08-29 (`185f0ab`) | `is_template: true` beside `template_snapshot_name` | the snapshot model: the flag was a marker |
//! | 2025-11 (`rootesting`) | `is_template: true` alone | a converted template (`pct template`) |
//! | 2025-11 (`rootesting`) | `template_file` | `<ISO storage>:vztmpl/<template_file>`, unless the container is a clone |

use serde_json::{Map, Value};

use super::host;
use super::layout;
use super::model::Guest;
use super::read::{At, Fields, Reader, join, quote};
use super::settings::TemplateModel;
use super::values;

/// The 2025-08-29 name of `clone_from_ctid`.
pub const CLONE_ALIAS: &str = "clone_from_template_ctid";

/// Whether `features` is written as a Proxmox feature string (`"nesting=1,keyctl=1"`,
/// the 2025-08 era) rather than a list of feature scripts: a string whose
/// comma-separated parts are all `key=value`. A bare name (`"docker"`) is not one;
/// it stays the type error it always was.
pub fn is_feature_string(value: &Value) -> bool {
    let Value::String(s) = value else {
        return false;
    };
    let mut parts = s.split(',').map(str::trim).peekable();
    parts.peek().is_some()
        && parts.all(|part| {
            part.split_once('=').is_some_and(|(k, v)| {
                !k.is_empty()
                    && !v.is_empty()
                    && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            })
        })
}

/// A container's clone source: `clone_from_ctid`, or its 2025-08-29 name
/// `clone_from_template_ctid` (a warning names the modern field). Both given with
/// different sources is an error showing both; the modern one is used.
pub(crate) fn clone_source(r: &mut Reader, raw: &Fields, p: &str) -> Option<(u32, String)> {
    let modern = r
        .id(raw, p, "clone_from_ctid")
        .map(|id| (id, join(p, "clone_from_ctid")));
    let old = r
        .id(raw, p, CLONE_ALIAS)
        .map(|id| (id, join(p, CLONE_ALIAS)));
    match (modern, old) {
        (Some(m), Some(o)) if m.0 != o.0 => {
            r.error(
                o.1,
                format!(
                    "`{CLONE_ALIAS}` says {} but `clone_from_ctid` says {}",
                    o.0, m.0
                ),
                format!(
                    "they are the same field (`{CLONE_ALIAS}` is its 2025-08 name): keep `clone_from_ctid` with the source you mean and remove `{CLONE_ALIAS}`"
                ),
            );
            Some(m)
        }
        (Some(m), Some(_)) => {
            r.warn(
                join(p, CLONE_ALIAS),
                format!("`{CLONE_ALIAS}` repeats `clone_from_ctid`"),
                format!("remove `{CLONE_ALIAS}`, the field's 2025-08 name"),
            );
            Some(m)
        }
        (None, Some(o)) => {
            r.warn(
                o.1.clone(),
                format!("`{CLONE_ALIAS}` is read as `clone_from_ctid`"),
                "rename it to `clone_from_ctid`, the field's name since 2025-09 (nothing is rebuilt for the rename)",
            );
            Some(o)
        }
        (m, None) => m,
    }
}

/// Whether a container clones another, under either name (for checks that run
/// before the source is read).
pub(crate) fn has_clone_source(raw: &Fields) -> bool {
    Reader::get(raw, "clone_from_ctid").is_some() || Reader::get(raw, CLONE_ALIAS).is_some()
}

/// `template_snapshot_name` and `is_template`. Both given: the 2025-08-29 era, where
/// `is_template` marked the container whose snapshot clones start from, so the
/// snapshot model wins, with a warning naming both fields. `is_template` alone: the
/// 2025-11 converted template.
pub(crate) fn template_model(r: &mut Reader, raw: &Fields, p: &str) -> TemplateModel {
    let is_template = r.bool(raw, p, "is_template").unwrap_or(false);
    let Some(name) = r.str(raw, p, "template_snapshot_name") else {
        return if is_template {
            TemplateModel::Converted
        } else {
            TemplateModel::None
        };
    };
    values::check_snapshot_name(r, At(p, "template_snapshot_name"), &name);
    if is_template {
        r.warn(
            join(p, "is_template"),
            format!(
                "`is_template` and `template_snapshot_name` are both set: read as a snapshot template, clones start from snapshot `{}`",
                quote(&name)
            ),
            "that is what both meant in 2025-08; to convert the container with `pct template` instead, remove `template_snapshot_name`; to keep the snapshot, remove `is_template`",
        );
    }
    TemplateModel::Snapshot { name }
}

/// A container's OS template: `template` (a path or volume ID) or, from 2025-11,
/// `template_file`, a tarball on the host's ISO storage
/// (`<storage>:vztmpl/<file>`, what the shell tool's `pct create` took, reference
/// §6.4). Both given: `template_file` wins, as it did in the shell tool of that era,
/// with a warning. A clone is made from its source, so its `template_file` is not
/// used (a warning says so, as the shell tool cloned whenever it had a source).
/// Sets [`Shape::os_template`](super::Shape) and, for a `template_file`,
/// [`Shape::template_storage`](super::Shape).
pub(crate) fn os_template(
    r: &mut Reader,
    host: &Map<String, Value>,
    raw: &Fields,
    p: &str,
    g: &mut Guest,
) {
    let template = r.str(raw, p, "template");
    let file = r.str(raw, p, "template_file");
    let cloned = has_clone_source(raw);
    if template.is_none()
        && file.is_none()
        && !cloned
        && Reader::get(raw, "template").is_none()
        && Reader::get(raw, "template_file").is_none()
    {
        r.error(
            p,
            "neither `template` nor `clone_from_ctid` is set",
            "give the container an OS template to create it from (`template`, or `template_file` on the ISO storage), or a container to clone",
        );
    }
    g.shape.os_template.clone_from(&template);
    let Some(file) = file else { return };
    let fp = join(p, "template_file");
    if cloned {
        r.warn(
            fp,
            "`template_file` is not used: the container is cloned from its `clone_from_ctid`",
            "a clone is made from its source, as in the shell tool; remove `template_file`, or the clone source to create it from the tarball",
        );
        return;
    }
    if !layout::is_plain_file_name(&file) {
        r.error(
            fp,
            format!("`{}` is not a plain file name", quote(&file)),
            "name a tarball in the ISO storage's template/cache/ folder, without directories (e.g. ubuntu-24.04-standard_24.04-2_amd64.tar.zst)",
        );
        return;
    }
    let Some(storage) = host::iso_storage_id(host) else {
        r.error(
            fp,
            format!("no ISO storage is known to find `{}` on", quote(&file)),
            "add \"proxmox_storage_ids\": { \"fastData_shared_iso\": \"<storage ID>\" } to the hypervisor file (the storage that holds vztmpl tarballs), or give a `template` path instead",
        );
        return;
    };
    if let Some(t) = &template {
        r.warn(
            join(p, "template"),
            format!(
                "`template` (`{}`) is not used: `template_file` names the OS template",
                quote(t)
            ),
            "the shell tool created from `template_file` when it had one; remove the field you do not mean",
        );
    }
    g.shape.os_template = Some(format!("{storage}:vztmpl/{file}"));
    g.shape.template_storage = Some(storage);
}

/// A container's Proxmox features: `pct_options`, then the parts of a 2025-08
/// `features` string (with a warning naming `pct_options`). Proxmox takes them as one
/// `--features` value and refuses a key given twice (pve-common
/// `PVE::JSONSchema::parse_property_string` dies "duplicate key in comma-separated
/// list property"): a repeated `key=value` is kept once, a key given two different
/// values is an error showing both.
pub(crate) fn pct_features(r: &mut Reader, raw: &Fields, p: &str) -> Vec<String> {
    let mut parts: Vec<(String, String)> = r
        .str_list(raw, p, "pct_options")
        .iter()
        .enumerate()
        .flat_map(|(i, o)| {
            let at = format!("{}[{i}]", join(p, "pct_options"));
            split_features(o).map(move |part| (part, at.clone()))
        })
        .collect();
    if let Some(s) = Reader::get(raw, "features").filter(|v| is_feature_string(v)) {
        let fp = join(p, "features");
        let text = s.as_str().unwrap_or_default();
        r.warn(
            fp.clone(),
            format!(
                "`features` is a Proxmox feature string (`{}`): read as `pct_options`",
                quote(text)
            ),
            format!(
                "move it to \"pct_options\": [{}], its place since 2025-09; `features` now lists feature scripts",
                split_features(text)
                    .map(|f| format!("\"{}\"", quote(&f)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        parts.extend(split_features(text).map(|part| (part, fp.clone())));
    }
    let mut out: Vec<String> = Vec::with_capacity(parts.len());
    let mut from: Vec<&str> = Vec::with_capacity(parts.len());
    for (part, at) in &parts {
        let key = part.split_once('=').map_or(part.as_str(), |(k, _)| k);
        let earlier = out
            .iter()
            .position(|o| o.split_once('=').map_or(o.as_str(), |(k, _)| k) == key);
        match earlier {
            None => {
                out.push(part.clone());
                from.push(at);
            }
            Some(i) if out[i] == *part => {}
            Some(i) => r.error(
                at.clone(),
                format!(
                    "Proxmox feature `{key}` is `{}` here but `{}` at {}",
                    quote(part),
                    quote(&out[i]),
                    from[i]
                ),
                "Proxmox takes each feature once: keep the value you mean (in `pct_options`)",
            ),
        }
    }
    out
}

/// The comma-separated parts of a feature value, trimmed, empty ones dropped.
fn split_features(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}
