//! Step-by-step comparison of recorded and desired inputs: what `phoenix explain`
//! prints.

use crate::key::{NodeKeys, StepKey};
use crate::state::NodeRecord;
use crate::step::Step;

/// Steps as recorded vs desired, input by input: what `phoenix explain` prints.
pub struct StepDiff {
    pub step: Step,
    pub status: &'static str,
    pub changes: Vec<(String, Option<String>, Option<String>)>,
}

pub fn explain(desired: &NodeKeys, rec: Option<&NodeRecord>) -> Vec<StepDiff> {
    let mut want: Vec<&StepKey> = desired.chain.iter().collect();
    if let Some(c) = &desired.configure {
        want.insert(1.min(want.len()), c);
    }
    let mut out = Vec::new();
    for w in want {
        let done = rec.and_then(|r| {
            if w.step == Step::Configure {
                r.configure.as_ref()
            } else {
                r.steps.iter().find(|s| s.step == w.step)
            }
        });
        let mut changes = Vec::new();
        let status = match done {
            None => "not recorded",
            Some(d) if d.key.is(&w.key) => "fresh",
            // Rebuilt from the guest's stamp: the old key is known, its inputs not.
            Some(d) if d.manifest.is_unknown() => {
                "stale (the inputs it was built from were not recorded)"
            }
            Some(d) => {
                let recorded = d.manifest.parse();
                for (k, v) in &w.manifest {
                    if recorded.get(k) != Some(v) {
                        changes.push((
                            k.to_string(),
                            recorded.get(k).map(str::to_string),
                            Some(v.to_string()),
                        ));
                    }
                }
                for (k, v) in &recorded {
                    if !w.manifest.contains_key(k) {
                        changes.push((k.to_string(), Some(v.to_string()), None));
                    }
                }
                if changes.is_empty() {
                    "stale (an earlier step changed)"
                } else {
                    "stale"
                }
            }
        };
        out.push(StepDiff {
            step: w.step.clone(),
            status,
            changes,
        });
    }
    out
}
