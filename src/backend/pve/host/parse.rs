//! Reading what the host's tools print: `wipefs --json` signatures, pool members in
//! `zpool status`, importable pools from `zpool import`, storage IDs from `pvesh`.

use std::collections::BTreeSet;

use serde_json::Value;

/// The signature types `wipefs --json <disk>` reports (empty output: none).
pub fn signatures(json: &str) -> Result<Vec<String>, String> {
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    let v: Value =
        serde_json::from_str(json).map_err(|e| format!("unreadable wipefs output: {e}"))?;
    Ok(v.get("signatures")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("type").and_then(Value::as_str))
        .map(str::to_string)
        .collect())
}

/// Whether a device in `zpool status -P` output is `disk` or one of its partitions
/// (`/dev/sdb1`, `/dev/nvme0n1p1`, `...-part1`).
pub fn is_member(device: &str, disk: &str) -> bool {
    let Some(rest) = device.strip_prefix(disk) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // A name ending in a digit (nvme0n1, loop1) numbers its partitions after a `p`;
    // `nvme0n10` is another disk.
    let plain_digits = !disk.ends_with(|c: char| c.is_ascii_digit()) && digits(rest);
    rest.is_empty()
        || plain_digits
        || rest.strip_prefix('p').is_some_and(digits)
        || rest.strip_prefix("-part").is_some_and(digits)
}

/// Pools `zpool import` (without arguments) lists as importable, with the devices
/// of each, as printed (short names or paths).
pub fn importable_pools(text: &str) -> Vec<(String, Vec<String>)> {
    let mut pools: Vec<(String, Vec<String>)> = Vec::new();
    let mut in_config = false;
    for line in text.lines() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix("pool:") {
            pools.push((name.trim().to_string(), Vec::new()));
            in_config = false;
        } else if t.starts_with("config:") {
            in_config = true;
        } else if in_config
            && let Some((_, devices)) = pools.last_mut()
            && let Some(word) = t.split_whitespace().next()
        {
            devices.push(word.to_string());
        }
    }
    pools
}

/// Storage IDs in `pvesh get /storage --output-format json`.
pub fn storage_ids(json: &str) -> Result<BTreeSet<String>, String> {
    let v: Value =
        serde_json::from_str(json).map_err(|e| format!("unreadable storage list: {e}"))?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("storage").and_then(Value::as_str))
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_and_storage_lists_parse() {
        assert!(signatures("").unwrap().is_empty());
        let json = r#"{"signatures": [{"device":"sdb","offset":"0x3f000","type":"zfs_member"},
                                     {"device":"sdb","offset":"0x1fe","type":"dos"}]}"#;
        assert_eq!(signatures(json).unwrap(), ["zfs_member", "dos"]);
        assert!(signatures("garbage").is_err());
        let ids =
            storage_ids(r#"[{"storage":"local","type":"dir"},{"storage":"tank-vm"}]"#).unwrap();
        assert_eq!(ids.into_iter().collect::<Vec<_>>(), ["local", "tank-vm"]);
    }
    #[test]
    fn importable_pools_parse() {
        let text = "   pool: tank\n     id: 1234\n  state: ONLINE\n action: The pool can be imported.\n config:\n\n\ttank        ONLINE\n\t  mirror-0  ONLINE\n\t    sdb     ONLINE\n\t    nvme0n1p1  ONLINE\n\n   pool: old\n config:\n\told ONLINE\n\t  /dev/disk/by-id/ata-X-part1 ONLINE\n";
        let pools = importable_pools(text);
        assert_eq!(pools.len(), 2);
        assert_eq!(pools[0].0, "tank");
        assert!(pools[0].1.iter().any(|d| is_member(d, "sdb")));
        assert!(pools[0].1.iter().any(|d| is_member(d, "nvme0n1")));
        assert!(
            pools[1]
                .1
                .iter()
                .any(|d| is_member(d, "/dev/disk/by-id/ata-X"))
        );
        assert!(importable_pools("no pools available to import\n").is_empty());
    }
    #[test]
    fn pool_membership_covers_partitions_only() {
        assert!(is_member("/dev/sdb", "/dev/sdb"));
        assert!(is_member("/dev/sdb1", "/dev/sdb"));
        assert!(is_member("/dev/nvme0n1p1", "/dev/nvme0n1"));
        assert!(is_member(
            "/dev/disk/by-id/ata-X-part1",
            "/dev/disk/by-id/ata-X"
        ));
        assert!(!is_member("/dev/sdba", "/dev/sdb"));
        assert!(!is_member("/dev/sdb", "/dev/sdb1"));
        assert!(!is_member(
            "/dev/disk/by-id/ata-XY",
            "/dev/disk/by-id/ata-X"
        ));
    }
}
