//! Commands that are the same for containers and VMs but for the tool (`pct` or
//! `qm`): destroy, the stamp tags, the inventory.

use super::super::cmd::{Cmd, id, tool};
use crate::defs::Guest;

pub fn destroy(g: &Guest) -> Vec<Cmd> {
    vec![
        Cmd::new([tool(g), "stop", &id(g)]),
        Cmd::new([tool(g), "destroy", &id(g)]).opt("purge", "1"),
    ]
}

/// Stamp the guest: the `phoenix` tag marks ownership, a second tag carries the
/// key. `tags` is the whole list (`--tags` replaces it): see [`merge_tags`].
pub fn stamp(g: &Guest, tags: &str) -> Cmd {
    Cmd::new([tool(g), "set", &id(g)]).opt("tags", tags)
}

/// Tags for a stamp: `phoenix;phx-built-<key prefix>` or `phoenix;phx-building`.
/// A tag is a short word: the output key's first 32 hex digits go in it, and the
/// proof lines after the stamp's first line do not (see `crate::inventory`).
pub fn stamp_tags(stamp: &str) -> String {
    let first = stamp.lines().next().unwrap_or_default().trim();
    match first.strip_prefix("built:") {
        Some(key) => format!("phoenix;phx-built-{}", key.get(..32).unwrap_or(key)),
        None => "phoenix;phx-building".into(),
    }
}

/// Whether phoenix sets this tag (and so replaces it with every stamp).
fn is_stamp_tag(tag: &str) -> bool {
    tag == "phoenix" || tag.starts_with("phx-built-") || tag.starts_with("phx-building")
}

/// The tag list to write: the guest's `current` tags that phoenix did not set,
/// kept, and phoenix's own replaced by `stamp` (from [`stamp_tags`]). `--tags`
/// replaces the whole list (pve-container `PVE::LXC::Config::update_pct_config`,
/// qemu-server `update_vm` via `PVE::GuestHelpers::get_unique_tags`), which splits
/// at `;`, `,` and whitespace (`PVE::Tools::split_list`). A clone's inherited
/// `phx-built-<source key>` goes with it.
pub fn merge_tags(current: &str, stamp: &str) -> String {
    let mut tags: Vec<&str> = stamp.split(';').collect();
    for t in current.split([';', ',', ' ', '\t']) {
        if !t.is_empty() && !is_stamp_tag(t) && !tags.contains(&t) {
            tags.push(t);
        }
    }
    tags.join(";")
}

/// Everything on the host in one call.
pub fn inventory() -> Cmd {
    Cmd::new([
        "pvesh",
        "get",
        "/cluster/resources",
        "--type",
        "vm",
        "--output-format",
        "json",
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stamp_replaces_only_phoenix_s_own_tags() {
        let built = stamp_tags("built:abcd");
        assert_eq!(
            merge_tags("phoenix;phx-built-0000;prod, web team", &built),
            "phoenix;phx-built-abcd;prod;web;team"
        );
        assert_eq!(
            merge_tags("phoenix;phx-built-src;gpu", &stamp_tags("building:")),
            "phoenix;phx-building;gpu",
            "a clone's inherited stamp goes"
        );
        assert_eq!(merge_tags("", &built), built);
    }

    #[test]
    fn a_tag_carries_the_output_key_and_not_the_proof() {
        let key = "ab".repeat(32);
        let stamp = format!("built:{key}\n{} define\n{key} app", "cd".repeat(32));
        assert_eq!(
            stamp_tags(&stamp),
            format!("phoenix;phx-built-{}", &key[..32])
        );
        assert_eq!(stamp_tags("built:abcd"), "phoenix;phx-built-abcd");
    }
}
