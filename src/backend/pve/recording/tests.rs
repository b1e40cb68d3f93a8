//! The recorder and its host model.

use super::*;

fn cmd(line: &str) -> Cmd {
    Cmd::new(line.split(' '))
}

#[test]
fn created_guests_appear_stopped_then_run_and_keep_their_settings() {
    let rec = Recorder::default();
    let mut log = Log::sink();
    let mut ask = |line: &str| rec.run(&cmd(line), None, &mut log).stdout;
    assert_eq!(ask("pct status 950"), "");
    ask("pct create 950 local:vztmpl/x.tar.zst --rootfs local-lvm:4 --tags phoenix");
    assert_eq!(ask("pct status 950"), "status: stopped\n");
    ask("pct set 950 --memory 2048");
    let config = ask("pct config 950");
    assert!(config.contains("memory: 2048\n"), "{config}");
    assert!(config.contains("rootfs: local-lvm:subvol-950-disk-0,size=4G\n"));
    ask("pct start 950");
    assert_eq!(ask("pct status 950"), "status: running\n");
    ask("pct snapshot 950 pre-docker");
    let snaps = super::super::commands::parse_listsnapshot(&ask("pct listsnapshot 950"));
    assert_eq!(snaps.len(), 1);
    assert!(ask("pvesh get /cluster/resources").contains("\"vmid\":950"));
    assert_eq!(
        rec.lines(Path::new("")).first().map(String::as_str),
        Some("pct status 950")
    );
}

#[test]
fn firewall_rules_go_on_top_move_and_come_with_a_clone() {
    let rec = Recorder::default();
    let mut log = Log::sink();
    let mut ask = |line: &str| rec.run(&cmd(line), None, &mut log).stdout;
    let base = "/nodes/pve/lxc/900/firewall/rules";
    ask("pct create 900 local:vztmpl/x.tar.zst");
    ask(&format!(
        "pvesh create {base} --type in --action ACCEPT --dport 22 --enable 1"
    ));
    ask(&format!(
        "pvesh create {base} --type in --action ACCEPT --dport 80"
    ));
    ask(&format!(
        "pvesh create {base} --type out --action DROP --enable 1"
    ));
    let ports = |json: String| -> Vec<String> {
        let rules = super::super::commands::parse_rules(&json).unwrap();
        rules
            .iter()
            .map(|r| {
                let k = r.key.as_ref().unwrap();
                format!(
                    "{}{}{}",
                    k.direction,
                    k.dport.as_deref().unwrap_or("-"),
                    u8::from(r.enabled)
                )
            })
            .collect()
    };
    // Created rules go on top; without --enable 1 a rule is disabled.
    assert_eq!(
        ports(ask(&format!("pvesh get {base}"))),
        ["out-1", "in800", "in221"]
    );
    // Rule 0 goes before the rule at 2; a moveto past the end puts it last.
    ask(&format!("pvesh set {base}/0 --moveto 2"));
    assert_eq!(
        ports(ask(&format!("pvesh get {base}"))),
        ["in800", "out-1", "in221"]
    );
    ask(&format!("pvesh set {base}/0 --moveto 9"));
    assert_eq!(
        ports(ask(&format!("pvesh get {base}"))),
        ["out-1", "in221", "in800"]
    );
    ask(&format!("pvesh delete {base}/1"));
    ask("pct clone 900 103 --hostname ca");
    let clone = "/nodes/pve/lxc/103/firewall/rules";
    assert_eq!(
        ports(ask(&format!("pvesh get {clone}"))),
        ["out-1", "in800"]
    );
}

/// `pct template`, a linked clone of the template (no `--snapname`, no `--full`),
/// a full one onto another storage, and the template's stamp afterwards.
#[test]
fn a_converted_template_is_cloned_linked_and_stamped() {
    let rec = Recorder::default();
    let mut log = Log::sink();
    let mut ask = |line: &str| rec.run(&cmd(line), None, &mut log).stdout;
    ask("pct create 900 local:vztmpl/x.tar.zst --rootfs tank:16 --tags phoenix;phx-building");
    ask("pct snapshot 900 pre-base_setup");
    ask("pct delsnapshot 900 pre-base_setup");
    ask("pct template 900");
    assert!(ask("pct config 900").contains("rootfs: tank:basevol-900-disk-0,size=16G\n"));
    ask("pct set 900 --tags phoenix;phx-built-ab");
    let pending = ask("pct pending 900");
    assert!(
        pending.contains("cur tags: phoenix;phx-built-ab\n"),
        "{pending}"
    );
    assert!(
        ask("pct listsnapshot 900").lines().count() == 1,
        "only `current`"
    );
    let listed = ask("pvesh get /cluster/resources");
    assert!(listed.contains(r#""template":1"#), "{listed}");

    ask("pct clone 900 101 --hostname web");
    let linked = ask("pct config 101");
    assert!(
        linked.contains("rootfs: tank:basevol-900-disk-0/subvol-101-disk-0,size=16G\n")
            && linked.contains("hostname: web\n")
            && !linked.contains("template"),
        "{linked}"
    );
    assert_eq!(ask("pct status 101"), "status: stopped\n");
    ask("pct clone 900 102 --hostname ca --full 1 --storage fast");
    assert!(ask("pct config 102").contains("rootfs: fast:subvol-102-disk-0,size=16G\n"));
}

/// A converted template the inventory shows built is a template, without the
/// `pre-` snapshots its build took and deleted.
#[test]
fn an_existing_converted_template_is_seeded_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let lxc = serde_json::json!({ "lxc_configs": {
        "900": { "name": "base", "template": "local:vztmpl/u.tar.zst", "is_template": true,
                 "features": ["base_setup"] },
        "950": { "name": "web", "clone_from_ctid": "900", "features": ["docker"] }
    } });
    std::fs::write(dir.path().join("phoenix_hypervisor_config.json"), "{}").unwrap();
    std::fs::write(dir.path().join("phoenix_lxc_configs.json"), lxc.to_string()).unwrap();
    let (defs, _) = crate::defs::load(dir.path());
    let built = |running| crate::inventory::Observed {
        stamp: crate::inventory::Stamp::Built("ab".into()),
        proof: None,
        snapshots: Vec::new(),
        running,
        node: None,
    };
    let inventory: Inventory = [
        (crate::graph::NodeId::Ct(900), built(false)),
        (crate::graph::NodeId::Ct(950), built(true)),
    ]
    .into_iter()
    .collect();
    let rec = Recorder::new("pve", &inventory, &defs);
    let mut log = Log::sink();
    let mut ask = |line: &str| rec.run(&cmd(line), None, &mut log).stdout;
    assert!(ask("pct config 900").contains("template: 1\n"));
    assert!(!ask("pct listsnapshot 900").contains("pre-base_setup"));
    assert!(!ask("pct config 950").contains("template"));
    assert!(ask("pct listsnapshot 950").contains("pre-docker"));
}
