//! The firewall reconcile against a model of Proxmox's rule list
//! (pve-firewall `RulesBase`: `create_rule` unshifts, `update_rule` `moveto`,
//! `delete_rule` splices).

use super::*;
use crate::defs::{Direction, RuleAction};

fn rule(port: &str) -> FirewallRule {
    FirewallRule {
        direction: Direction::In,
        action: RuleAction::Accept,
        proto: Some("tcp".into()),
        source: None,
        dest: None,
        port: Some(port.into()),
        comment: None,
    }
}

fn guest(ports: &[&str]) -> Guest {
    let mut g = Guest::empty(GuestKind::Ct, 103, "f.json", "x");
    g.firewall.enabled = true;
    g.firewall.rules = ports.iter().map(|p| rule(p)).collect();
    g
}

fn now(port: &str, enabled: bool) -> RuleNow {
    RuleNow {
        key: Some(RuleKey::of(&rule(port))),
        enabled,
    }
}

/// What Proxmox's list is after `cmds`, as (dport, enabled).
fn apply(start: &[RuleNow], cmds: &[Cmd]) -> Vec<(Option<String>, bool)> {
    let mut list: Vec<(Option<String>, bool)> = start
        .iter()
        .map(|r| (r.key.as_ref().and_then(|k| k.dport.clone()), r.enabled))
        .collect();
    for c in cmds {
        let a: Vec<&str> = c.argv.iter().map(String::as_str).collect();
        let pos = || a[2].rsplit('/').next().unwrap().parse::<usize>().unwrap();
        match a[1] {
            "create" => {
                let opt = |n: &str| a.iter().position(|x| *x == n).map(|i| a[i + 1]);
                list.insert(
                    0,
                    (
                        opt("--dport").map(String::from),
                        opt("--enable") == Some("1"),
                    ),
                );
            }
            "delete" => {
                assert!(pos() < list.len(), "no rule at position {}", pos());
                list.remove(pos());
            }
            "set" if a[2].ends_with("/options") => {}
            "set" => {
                let (from, to) = (pos(), a[4].parse::<usize>().unwrap());
                assert!(from < list.len(), "no rule at position {from}");
                // update_rule: rebuilt without it, inserted before the old index `to`.
                let moving = list[from].clone();
                let mut out = Vec::new();
                for (i, r) in list.iter().enumerate() {
                    if i == from {
                        continue;
                    }
                    if i == to {
                        out.push(moving.clone());
                    }
                    out.push(r.clone());
                }
                if to >= list.len() {
                    out.push(moving);
                }
                list = out;
            }
            other => panic!("unexpected {other}"),
        }
    }
    list
}

fn want(ports: &[&str]) -> Vec<(Option<String>, bool)> {
    ports
        .iter()
        .map(|p| (Some((*p).to_string()), true))
        .collect()
}

#[test]
fn created_rules_end_in_the_defined_order_and_enabled() {
    let g = guest(&["22", "80", "443"]);
    let cmds = firewall_reconcile(&g, "pve", &[]);
    assert_eq!(apply(&[], &cmds), want(&["22", "80", "443"]));
    assert!(
        cmds.iter()
            .filter(|c| c.argv[1] == "create")
            .all(|c| c.display().contains("--enable 1"))
    );
}

#[test]
fn a_clone_s_inherited_rules_are_reconciled_not_duplicated() {
    let g = guest(&["22", "80", "443", "80"]);
    // Inherited: 443 on top, a foreign rule, 22 disabled, 80 twice.
    let start = [
        now("443", true),
        RuleNow {
            key: None,
            enabled: true,
        },
        now("22", false),
        now("80", true),
        now("80", true),
        now("9999", true),
    ];
    let cmds = firewall_reconcile(&g, "pve", &start);
    assert_eq!(
        apply(&start, &cmds),
        want(&["22", "80", "443"]),
        "{cmds:#?}"
    );
    assert_eq!(
        cmds.iter().filter(|c| c.argv[1] == "create").count(),
        1,
        "only 22 is made again"
    );
}

#[test]
fn a_second_run_only_sets_the_options() {
    let g = guest(&["22", "80", "443"]);
    let start: Vec<RuleNow> = ["22", "80", "443"].iter().map(|p| now(p, true)).collect();
    assert_eq!(firewall_reconcile(&g, "pve", &start).len(), 1);
    // The old code deleted and re-created every rule.
    assert_eq!(
        firewall(&g, "pve", 3)
            .iter()
            .filter(|c| c.argv[1] == "delete")
            .count(),
        3
    );
}

#[test]
fn random_starts_always_end_exactly_as_defined() {
    let ports = ["1", "2", "3", "4", "5"];
    let mut seed = 7u64;
    for _ in 0..300 {
        let mut next = |n: usize| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            usize::try_from(seed >> 33).unwrap() % n
        };
        let wanted: Vec<&str> = (0..next(5)).map(|_| ports[next(5)]).collect();
        let start: Vec<RuleNow> = (0..next(7))
            .map(|_| now(ports[next(5)], next(4) != 0))
            .collect();
        let g = guest(&wanted);
        let mut dedup: Vec<&str> = Vec::new();
        for p in &wanted {
            if !dedup.contains(p) {
                dedup.push(p);
            }
        }
        let cmds = firewall_reconcile(&g, "pve", &start);
        assert_eq!(
            apply(&start, &cmds),
            want(&dedup),
            "{wanted:?} from {start:?}"
        );
    }
}

#[test]
fn rules_are_read_in_position_order_and_foreign_ones_match_nothing() {
    let json = r#"[{"pos":1,"type":"in","action":"ACCEPT","proto":"tcp","dport":"80","enable":1,"ipversion":4,"digest":"x"},
                   {"pos":0,"type":"in","action":"ACCEPT","macro":"SSH","enable":1},
                   {"pos":2,"type":"in","action":"ACCEPT","proto":"tcp","dport":"22"}]"#;
    let rules = parse_rules(json).unwrap();
    assert_eq!(rules[0].key, None);
    assert_eq!(rules[1], now("80", true));
    assert_eq!(rules[2], now("22", false), "no `enable` is disabled");
}

#[test]
fn policies_are_set_only_where_the_definition_names_them() {
    let mut g = guest(&["80"]);
    let options = |g: &Guest| firewall_reconcile(g, "pve", &[])[0].display();
    assert_eq!(
        options(&g),
        "pvesh set /nodes/pve/lxc/103/firewall/options --enable 1"
    );
    g.firewall.policy_in = Some(RuleAction::Drop);
    g.firewall.policy_out = Some(RuleAction::Reject);
    assert_eq!(
        options(&g),
        "pvesh set /nodes/pve/lxc/103/firewall/options --enable 1 --policy_in DROP --policy_out REJECT"
    );
}
