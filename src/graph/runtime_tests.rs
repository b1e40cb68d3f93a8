//! The running-time order's rules, on a small tree written to a temporary
//! directory: selections follow `depends` edges only, and groups go by dependency
//! first, then boot order.

use serde_json::{Value, json};

use super::runtime::{BootPlace, Way};
use super::{Graph, NodeId, build};
use crate::defs::{self, Definitions, layout};

/// A container cloned from 900 (or 900 itself, from an OS template), with `extra`.
fn ct(name: &str, extra: &Value) -> Value {
    let mut v = json!({
        "name": name, "storage_pool": "local-lvm", "memory_mb": 512, "cores": 1,
        "clone_from_ctid": 900
    });
    for (k, x) in extra.as_object().expect("extra fields are an object") {
        v[k] = x.clone();
    }
    v
}

fn at(order: u64) -> Value {
    json!({ "start_at_boot": true, "boot_order": order })
}

fn with(mut a: Value, b: &Value) -> Value {
    for (k, x) in b.as_object().expect("an object") {
        a[k] = x.clone();
    }
    a
}

/// 900 (snapshot template) ← 901 (snapshot template, depends on VM 2002);
/// 103 (boot 1) ← 101, 102 (boot 2, depend on 103); 104 (boot 2, no needs);
/// 105 (not started at boot); VM 2000 (converted template) ← 2001 (boot 3,
/// depends on 103) ← 2002 (boot 1, depends on 2001); 801 (cloned from 901, boot
/// 6, depends on 2002).
fn tree() -> (Definitions, Graph) {
    let mut base = ct("base", &json!({ "template_snapshot_name": "base" }));
    let obj = base.as_object_mut().expect("an object");
    obj.remove("clone_from_ctid");
    obj.insert("template".into(), json!("local:vztmpl/os.tar.zst"));
    let lxc = json!({
        "900": base,
        "901": ct("gpu", &json!({ "template_snapshot_name": "gpu", "dependencies": [2002] })),
        "103": ct("ca", &at(1)),
        "101": ct("web", &with(at(2), &json!({ "dependencies": [103] }))),
        "102": ct("proxy", &with(at(2), &json!({ "dependencies": [103] }))),
        "104": ct("lone", &at(2)),
        "105": ct("manual", &json!({ "boot_order": 0 })),
        "801": ct("llm", &with(at(6), &json!({ "clone_from_ctid": 901, "dependencies": [2002] }))),
    });
    let vms = json!([
        { "vmid": 2000, "name": "tpl", "is_template": true, "template_image": "a.img" },
        { "vmid": 2001, "name": "portainer", "clone_from_vmid": 2000, "start_at_boot": true,
          "boot_order": 3, "dependencies": [103] },
        { "vmid": 2002, "name": "docker", "clone_from_vmid": 2000, "start_at_boot": true,
          "boot_order": 1, "dependencies": [2001] },
    ]);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let write = |name: &str, v: &Value| {
        std::fs::write(dir.path().join(name), v.to_string()).expect("definitions are written");
    };
    write(layout::HYPERVISOR_FILE, &json!({ "version": "1" }));
    write(layout::LXC_FILE, &json!({ "lxc_configs": lxc }));
    write(
        layout::VM_FILE,
        &json!({ "vm_defaults": { "cores": 2, "memory_mb": 2048, "storage_pool": "local-lvm" },
                 "vms": vms }),
    );
    let (defs, diags) = defs::load(dir.path());
    let (graph, cycles) = build(&defs);
    assert!(!diags.has_errors() && !cycles.has_errors(), "{diags:#?}");
    (defs, graph)
}

fn ids(nodes: &[NodeId]) -> Vec<u32> {
    nodes.iter().filter_map(|n| n.guest_id()).collect()
}

fn groups(s: &super::runtime::Schedule) -> Vec<Vec<u32>> {
    s.groups.iter().map(|g| ids(g)).collect()
}

fn template(defs: &Definitions) -> impl Fn(NodeId) -> bool + '_ {
    |n| {
        n.guest_id()
            .and_then(|id| defs.guest(id))
            .is_some_and(|g| g.template.is_template())
    }
}

fn place(defs: &Definitions) -> impl Fn(NodeId) -> BootPlace + '_ {
    |n| BootPlace::of(defs.guest(n.guest_id().expect("a guest")).expect("defined"))
}

#[test]
fn start_takes_what_the_targets_depend_on_but_not_clone_sources_or_through_templates() {
    let (defs, g) = tree();
    // 801 → 2002 → 2001 → 103; not 901 (its clone source) nor 900 or 2000.
    let sel = g.start_selection(&[NodeId::Ct(801)], true, template(&defs));
    assert_eq!(ids(&sel), [103, 801, 2001, 2002]);
    // A template named is taken (to be reported), what it depends on is not.
    let sel = g.start_selection(&[NodeId::Ct(901)], true, template(&defs));
    assert_eq!(ids(&sel), [901]);
    // --no-deps: the targets alone; host steps are never started.
    let sel = g.start_selection(
        &[NodeId::Ct(801), NodeId::Host("network")],
        false,
        template(&defs),
    );
    assert_eq!(ids(&sel), [801]);
    assert_eq!(sel.len(), 1);
}

#[test]
fn stop_takes_everything_that_depends_on_the_targets_never_what_they_depend_on() {
    let (_, g) = tree();
    let sel = g.stop_selection(&[NodeId::Ct(103)]);
    // Directly (101, 102, 2001) and through 2001 and 2002 (2002, 801, and the
    // template 901, which depends on 2002).
    assert_eq!(ids(&sel), [101, 102, 103, 801, 901, 2001, 2002]);
    // 2001 depends on 103, which is not stopped.
    assert_eq!(
        ids(&g.stop_selection(&[NodeId::Vm(2001)])),
        [801, 901, 2001, 2002]
    );
    assert!(g.stop_selection(&[NodeId::Ct(104)]) == [NodeId::Ct(104)]);
}

#[test]
fn start_groups_follow_dependencies_then_boot_order_then_id() {
    let (defs, g) = tree();
    let all: Vec<NodeId> = [101, 102, 103, 104, 105, 801]
        .map(NodeId::Ct)
        .into_iter()
        .chain([NodeId::Vm(2001), NodeId::Vm(2002)])
        .collect();
    let s = g.schedule(&all, Way::Start, place(&defs));
    // 103 (boot 1) first; then every ready guest at boot 2 together, 104 too,
    // which needs nothing but waits for its place; the VMs by their own boot
    // order, 2002 (boot 1) after 2001 (boot 3) because it depends on it; 105,
    // not started at boot, last.
    assert_eq!(
        groups(&s),
        [
            vec![103],
            vec![101, 102, 104],
            vec![2001],
            vec![2002],
            vec![801],
            vec![105]
        ]
    );
    for n in s.order() {
        let pos = |x: NodeId| s.order().iter().position(|y| *y == x);
        for d in g.depends_on(n) {
            assert!(pos(d) < pos(n), "{d} starts before {n}");
        }
    }
}

#[test]
fn stop_groups_are_the_reverse_dependents_first() {
    let (defs, g) = tree();
    let sel = g.stop_selection(&[NodeId::Ct(103)]);
    let s = g.schedule(&sel, Way::Stop, place(&defs));
    // The template 901 (not started at boot) and 801 depend on 2002: they stop
    // first, the last place first; boot 2 before 2002 (boot 1) but 2002 before
    // 2001, which it depends on; 103 last. IDs descending within a group.
    assert_eq!(
        groups(&s),
        [
            vec![901],
            vec![801],
            vec![102, 101],
            vec![2002],
            vec![2001],
            vec![103]
        ]
    );
    assert_eq!(s.order().last(), Some(&NodeId::Ct(103)));
    // What cannot stop when 2002 did not: what it depends on, not 101 or 102.
    assert_eq!(ids(&s.behind(NodeId::Vm(2002))), [103, 2001]);
}

#[test]
fn a_guest_without_boot_settings_goes_after_those_with_them() {
    let (defs, _) = tree();
    let p = |id| BootPlace::of(defs.guest(id).expect("defined"));
    assert!(p(103) < p(101));
    assert!(p(2001) > p(2002));
    assert!(p(801) < p(105));
    assert!(
        p(105) < p(900),
        "boot_order 0 without start_at_boot, then none"
    );
    assert_eq!(p(101), p(102));
}
