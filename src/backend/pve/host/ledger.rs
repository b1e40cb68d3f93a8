//! The ledger of storages phoenix created (`/var/lib/phoenix/owned-storages` on the
//! host): the only storages it ever changes or removes.

use std::collections::BTreeSet;

/// The storages phoenix created, by the step that created them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    entries: BTreeSet<(String, String)>,
}

impl Ledger {
    pub const PATH: &'static str = "/var/lib/phoenix/owned-storages";

    pub fn parse(text: &str) -> Ledger {
        Ledger {
            entries: text
                .lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| l.split_once(' '))
                .map(|(s, id)| (s.to_string(), id.trim().to_string()))
                .collect(),
        }
    }

    pub fn render(&self) -> String {
        let mut t = String::from("# storages phoenix created: <host step> <storage id>\n");
        for (s, id) in &self.entries {
            t.push_str(&format!("{s} {id}\n"));
        }
        t
    }

    pub fn owns(&self, step: &str, id: &str) -> bool {
        self.entries.contains(&(step.to_string(), id.to_string()))
    }

    pub fn insert(&mut self, step: &str, id: &str) {
        self.entries.insert((step.to_string(), id.to_string()));
    }

    pub fn remove(&mut self, step: &str, id: &str) {
        self.entries.remove(&(step.to_string(), id.to_string()));
    }

    /// IDs `step` created.
    pub fn of(&self, step: &str) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(s, _)| s == step)
            .map(|(_, id)| id.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_round_trips_and_separates_steps() {
        let mut l = Ledger::default();
        l.insert("zfs", "tank-vm-disks");
        l.insert("nfs", "nfs-data");
        let back = Ledger::parse(&l.render());
        assert_eq!(back, l);
        assert!(back.owns("zfs", "tank-vm-disks") && !back.owns("zfs", "nfs-data"));
        assert_eq!(back.of("nfs"), ["nfs-data"]);
    }
}
