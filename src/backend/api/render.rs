//! The API's answers printed as `pct`/`qm` print them, so the pve backend reads
//! one format whichever way its commands went (see `route`).

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;

use super::route::Render;

/// `data` as the tool would print it.
pub fn render(how: Render, data: &Value) -> String {
    match how {
        Render::Json => data.to_string(),
        Render::Config => config(data),
        Render::Pending => pending(data),
        Render::Status => status(data),
        Render::Snapshots => snapshots(data),
        Render::Nothing => String::new(),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `pct config`: one `key: value` line per option, sorted, without `digest`
/// (pve-container `PVE::CLI::pct` `config` prints the API's hash this way). A
/// multi-line description goes as `#` lines first, as in the config file.
fn config(data: &Value) -> String {
    let mut out = String::new();
    let Some(map) = data.as_object() else {
        return out;
    };
    if let Some(desc) = map.get("description").and_then(Value::as_str) {
        for line in desc.lines() {
            let _ = writeln!(out, "#{line}");
        }
    }
    let mut keys: Vec<&String> = map
        .keys()
        .filter(|k| *k != "digest" && *k != "description")
        .collect();
    keys.sort();
    for k in keys {
        let _ = writeln!(out, "{k}: {}", scalar(&map[k]));
    }
    out
}

/// `pct pending` (pve-guest-common `PVE::GuestHelpers::format_pending`): per key,
/// sorted, `del key: value` for a pending deletion, `cur`/`new` lines for a
/// pending change, `cur key: value` for the rest.
fn pending(data: &Value) -> String {
    let mut out = String::new();
    let mut items: Vec<&Value> = data
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    items.sort_by_key(|i| {
        i.get("key")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    });
    for item in items {
        let Some(key) = item.get("key").and_then(Value::as_str) else {
            continue;
        };
        if key == "digest" {
            continue;
        }
        let value = item.get("value").filter(|v| !v.is_null());
        let new = item.get("pending").filter(|v| !v.is_null());
        let deleted = item.get("delete").and_then(Value::as_i64).unwrap_or(0) != 0;
        if deleted {
            let _ = writeln!(out, "del {key}: {}", value.map(scalar).unwrap_or_default());
        } else if let Some(new) = new {
            if let Some(v) = value {
                let _ = writeln!(out, "cur {key}: {}", scalar(v));
            }
            let _ = writeln!(out, "new {key}: {}", scalar(new));
        } else {
            let _ = writeln!(out, "cur {key}: {}", value.map(scalar).unwrap_or_default());
        }
    }
    out
}

/// `pct status`: `status: running`.
fn status(data: &Value) -> String {
    format!(
        "status: {}\n",
        data.get("status")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
    )
}

/// `pct listsnapshot` (`print_snapshot_tree`): one line per snapshot with its
/// time; `current` last, as "You are here!".
fn snapshots(data: &Value) -> String {
    let mut out = String::new();
    let mut items: Vec<&Value> = data
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    items.sort_by_key(|i| {
        i.get("snaptime")
            .and_then(Value::as_u64)
            .unwrap_or(u64::MAX)
    });
    for item in items {
        let name = item.get("name").and_then(Value::as_str).unwrap_or_default();
        if name == "current" {
            let _ = writeln!(
                out,
                "`-> current                                             You are here!"
            );
            continue;
        }
        let when = item
            .get("snaptime")
            .and_then(Value::as_u64)
            .map(|t| {
                humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(t))
                    .to_string()
                    .replace('T', " ")
                    .trim_end_matches('Z')
                    .to_string()
            })
            .unwrap_or_default();
        let desc = item
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "`-> {name}  {when}  {}",
            desc.lines().next().unwrap_or_default()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::backend::pve::commands::{Current, Pending, parse_listsnapshot};

    #[test]
    fn a_config_reads_as_pct_config_prints_it() {
        let text = render(
            Render::Config,
            &json!({"memory": 2048, "hostname": "web", "digest": "abc",
                    "mp0": "/srv,mp=/data", "net0": "name=eth0,bridge=vmbr0",
                    "template": 1}),
        );
        assert_eq!(
            text,
            "hostname: web\nmemory: 2048\nmp0: /srv,mp=/data\nnet0: name=eth0,bridge=vmbr0\ntemplate: 1\n"
        );
        let cur = Current::parse(&text);
        assert!(cur.template);
        assert_eq!(cur.mounts.get(&0).map(String::as_str), Some("/data"));
    }

    #[test]
    fn pending_changes_read_as_pct_pending_prints_them() {
        let text = render(
            Render::Pending,
            &json!([
                {"key": "tags", "value": "phoenix;web"},
                {"key": "memory", "value": 1024, "pending": 2048},
                {"key": "swap", "value": 512, "delete": 1},
                {"key": "digest", "value": "x"}
            ]),
        );
        assert_eq!(
            text,
            "cur memory: 1024\nnew memory: 2048\ndel swap: 512\ncur tags: phoenix;web\n"
        );
        let p = Pending::parse(&text);
        assert_eq!(p.tags, "phoenix;web");
        assert_eq!(p.options, ["memory", "swap"]);
    }

    #[test]
    fn snapshots_come_oldest_first_with_their_times() {
        let text = render(
            Render::Snapshots,
            &json!([
                {"name": "current", "parent": "b", "running": 0},
                {"name": "b", "snaptime": 1_700_000_100, "parent": "a"},
                {"name": "a", "snaptime": 1_700_000_000, "description": "first\nsecond"}
            ]),
        );
        let snaps = parse_listsnapshot(&text);
        let names: Vec<&str> = snaps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(snaps[0].taken.as_deref(), Some("2023-11-14 22:13:20"));
    }

    #[test]
    fn status_is_one_line() {
        assert_eq!(
            render(Render::Status, &json!({"status": "running", "vmid": 1})),
            "status: running\n"
        );
    }
}
