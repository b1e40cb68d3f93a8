//! The steps a node is built by, as one type: what keys are computed for, what the
//! plan lists, what the state records and what the executor runs. Written as text
//! (`define`, `feature:base_setup`, ...) in records, plans and events.

use std::fmt;
use std::str::FromStr;

/// The snapshot `enable_lifecycle_snapshots` takes before a guest's features, as
/// the shell tool did (its step 14).
pub const PRE_CONFIGURED: &str = "pre-configured";
/// The snapshot `enable_lifecycle_snapshots` takes once a guest's content is done
/// (the shell tool's step 20).
pub const FINAL_FORM: &str = "final-form";

/// One build step of a node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// Create the guest from its template, or clone it from its source.
    Define,
    /// Apply the settings in place (beside the content chain).
    Configure,
    /// Run one feature script, after a snapshot taken before it.
    Feature(String),
    /// Run the application script and the health checks.
    App,
    /// Take a container's template snapshot.
    Snapshot,
    /// Convert a VM into a template.
    Template,
    /// A host step's single run.
    Run,
}

impl Step {
    /// The feature's name, for a feature step.
    pub fn feature(&self) -> Option<&str> {
        match self {
            Step::Feature(name) => Some(name),
            _ => None,
        }
    }

    /// The snapshot taken before a feature step runs, which a rollback returns to.
    pub fn pre_snapshot(&self) -> Option<String> {
        self.feature().map(pre_snapshot_of)
    }
}

/// What the snapshot taken before each feature runs is named with, before the
/// feature's name.
pub const PRE_SNAPSHOT: &str = "pre-";

/// The snapshot taken before `feature` runs: `pre-<feature>`.
pub fn pre_snapshot_of(feature: &str) -> String {
    format!("{PRE_SNAPSHOT}{feature}")
}

impl Step {
    /// The name of a step that is not a feature (`define`); a feature's is
    /// `feature:` and the feature's name, which only [`fmt::Display`] writes.
    pub fn name(&self) -> &'static str {
        match self {
            Step::Define => "define",
            Step::Configure => "configure",
            Step::Feature(_) => "feature",
            Step::App => "app",
            Step::Snapshot => "snapshot",
            Step::Template => "template",
            Step::Run => "run",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Feature(name) => f.pad(&format!("feature:{name}")),
            other => f.pad(other.name()),
        }
    }
}

/// A step name that is none of phoenix's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown step `{0}`")]
pub struct UnknownStep(pub String);

impl FromStr for Step {
    type Err = UnknownStep;

    fn from_str(s: &str) -> Result<Step, UnknownStep> {
        Ok(match s {
            "define" => Step::Define,
            "configure" => Step::Configure,
            "app" => Step::App,
            "snapshot" => Step::Snapshot,
            "template" => Step::Template,
            "run" => Step::Run,
            _ => match s.strip_prefix("feature:") {
                Some(name) if !name.is_empty() => Step::Feature(name.to_string()),
                _ => return Err(UnknownStep(s.to_string())),
            },
        })
    }
}

impl serde::Serialize for Step {
    /// The name `Display` writes, without the formatting machinery: every action of
    /// a plan lists its steps.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Step::Feature(name) => {
                let mut text = String::with_capacity("feature:".len() + name.len());
                text.push_str("feature:");
                text.push_str(name);
                s.serialize_str(&text)
            }
            other => s.serialize_str(other.name()),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Step {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Step, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips() {
        for step in [
            Step::Define,
            Step::Configure,
            Step::Feature("base_setup".into()),
            Step::App,
            Step::Snapshot,
            Step::Template,
            Step::Run,
        ] {
            assert_eq!(step.to_string().parse::<Step>(), Ok(step.clone()));
            let json = serde_json::to_string(&step).unwrap();
            // Written out by hand, the JSON name is still the displayed one.
            assert_eq!(json, format!("\"{step}\""));
            assert_eq!(serde_json::from_str::<Step>(&json).unwrap(), step);
        }
        assert_eq!(Step::Feature("nvidia".into()).to_string(), "feature:nvidia");
    }

    #[test]
    fn unknown_names_are_refused() {
        assert!("feature:".parse::<Step>().is_err());
        assert!("Define".parse::<Step>().is_err());
        assert!(serde_json::from_str::<Step>("\"rebuild\"").is_err());
    }

    #[test]
    fn display_honours_width_and_features_know_their_snapshot() {
        assert_eq!(format!("{:<8}|", Step::App), "app     |");
        assert_eq!(
            Step::Feature("docker".into()).pre_snapshot().as_deref(),
            Some("pre-docker")
        );
        assert_eq!(Step::App.pre_snapshot(), None);
    }
}
