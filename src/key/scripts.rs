//! Hashes of script files, read once per run however many guests name them.

use std::collections::HashMap;
use std::sync::RwLock;

use rayon::prelude::*;

use crate::defs::Definitions;

/// Script path (relative to the definitions directory) → `"blake3:<hex>"`, or
/// `"missing"` for a file that does not exist (validation reports those).
#[derive(Debug, Default)]
pub struct ScriptHashes {
    cache: RwLock<HashMap<String, String>>,
}

impl ScriptHashes {
    /// Hash every script the definitions name, in parallel.
    pub fn prefetch(defs: &Definitions) -> ScriptHashes {
        // 10,000 guests name a handful of scripts: each name once, before any path
        // is made of it.
        let mut features = std::collections::BTreeSet::new();
        let mut apps = std::collections::BTreeSet::new();
        let mut health = std::collections::BTreeSet::new();
        for g in defs.guests.values() {
            features.extend(g.features.iter().map(|f| (g.kind, f.as_str())));
            apps.extend(g.application_script.as_deref());
            health.extend(g.health_checks.iter().map(|h| h.script.as_str()));
        }
        let mut paths: Vec<String> = Vec::new();
        paths.extend(
            features
                .iter()
                .map(|(kind, f)| defs.feature_script(*kind, f)),
        );
        paths.extend(apps.iter().map(|a| defs.layout.app(a)));
        paths.extend(health.iter().map(|h| defs.layout.health(h)));
        paths.extend(defs.host_steps.iter().filter_map(|s| defs.host_script(s)));
        paths.sort();
        paths.dedup();
        let map: HashMap<String, String> = paths
            .into_par_iter()
            .map(|p| {
                let h = hash_file(defs, &p);
                (p, h)
            })
            .collect();
        ScriptHashes {
            cache: RwLock::new(map),
        }
    }

    /// An in-memory table, for tests.
    pub fn from_map(map: HashMap<String, String>) -> ScriptHashes {
        ScriptHashes {
            cache: RwLock::new(map),
        }
    }

    pub fn get(&self, defs: &Definitions, rel: &str) -> String {
        // Every guest's keys ask, from every core: a shared lock for what
        // `prefetch` found (all of it, in a run), the exclusive one only to add.
        if let Some(h) = self
            .cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(rel)
        {
            return h.clone();
        }
        let hash = hash_file(defs, rel);
        self.cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(rel.to_string())
            .or_insert(hash)
            .clone()
    }
}

fn hash_file(defs: &Definitions, rel: &str) -> String {
    match std::fs::read(defs.path_of(rel)) {
        Ok(bytes) => format!("\"blake3:{}\"", blake3::hash(&bytes).to_hex()),
        Err(_) => "\"missing\"".to_string(),
    }
}
