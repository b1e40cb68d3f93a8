//! The pve backend's `observe` and `adopt` against the stand-in host: after a
//! build every guest matches its definition, a change made by hand shows as
//! exactly that setting, guests the shell tool built (reference §2.1) match
//! where it set what phoenix sets, and `adopt` stamps them without changing
//! anything else.
//!
//! The backend runs `pct`, `qm` and `pvesh` from its process's PATH, which a test
//! cannot change in its own process (`set_var` is unsafe, and unsafe code is
//! forbidden): the library half ([`library_side`]) runs in a child process of
//! this test binary whose environment reaches the stand-in, and prints what it
//! observed as JSON.

use std::path::Path;
use std::process::Command;

use phoenix::backend::pve::{Pve, PveOptions, Runner, parse_inventory};
use phoenix::backend::{Backend, CloneFrom, GuestCtx, Log, Stamp};
use phoenix::defs::{Definitions, GuestKind, Severity};
use phoenix::graph::NodeId;
use serde_json::{Value, json};

use super::{Host, StandIn, host};
use crate::helpers::shared;

mod shell_tool;

use self::shell_tool::ok;
pub(super) use self::shell_tool::shell_tool_build;

const DEFS_ENV: &str = "PHOENIX_TEST_OBSERVE_DEFS";
const IDS_ENV: &str = "PHOENIX_TEST_OBSERVE_IDS";
/// `<id>=<stamp>`: adopt that guest first.
const ADOPT_ENV: &str = "PHOENIX_TEST_OBSERVE_ADOPT";
const MARK: &str = "PHOENIX-OBSERVED ";

/// What the library side reported: each guest's `Observation` (as JSON) or its
/// error by ID, and under `adopt` the adoption's outcome (`"ok"` or an error).
pub(super) struct Report(pub(super) Value);

impl Report {
    #[track_caller]
    pub(super) fn of(&self, id: u32) -> &Value {
        let o = &self.0[id.to_string()];
        assert!(o.get("error").is_none(), "observing {id}: {o}");
        o
    }

    /// The names of the settings of `id` that differ.
    pub(super) fn differing(&self, id: u32) -> Vec<String> {
        names(&self.of(id)["settings"], false)
    }

    pub(super) fn shape_mismatches(&self, id: u32) -> Vec<String> {
        names(&self.of(id)["shape"], false)
    }

    #[track_caller]
    pub(super) fn setting(&self, id: u32, name: &str) -> (Value, Value) {
        let s = self.of(id)["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{id} has no setting `{name}`: {}", self.of(id)));
        (s["live"].clone(), s["want"].clone())
    }
}

/// The names of the settings in `list` that match (`matching`) or differ.
fn names(list: &Value, matching: bool) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .filter(|s| (s["live"] == s["want"]) == matching)
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

/// Observe `ids` through the backend's library API (`Backend::observe`), after
/// adopting `adopt` (`Backend::adopt`: ID and stamp) when given.
pub(super) fn observe(h: &Host, ids: &[u32], adopt: Option<(u32, &str)>) -> Report {
    let path = format!(
        "{}:{}",
        h.pve.bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let ids: Vec<String> = ids.iter().map(u32::to_string).collect();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "pve_standin::observe::library_side"])
        .args(["--include-ignored", "--nocapture", "--test-threads", "1"])
        .env("PATH", path)
        .env("PHOENIX_STANDIN_DIR", &h.pve.state)
        .env(
            "PHOENIX_STANDIN_SCHEMA",
            shared().unwrap().join("proxmox/pve-api-schema.json"),
        )
        .env("PHOENIX_PVE_ROOT", h.pve.root())
        .env(DEFS_ENV, &h.defs)
        .env(IDS_ENV, ids.join(","));
    if let Some((id, stamp)) = adopt {
        cmd.env(ADOPT_ENV, format!("{id}={stamp}"));
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        // libtest prints the test's name on the same line first.
        .find_map(|l| l.find(MARK).map(|at| &l[at + MARK.len()..]))
        .unwrap_or_else(|| {
            panic!(
                "the library side reported nothing:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    Report(serde_json::from_str(line).unwrap())
}

/// The library half of the tests above: a `Pve` backend on this process's PATH
/// (the stand-in's), as the CLI makes one; each guest of `$PHOENIX_TEST_OBSERVE_IDS`
/// observed, after the adoption `$PHOENIX_TEST_OBSERVE_ADOPT` asks for.
#[test]
#[ignore = "runs in a child process of the observe tests, whose PATH has the stand-in"]
fn library_side() {
    let Ok(defs_dir) = std::env::var(DEFS_ENV) else {
        eprintln!("SKIPPED: run by the observe tests only");
        return;
    };
    let defs = phoenix::pipeline::load(Path::new(&defs_dir), Severity::Error).defs;
    let opts = PveOptions {
        root: std::env::var("PHOENIX_PVE_ROOT").unwrap(),
        ..PveOptions::default()
    };
    let pve = Pve::new(Runner::Local, opts).unwrap();
    let mut report = serde_json::Map::new();
    if let Ok(spec) = std::env::var(ADOPT_ENV) {
        let (id, stamp) = spec.split_once('=').unwrap();
        let adopted = pve.adopt(&ctx(&defs, id.parse().unwrap()), stamp, &mut Log::sink());
        let outcome = adopted.map_or_else(|e| json!({ "error": e.message }), |()| json!("ok"));
        report.insert("adopt".into(), outcome);
    }
    for id in std::env::var(IDS_ENV)
        .unwrap()
        .split(',')
        .filter(|s| !s.is_empty())
    {
        let seen = pve.observe(&ctx(&defs, id.parse().unwrap()), &mut Log::sink());
        let value = seen.map_or_else(
            |e| json!({ "error": e.message }),
            |o| serde_json::to_value(o).unwrap(),
        );
        report.insert(id.to_string(), value);
    }
    println!("{MARK}{}", Value::Object(report));
}

/// Guest `id` of `defs` as an operation gets it.
fn ctx(defs: &Definitions, id: u32) -> GuestCtx<'_> {
    let guest = defs.guest(id).unwrap();
    GuestCtx {
        node: match guest.kind {
            GuestKind::Ct => NodeId::Ct(id),
            GuestKind::Vm => NodeId::Vm(id),
        },
        guest,
        defs,
        source: CloneFrom::of(defs, guest),
        timeout: std::time::Duration::from_secs(60),
    }
}

/// The inventory's stamp of guest `id`, as the backend reads it.
fn stamp_of(pve: &StandIn, node: NodeId) -> Stamp {
    let json = ok(
        pve,
        &[
            "pvesh",
            "get",
            "/cluster/resources",
            "--type",
            "vm",
            "--output-format",
            "json",
        ],
    );
    parse_inventory(&json).unwrap()[&node].stamp.clone()
}

const BUNDLED: &[u32] = &[900, 901, 902, 920, 950, 103, 101, 102, 9000, 1001];

#[test]
fn after_a_build_everything_matches_and_a_change_by_hand_is_exactly_that_setting() {
    let Some(h) = host() else { return };
    let out = h.build(&["all"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let r = observe(&h, BUNDLED, None);
    for id in BUNDLED {
        assert!(r.differing(*id).is_empty(), "{id}: {}", r.of(*id));
        assert!(r.shape_mismatches(*id).is_empty(), "{id}: {}", r.of(*id));
    }
    assert_eq!(
        names(&r.of(950)["shape"], true),
        ["ostype", "unprivileged", "template", "rootfs storage"]
    );
    assert_eq!(r.of(9000)["template"], true);
    assert_eq!(
        r.of(900)["snapshots"],
        json!(["pre-base_setup", "base-snapshot"])
    );
    assert_eq!(r.of(950)["running"], true);

    ok(&h.pve, &["pct", "set", "950", "--memory", "2048"]);
    ok(
        &h.pve,
        &["pvesh", "delete", "/nodes/pve/lxc/103/firewall/rules/0"],
    );
    // Cores of a running VM wait for its next start; stopped, it keeps them waiting.
    ok(&h.pve, &["qm", "set", "1001", "--cores", "4"]);
    ok(&h.pve, &["qm", "shutdown", "1001"]);
    let r = observe(&h, &[950, 103, 1001], None);
    assert_eq!(r.differing(950), ["memory"]);
    assert_eq!(r.setting(950, "memory"), (json!("2048"), json!("1024")));
    assert_eq!(r.differing(103), ["rule 1"]);
    assert_eq!(
        r.setting(103, "rule 1"),
        (
            Value::Null,
            json!(
                "IN ACCEPT -source 10.0.3.0/24 -p tcp -dport 9000 # guests on the demo bridge may fetch the CA root"
            )
        )
    );
    assert_eq!(r.differing(1001), ["cores"]);
    assert_eq!(r.setting(1001, "cores").0, json!("2 (pending: 4)"));

    // Stamping it would apply its pending change (qemu-server `update_vm` on a
    // stopped VM): refused, and nothing changed.
    let before = h.pve.stand_in_state()["guests"]["1001"].clone();
    let r = observe(&h, &[], Some((1001, "built:abcd")));
    let refused = r.0["adopt"]["error"].as_str().unwrap_or_default();
    assert!(refused.contains("pending changes (cores)"), "{}", r.0);
    assert_eq!(h.pve.stand_in_state()["guests"]["1001"], before);
    h.pve.assert_no_violations();
}

#[test]
fn guests_the_shell_tool_built_match_and_adopt_stamps_them_and_nothing_else() {
    let Some(h) = host() else { return };
    for id in [950, 103] {
        shell_tool_build(&h.pve, &h.defs, id);
    }
    // The user's own tag, and a change waiting for the next start.
    ok(&h.pve, &["pct", "set", "950", "--tags", "prod"]);
    ok(&h.pve, &["pct", "set", "950", "--features", "nesting=1"]);
    let ids = [900, 901, 920, 950, 103];
    let r = observe(&h, &ids, None);
    for id in ids {
        assert!(r.shape_mismatches(id).is_empty(), "{id}: {}", r.of(id));
    }
    for id in [900, 901, 920, 950] {
        assert!(r.differing(id).is_empty(), "{id}: {}", r.of(id));
    }
    // The shell tool never switches a container's own firewall on (§2.1 step 5).
    assert_eq!(r.differing(103), ["enable"]);
    assert_eq!(r.setting(103, "enable"), (json!("0"), json!("1")));
    assert!(names(&r.of(103)["settings"], true).contains(&"rule 1".to_string()));
    assert_eq!(stamp_of(&h.pve, NodeId::Ct(950)), Stamp::Foreign);

    let key = "ab".repeat(32);
    let r2 = observe(&h, &[950], Some((950, &format!("built:{key}"))));
    assert_eq!(r2.0["adopt"], "ok", "{}", r2.0);
    assert_eq!(
        stamp_of(&h.pve, NodeId::Ct(950)),
        Stamp::Built(key[..32].to_string())
    );
    let state = h.pve.stand_in_state();
    let ct = &state["guests"]["950"];
    assert_eq!(
        ct["config"]["tags"],
        format!("phoenix;phx-built-{};prod", &key[..32])
    );
    assert_eq!(
        ct["pending"]["features"], "nesting=1",
        "still pending: {ct}"
    );
    assert_eq!(
        r2.of(950)["settings"],
        r.of(950)["settings"],
        "only the tags changed"
    );
    h.pve.assert_no_violations();
}

/// The reads `observe` makes: one inventory, the current config, the pending
/// changes, the firewall's options and rules, the snapshots; and nothing written.
#[test]
fn observing_reads_only() {
    let Some(h) = host() else { return };
    shell_tool_build(&h.pve, &h.defs, 900);
    let before = h.pve.commands().len();
    let state = h.pve.stand_in_state();
    let r = observe(&h, &[900], None);
    assert!(r.differing(900).is_empty(), "{}", r.of(900));
    let ran: Vec<String> = h.pve.commands()[before..]
        .iter()
        .map(|c| c[..2].join(" "))
        .collect();
    assert_eq!(
        ran,
        [
            "pvesh get",
            "pct config",
            "pct pending",
            "pvesh get",
            "pvesh get",
            "pct listsnapshot"
        ]
    );
    assert_eq!(h.pve.stand_in_state(), state);
    let missing = observe(&h, &[101], None);
    let err = missing.0["101"]["error"].as_str().unwrap();
    assert!(err.contains("no guest with ID 101"), "{err}");
}
