//! Storage volume names in the dry run's host, as Proxmox's storage plugins make
//! them: a new volume, a template's base volume, a clone's volume. Only the names
//! (and the `size=` a probe reads back) matter here: the backend reads sizes and
//! mount paths from `pct config`, and a reader of the dry run sees linked clones
//! as Proxmox shows them.

/// Whether `key` of a container's config is a volume (`rootfs`, `mpN`).
pub(super) fn is_volume_key(key: &str) -> bool {
    key == "rootfs"
        || key
            .strip_prefix("mp")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A new volume for a `pct create`/`set` value `STORAGE:SIZE[,...]`:
/// `STORAGE:subvol-<id>-disk-<n>,...,size=<SIZE>G` (ZFS's name for a container
/// volume, `n` the first number `taken` does not hold); any other value as it is.
pub(super) fn allocate(value: &str, id: u32, taken: &[&String]) -> String {
    let (vol, rest) = value.split_once(',').unwrap_or((value, ""));
    let Some((storage, size)) = vol.split_once(':') else {
        return value.to_string();
    };
    if size.is_empty() || !size.bytes().all(|b| b.is_ascii_digit()) {
        return value.to_string();
    }
    let n = (0..=taken.len())
        .find(|n| {
            let name = format!("-{id}-disk-{n}");
            !taken.iter().any(|t| t.contains(&name))
        })
        .unwrap_or(0);
    let mut out = format!("{storage}:subvol-{id}-disk-{n}");
    for part in rest
        .split(',')
        .filter(|p| !p.is_empty() && !p.starts_with("size="))
    {
        out.push(',');
        out.push_str(part);
    }
    out.push_str(&format!(",size={size}G"));
    out
}

/// Split a volume value into its storage, its volume name and the rest
/// (`,mp=/x,size=8G`); `None` for a bind mount (a host path) or a value without
/// a storage.
fn split(value: &str) -> Option<(&str, &str, &str)> {
    let (vol, rest) = value.find(',').map_or((value, ""), |i| value.split_at(i));
    let (storage, name) = vol.split_once(':')?;
    (!vol.starts_with('/')).then_some((storage, name, rest))
}

/// The volume `value` after `pct template` (pve-storage `vdisk_create_base`,
/// `ZFSPoolPlugin::create_base`): the volume's own name (its last part) `vm-`
/// becomes `base-`, `subvol-` becomes `basevol-`.
pub(super) fn base(value: &str) -> String {
    let Some((storage, name, rest)) = split(value) else {
        return value.to_string();
    };
    let (dir, last) = name.rsplit_once('/').map_or(("", name), |(d, l)| (d, l));
    let renamed = if let Some(tail) = last.strip_prefix("subvol-") {
        format!("basevol-{tail}")
    } else if let Some(tail) = last.strip_prefix("vm-") {
        format!("base-{tail}")
    } else {
        return value.to_string();
    };
    let sep = if dir.is_empty() { "" } else { "/" };
    format!("{storage}:{dir}{sep}{renamed}{rest}")
}

/// Guest `src`'s volume `value` as its clone `dst` has it: a linked clone's lives
/// under the template's base volume (`ZFSPoolPlugin`/`LvmThinPlugin` `clone_image`:
/// `basevol-900-disk-0/subvol-101-disk-0`); a full copy is the clone's own, on
/// `storage` when given (`pct clone --storage`).
pub(super) fn cloned(
    value: &str,
    src: u32,
    dst: u32,
    storage: Option<&str>,
    linked: bool,
) -> String {
    let Some((sid, name, rest)) = split(value) else {
        return value.to_string();
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    let own = [
        ("basevol-", "subvol-"),
        ("subvol-", "subvol-"),
        ("base-", "vm-"),
        ("vm-", "vm-"),
    ]
    .iter()
    .find_map(|(from, to)| {
        let tail = last.strip_prefix(&format!("{from}{src}-"))?;
        Some(format!("{to}{dst}-{tail}"))
    });
    let Some(own) = own else {
        return value.to_string();
    };
    if linked {
        format!("{sid}:{last}/{own}{rest}")
    } else {
        format!("{}:{own}{rest}", storage.unwrap_or(sid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_are_named_as_proxmox_names_them() {
        let rootfs = "tank:subvol-900-disk-0,size=16G";
        assert_eq!(allocate("tank:16", 900, &[]), rootfs);
        let taken = rootfs.to_string();
        assert_eq!(
            allocate("bulk:50,mp=/m", 900, &[&taken]),
            "bulk:subvol-900-disk-1,mp=/m,size=50G"
        );
        assert_eq!(allocate("/srv/x,mp=/x", 900, &[]), "/srv/x,mp=/x");
        let base_vol = base(rootfs);
        assert_eq!(base_vol, "tank:basevol-900-disk-0,size=16G");
        let linked = cloned(&base_vol, 900, 901, None, true);
        assert_eq!(linked, "tank:basevol-900-disk-0/subvol-901-disk-0,size=16G");
        // A linked clone made a template, and its own linked clone.
        let base2 = base(&linked);
        assert_eq!(base2, "tank:basevol-900-disk-0/basevol-901-disk-0,size=16G");
        assert_eq!(
            cloned(&base2, 901, 101, None, true),
            "tank:basevol-901-disk-0/subvol-101-disk-0,size=16G"
        );
        // A full copy, on another storage.
        assert_eq!(
            cloned(&base2, 901, 102, Some("fast"), false),
            "fast:subvol-102-disk-0,size=16G"
        );
        assert_eq!(cloned("/srv/x,mp=/x", 901, 102, None, true), "/srv/x,mp=/x");
        assert!(is_volume_key("mp3") && is_volume_key("rootfs") && !is_volume_key("mp"));
    }
}
