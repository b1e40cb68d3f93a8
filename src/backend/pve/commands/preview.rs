//! What `build --dry-run --backend pve` prints: every command a full build of a
//! guest runs against an empty host, and the commands of one planned piece of work.

use super::super::client::IMAGE_DIR;
use super::super::cmd::Cmd;
use super::config::Current;
use super::ct::{ct_clone, ct_configure, ct_create, ct_exec, ct_start};
use super::firewall::firewall;
use super::guest::{destroy, stamp, stamp_tags};
use super::snapshots::{rollback_preview, snapshot};
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
        // A clone carries its source's tags, stamp included: its own comes first
        // (merged with the inherited user tags, which a dry run does not know).
        (GuestKind::Ct, Some(src)) => {
            cmds.push(ct_clone(g, src, template_snapshot(src)));
            cmds.push(stamp(g, &building));
        }
        (GuestKind::Ct, None) => cmds.push(ct_create(g, &building)),
        (GuestKind::Vm, Some(src)) => {
            cmds.push(vm_clone(g, src));
            cmds.push(stamp(g, &building));
            cmds.extend(vm_grow_disk(g, &Current::default()));
        }
        (GuestKind::Vm, None) => {
            let work = image_work_copy(g, IMAGE_DIR);
            cmds.extend(image_customise(g, IMAGE_DIR));
            cmds.extend(vm_create_template(g, &work, &building));
            cmds.extend(vm_grow_disk(g, &Current::default()));
            cmds.push(Cmd::new(["rm", "-f", &work]));
        }
    }
    cmds.extend(configure(g, node));
    match g.kind {
        GuestKind::Ct => {
            cmds.push(ct_start(g));
            for f in &g.features {
                cmds.extend(snapshot(g, &format!("pre-{f}"), false));
                cmds.extend(step_script(g, defs, &Step::Feature(f.clone())));
            }
            cmds.extend(step_script(g, defs, &Step::App));
            for h in &g.health_checks {
                let rel = defs.layout.health(&h.script);
                cmds.extend(run_script(g, defs, &rel, &h.script, &h.args));
            }
            if let Some(snap) = g.template.snapshot_name() {
                cmds.extend(snapshot(g, snap, false));
            }
        }
        GuestKind::Vm => {
            cmds.push(vm_start(g));
            if g.template.is_template() {
                cmds.extend(vm_generalise(g));
                cmds.extend(vm_template(g));
            } else {
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
        Work::Update => cmds.extend(configure(g, node)),
        Work::Steps => {
            // A rollback deletes the newer template snapshot; it is then taken anew.
            let mut rolled_back = false;
            for step in w.steps {
                match step {
                    Step::Feature(f) => {
                        if step == &w.steps[0]
                            || w.steps.first() == Some(&Step::Configure)
                                && w.steps.get(1) == Some(step)
                        {
                            cmds.extend(rollback_preview(g, f));
                            rolled_back = true;
                        }
                        cmds.extend(step_script(g, defs, step));
                    }
                    Step::App => cmds.extend(step_script(g, defs, step)),
                    Step::Snapshot => {
                        cmds.extend(snapshot(g, template_snapshot(g), !rolled_back));
                    }
                    Step::Configure => cmds.extend(settings(g)),
                    _ => {}
                }
            }
        }
    }
    cmds.push(stamp(g, &stamp_tags(&format!("built:{}", w.key))));
    cmds
}

/// The snapshot a template's clones start from (`template` when it names none).
fn template_snapshot(g: &Guest) -> &str {
    g.template.snapshot_name().unwrap_or("template")
}

/// The settings of a guest as `pct set` or `qm set`, against a config taken as empty.
fn settings(g: &Guest) -> Vec<Cmd> {
    match g.kind {
        GuestKind::Ct => ct_configure(g, &Current::default()),
        GuestKind::Vm => vm_configure(g, &Current::default()),
    }
}

/// The configure step of a build or an update: the settings, then the firewall.
fn configure(g: &Guest, node: &str) -> Vec<Cmd> {
    let mut cmds = settings(g);
    cmds.extend(firewall(g, node, 0));
    cmds
}

/// A feature or the application step: its script run inside the container, a
/// feature's with the guest's ID and `bootstrap_ca_url`, the application's with the
/// ID. Nothing for other steps, or without an application script.
fn step_script(g: &Guest, defs: &Definitions, step: &Step) -> Vec<Cmd> {
    match step {
        Step::Feature(f) => {
            let args = [
                g.id.to_string(),
                g.bootstrap_ca_url.clone().unwrap_or_default(),
            ];
            let rel = defs.feature_script(g.kind, f);
            run_script(g, defs, &rel, &format!("{f}.sh"), &args)
        }
        Step::App => g.application_script.as_ref().map_or_else(Vec::new, |app| {
            run_script(g, defs, &defs.layout.app(app), app, &[g.id.to_string()])
        }),
        _ => Vec::new(),
    }
}

/// A script of the definitions directory (`rel`) run in the container as
/// `/phoenix/run/<name>`.
fn run_script(g: &Guest, defs: &Definitions, rel: &str, name: &str, args: &[String]) -> Vec<Cmd> {
    let local = defs.path_of(rel).display().to_string();
    ct_exec(g, &local, &format!("/phoenix/run/{name}"), args)
}
