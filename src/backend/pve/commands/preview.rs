//! What `build --dry-run --backend pve` prints: every command a full build of a
//! guest runs against an empty host, and the commands of one planned piece of work.

use super::super::client::IMAGE_DIR;
use super::super::cmd::Cmd;
use super::config::Current;
use super::ct::{ct_clone, ct_configure, ct_create, ct_exec, ct_start};
use super::fields::field;
use super::guest::{destroy, firewall, rollback, snapshot, stamp, stamp_tags};
use super::vm::{
    image_customise, image_work_copy, vm_clone, vm_configure, vm_create_template, vm_generalise,
    vm_grow_disk, vm_start, vm_template,
};
use crate::backend::{Preview, Work};
use crate::defs::{Definitions, Guest, GuestKind};
use crate::step::Step;

/// Every command a full build of `g` runs, in order, against an empty host (the
/// final stamp excepted, which carries the output key): what
/// `build --dry-run` prints for a create, and what the schema tests check.
pub fn full_build(g: &Guest, defs: &Definitions, node: &str) -> Vec<Cmd> {
    let building = stamp_tags("building:");
    let source = g.clone_from.as_ref().and_then(|(src, _)| defs.guest(*src));
    let mut cmds = Vec::new();
    match (g.kind, source) {
        (GuestKind::Ct, Some(src)) => cmds.push(ct_clone(
            g,
            src,
            src.template_snapshot.as_deref().unwrap_or("template"),
        )),
        (GuestKind::Ct, None) => cmds.push(ct_create(g, &building)),
        (GuestKind::Vm, Some(src)) => {
            cmds.push(vm_clone(g, src));
            cmds.extend(vm_grow_disk(g, defs, &Current::default()));
        }
        (GuestKind::Vm, None) => {
            let dir = IMAGE_DIR;
            cmds.extend(image_customise(g, dir));
            cmds.extend(vm_create_template(
                g,
                defs,
                &image_work_copy(g, dir),
                &building,
            ));
            cmds.extend(vm_grow_disk(g, defs, &Current::default()));
            cmds.push(Cmd::new(["rm", "-f", &image_work_copy(g, dir)]));
        }
    }
    match g.kind {
        GuestKind::Ct => {
            cmds.extend(ct_configure(g, &Current::default()));
            cmds.extend(firewall(g, node, 0));
            cmds.push(ct_start(g));
            for f in &g.features {
                cmds.extend(snapshot(g, &format!("pre-{f}"), false));
                let remote = format!("/phoenix/run/{f}.sh");
                let local = defs
                    .path_of(&defs.feature_script(g.kind, f))
                    .display()
                    .to_string();
                let ca = field(g, "bootstrap_ca_url").unwrap_or_default();
                cmds.extend(ct_exec(g, &local, &remote, &[g.id.to_string(), ca]));
            }
            if let Some(app) = &g.application_script {
                let local = defs.path_of(&defs.layout.app(app)).display().to_string();
                cmds.extend(ct_exec(
                    g,
                    &local,
                    &format!("/phoenix/run/{app}"),
                    &[g.id.to_string()],
                ));
            }
            for h in &g.health_checks {
                let local = defs
                    .path_of(&defs.layout.health(&h.script))
                    .display()
                    .to_string();
                cmds.extend(ct_exec(
                    g,
                    &local,
                    &format!("/phoenix/run/{}", h.script),
                    &h.args,
                ));
            }
            if let Some(snap) = &g.template_snapshot {
                cmds.extend(snapshot(g, snap, false));
            }
        }
        GuestKind::Vm => {
            cmds.extend(vm_configure(g, defs, &Current::default()));
            cmds.extend(firewall(g, node, 0));
            if g.is_template {
                cmds.push(vm_start(g));
                cmds.extend(vm_generalise(g));
                cmds.extend(vm_template(g));
            } else {
                cmds.push(vm_start(g));
                for f in &g.features {
                    cmds.extend(snapshot(g, &format!("pre-{f}"), false));
                }
            }
        }
    }
    cmds
}

/// The commands one planned piece of work runs, for `build --dry-run --backend pve`.
/// Against an unknown host: mounts are taken as absent, snapshots as present.
pub fn preview(w: &Preview, defs: &Definitions, node: &str) -> Vec<Cmd> {
    let Some(g) = w.node.guest_id().and_then(|id| defs.guest(id)) else {
        // Host steps run their script on the host, with the hypervisor file as $1;
        // built-in ones run phoenix's own commands.
        if let crate::graph::NodeId::Host(name) = w.node
            && let Some(spec) = crate::defs::host::spec(name)
        {
            let Some(rel) = defs.host_script(spec) else {
                return super::super::host::full_run(name, &defs.host);
            };
            let script = defs.path_of(&rel).display().to_string();
            let config = defs.path_of(&defs.hypervisor_file).display().to_string();
            return vec![Cmd::new(["/bin/sh", &script, &config])];
        }
        return Vec::new();
    };
    let mut cmds = Vec::new();
    match w.work {
        Work::Create => cmds.extend(full_build(g, defs, node)),
        Work::Replace => {
            cmds.extend(destroy(g));
            cmds.extend(full_build(g, defs, node));
        }
        Work::Update => {
            cmds.extend(if g.kind == GuestKind::Ct {
                ct_configure(g, &Current::default())
            } else {
                vm_configure(g, defs, &Current::default())
            });
            cmds.extend(firewall(g, node, 0));
        }
        Work::Steps => {
            for step in w.steps {
                if let Some(f) = step.feature() {
                    if step == &w.steps[0]
                        || w.steps.first() == Some(&Step::Configure) && w.steps.get(1) == Some(step)
                    {
                        cmds.push(rollback(g, &format!("pre-{f}")));
                    }
                    let local = defs
                        .path_of(&defs.feature_script(g.kind, f))
                        .display()
                        .to_string();
                    let ca = field(g, "bootstrap_ca_url").unwrap_or_default();
                    cmds.extend(ct_exec(
                        g,
                        &local,
                        &format!("/phoenix/run/{f}.sh"),
                        &[g.id.to_string(), ca],
                    ));
                } else if *step == Step::App {
                    if let Some(app) = &g.application_script {
                        let local = defs.path_of(&defs.layout.app(app)).display().to_string();
                        cmds.extend(ct_exec(
                            g,
                            &local,
                            &format!("/phoenix/run/{app}"),
                            &[g.id.to_string()],
                        ));
                    }
                } else if *step == Step::Snapshot {
                    cmds.extend(snapshot(
                        g,
                        g.template_snapshot.as_deref().unwrap_or("template"),
                        true,
                    ));
                } else if *step == Step::Configure {
                    cmds.extend(ct_configure(g, &Current::default()));
                }
            }
        }
    }
    cmds.push(stamp(g, &stamp_tags(&format!("built:{}", w.key))));
    cmds
}
