//! Manifests of host steps: the script (or the revision of a built-in step), the
//! hypervisor-file sections it reads, and for the firewall and DNS steps the guests'
//! sections and names.

use super::assess::{BUILTIN_HOST_REVISION, Ctx};
use super::{Manifest, NodeKeys, StepKey, canon, step_key};
use crate::defs::IpConfig;
use crate::defs::host::{GuestInputs, lookup};
use crate::step::Step;

impl Ctx<'_> {
    pub(super) fn host(&self, name: &'static str) -> NodeKeys {
        let mut m = Manifest::new();
        if let Some(spec) = crate::defs::host::spec(name) {
            match self.defs.host_script(spec) {
                Some(script) => {
                    let hash = self.scripts.get(self.defs, &script);
                    m.insert(format!("script {script}"), hash);
                }
                // What phoenix does for a built-in step is part of its key: a change
                // to it re-runs the step once.
                None => {
                    m.insert(
                        format!("builtin {name}"),
                        format!("\"revision {BUILTIN_HOST_REVISION}\""),
                    );
                }
            }
            for section in spec.sections {
                if let Some(v) = lookup(&self.defs.host, section) {
                    m.insert(format!("section {section}"), canon::canonical(section, v));
                }
            }
            for g in self.defs.guests.values() {
                match spec.guest_inputs {
                    GuestInputs::None => {}
                    GuestInputs::Firewall => {
                        // As written (see the module doc): every field of the
                        // section, comments included, is what the step writes.
                        // A guest whose text names no `firewall` (a key spelt with
                        // escapes would need a backslash) has no section to parse.
                        let text = g.written.text();
                        if !text.contains("firewall") && !text.contains('\\') {
                            continue;
                        }
                        if let Some(fw) = g.definition().get("firewall") {
                            m.insert(
                                format!("guest {} firewall", g.label()),
                                canon::canonical("firewall", fw),
                            );
                        }
                    }
                    GuestInputs::Dns => {
                        let addr = match g.net.ip {
                            Some(IpConfig::Static { address, .. }) => address.to_string(),
                            _ => "dhcp".to_string(),
                        };
                        m.insert(
                            format!("guest {} name", g.label()),
                            format!("\"{} {addr}\"", g.name),
                        );
                    }
                }
            }
        }
        let key = step_key(&Step::Run, &m, None);
        NodeKeys {
            chain: vec![StepKey {
                step: Step::Run,
                key,
                manifest: m,
            }],
            configure: None,
        }
    }
}
