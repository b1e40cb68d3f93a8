//! Judging one node for `phoenix adopt`: a guest read from the host against its
//! definition (refused for its shape or kind, or adopted with the record and
//! stamp it gets), a host step recorded as done; and the settings step as the
//! host has it.

use super::{Judged, Verdict};
use crate::defs::{Guest, GuestKind, TemplateModel};
use crate::graph::NodeId;
use crate::inventory::{Stamp, built_stamp};
use crate::key::{Manifest, NodeKeys, StepKey, canon, step_key};
use crate::live::{Observation, Setting};
use crate::pipeline::{Assessed, Loaded};
use crate::state::NodeRecord;
use crate::step::Step;

pub(super) fn judge(
    loaded: &Loaded,
    assessed: &Assessed,
    node: NodeId,
    live: Option<Result<Observation, String>>,
    rerun_features: bool,
) -> Judged {
    let Some(keys) = assessed.keys.get(&node) else {
        return Judged::new(node, Verdict::Skipped("no keys".into()));
    };
    let recorded = assessed.recorded.records.get(&node.to_string());
    let Some(id) = node.guest_id() else {
        if recorded.is_some_and(|r| !r.steps.is_empty()) {
            return Judged::new(node, Verdict::Skipped("already recorded".into()));
        }
        let mut j = Judged::new(node, Verdict::Adopt);
        j.unobservable.push((
            "the host step".into(),
            format!(
                "not observable; recorded as done (`phoenix build --force {node}` runs it again)"
            ),
        ));
        j.records = vec![Step::Run.to_string()];
        j.record = Some(NodeRecord::built(&node.to_string(), keys));
        return j;
    };
    let Some(g) = loaded.defs.guest(id) else {
        return Judged::new(node, Verdict::Skipped("not defined".into()));
    };
    let other = NodeId::guest(
        match g.kind {
            GuestKind::Ct => GuestKind::Vm,
            GuestKind::Vm => GuestKind::Ct,
        },
        id,
    );
    match assessed.inventory.get(&node).map(|o| &o.stamp) {
        None if assessed.inventory.contains_key(&other) => {
            return Judged::new(
                node,
                Verdict::Refused(format!(
                    "ID {id} holds a {} on the host ({other}), the definition is a {}; a guest of the other kind is never adopted",
                    kind_word(other),
                    kind_word(node)
                )),
            );
        }
        None => {
            return Judged::new(
                node,
                Verdict::Skipped("not on the host; `phoenix build` creates it".into()),
            );
        }
        Some(Stamp::Foreign) => {}
        Some(_) => return Judged::new(node, Verdict::Skipped("already phoenix's".into())),
    }
    let live = match live {
        Some(Ok(live)) => live,
        Some(Err(why)) => {
            return Judged::new(
                node,
                Verdict::Refused(format!("its config could not be read: {why}")),
            );
        }
        None => return Judged::new(node, Verdict::Refused("its config was not read".into())),
    };
    judge_guest(g, keys, live, rerun_features)
}

fn kind_word(node: NodeId) -> &'static str {
    match node {
        NodeId::Vm(_) => "VM",
        _ => "container",
    }
}

/// A guest without phoenix's stamp, read from the host.
fn judge_guest(g: &Guest, keys: &NodeKeys, live: Observation, rerun_features: bool) -> Judged {
    let node = NodeId::guest(g.kind, g.id);
    let converted = g.template == TemplateModel::Converted;
    let mut shape: Vec<String> = live
        .shape_mismatches()
        .map(|s| {
            format!(
                "{}: the host has {}, the definition {}",
                s.name,
                s.live_text(),
                s.want_text()
            )
        })
        .collect();
    if live.template != converted && !live.shape.iter().any(|s| s.name == "template") {
        shape.push(format!(
            "template: the host has {}, the definition {}",
            if live.template {
                "a converted template"
            } else {
                "no template"
            },
            if converted {
                "a converted template (is_template)"
            } else {
                "no converted template"
            }
        ));
    }
    if !shape.is_empty() {
        let mut j = Judged::new(
            node,
            Verdict::Refused(format!(
                "it is not the guest its definition describes ({}); no update changes that, it would be a replace: destroy it by hand and build it, or change the definition",
                shape.join("; ")
            )),
        );
        j.observed = Some(live);
        return j;
    }
    let mut j = Judged::new(node, Verdict::Adopt);
    // The content steps recorded as done: all, but for the features and what
    // follows them with --rerun-features, and a template snapshot the host lacks.
    let mut done = keys.chain.len();
    let first_feature = keys.chain.iter().position(|s| s.step.feature().is_some());
    for (i, s) in keys.chain.iter().enumerate().skip(1) {
        let what = s.step.to_string();
        let rerun = rerun_features && !converted && first_feature.is_some_and(|f| i >= f);
        let recorded = match &s.step {
            Step::Feature(_) | Step::App if rerun => {
                "not observable; left to the next build, which runs them (--rerun-features)"
            }
            Step::Feature(_) | Step::App => {
                "not observable; recorded as done (you assert it by adopting)"
            }
            _ => continue,
        };
        j.unobservable.push((what, recorded.into()));
    }
    if rerun_features && let Some(i) = first_feature {
        if converted {
            j.notes.push(
                "a converted template runs no scripts: its features stay recorded as done".into(),
            );
        } else {
            done = i;
        }
    }
    for h in &g.health_checks {
        j.unobservable.push((
            format!("health check {}", h.name),
            "not observable; runs with the application step".into(),
        ));
    }
    if let TemplateModel::Snapshot { .. } = g.template {
        let name = g.template_snapshot_name();
        if live.snapshots.iter().any(|s| s == name) {
            j.notes.push(format!("snapshot `{name}` is on the host"));
        } else {
            j.notes.push(format!(
                "snapshot `{name}` is not on the host: the next build takes it"
            ));
            done = done.min(keys.chain.len() - 1);
        }
    }
    let configure = keys
        .configure
        .as_ref()
        .map(|want| as_observed(want, &live.settings));
    let adopted = NodeKeys {
        chain: keys.chain[..done].to_vec(),
        configure,
    };
    j.records = adopted.chain.iter().map(|s| s.step.to_string()).collect();
    if adopted.configure.is_some() {
        let differs = live.differing().count();
        j.records.insert(
            1.min(j.records.len()),
            if differs == 0 {
                "configure".into()
            } else {
                format!("configure (as on the host: {differs} to update)")
            },
        );
    }
    j.stamp = Some(if done == keys.chain.len() {
        built_stamp(&NodeKeys {
            chain: keys.chain.clone(),
            configure: adopted.configure.clone(),
        })
    } else {
        format!("building:{}", keys.chain[0].key)
    });
    j.record = Some(NodeRecord::built(&node.to_string(), &adopted));
    j.observed = Some(live);
    j
}

/// The settings step as the host has it: the definition's manifest, with the
/// live value in place of each setting that differs, so the next plan's reason
/// reads `memory_mb "memory 8192 on the host" → 4096` and the update sets it.
fn as_observed(want: &StepKey, settings: &[Setting]) -> StepKey {
    let mut manifest: Manifest = want.manifest.clone();
    let mut by_field: Vec<(String, Vec<String>)> = Vec::new();
    for s in settings.iter().filter(|s| !s.matches()) {
        let text = if s.name == s.field {
            s.live_text().to_string()
        } else {
            format!("{} {}", s.name, s.live_text())
        };
        match by_field.iter_mut().find(|(f, _)| *f == s.field) {
            Some((_, values)) => values.push(text),
            None => by_field.push((s.field.clone(), vec![text])),
        }
    }
    for (field, values) in by_field {
        let value = serde_json::Value::String(format!("{} on the host", values.join(", ")));
        let name = if manifest.contains_key(&field) {
            field
        } else {
            format!("{field} (on the host when adopted)")
        };
        let text = canon::canonical(&name, &value);
        manifest.insert(name, text);
    }
    StepKey {
        step: Step::Configure,
        key: step_key(&Step::Configure, &manifest, None),
        manifest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_differing_setting_enters_the_settings_key_as_the_host_has_it() {
        let mut manifest = Manifest::new();
        manifest.insert("memory_mb", "4096");
        manifest.insert("cores", "2");
        let want = StepKey {
            step: Step::Configure,
            key: step_key(&Step::Configure, &manifest, None),
            manifest,
        };
        let same = [Setting::new(
            "cores",
            "cores",
            Some("2".into()),
            Some("2".into()),
        )];
        assert_eq!(as_observed(&want, &same).key, want.key);

        let differs = [
            Setting::new(
                "memory_mb",
                "memory",
                Some("8192".into()),
                Some("4096".into()),
            ),
            Setting::new("cores", "cores", Some("2".into()), Some("2".into())),
        ];
        let got = as_observed(&want, &differs);
        assert_ne!(got.key, want.key);
        assert_eq!(&got.manifest["cores"], "2");
        assert!(got.manifest["memory_mb"].contains("memory 8192 on the host"));
        let reasons =
            crate::plan::diff(&got.manifest, &want.manifest, crate::plan::Upstream::none());
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        assert!(reasons[0].starts_with("memory_mb "), "{reasons:?}");

        // A setting the definition's manifest does not hold gets its own entry.
        let extra = [Setting::new(
            "firewall",
            "firewall rule 0",
            Some("IN ACCEPT".into()),
            None,
        )];
        let got = as_observed(&want, &extra);
        assert!(
            got.manifest
                .contains_key("firewall (on the host when adopted)")
        );
    }
}
