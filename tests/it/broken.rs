//! The broken-definitions corpus (`tests/broken/<NN-name>/`): one small native tree per
//! error class, valid except for that one problem (see each directory's `README`).
//!
//! For every tree: `validate` exits 3 (0 for the warnings-only tree), its stderr names the
//! right file and JSON path, and the whole report is snapshotted; `plan` refuses without
//! printing a plan; `graph` refuses too, except where the only problem is a missing script
//! (graph draws JSON-only trees and just warns).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::helpers::phoenix;

/// What one corpus tree must produce.
struct Case {
    dir: &'static str,
    /// Exit code of `validate` and `plan`.
    code: i32,
    /// Exit code of `graph` (0 where the only problems are missing scripts or warnings).
    graph: i32,
    /// Each must appear in `validate`'s stderr: `file: json.path: message`.
    expect: &'static [&'static str],
}

const LXC: &str = "phoenix_lxc_configs.json";

const CASES: &[Case] = &[
    Case {
        dir: "01-malformed-json",
        code: 3,
        graph: 3,
        expect: &["phoenix_lxc_configs.json: 26:7: malformed JSON: expected `,` or `}`"],
    },
    Case {
        dir: "02-wrong-type-number-as-string",
        code: 3,
        graph: 3,
        expect: &[
            "phoenix_lxc_configs.json: lxc_configs.950.memory_mb: expected a whole number, found the string \"2048\"",
        ],
    },
    Case {
        dir: "03-wrong-type-features-not-array",
        code: 3,
        graph: 3,
        expect: &[
            "phoenix_lxc_configs.json: lxc_configs.950.features: expected an array, found the string \"docker\"",
        ],
    },
    Case {
        dir: "04-unknown-clone-source",
        code: 3,
        graph: 3,
        expect: &[
            "phoenix_lxc_configs.json: lxc_configs.950.clone_from_ctid: unknown guest `901`",
            "did you mean `900`?",
        ],
    },
    Case {
        dir: "05-unknown-dependency",
        code: 3,
        graph: 3,
        expect: &[
            "phoenix_lxc_configs.json: lxc_configs.950.dependencies[0]: unknown guest `9000`",
        ],
    },
    Case {
        dir: "06-dependency-cycles",
        code: 3,
        graph: 3,
        expect: &[
            "phoenix_lxc_configs.json: lxc_configs.950.dependencies: dependency cycle: ct:950 → ct:951 → ct:950",
            "phoenix_lxc_configs.json: lxc_configs.960.dependencies: dependency cycle: ct:960 → ct:961 → ct:962 → ct:960",
        ],
    },
    Case {
        dir: "07-self-clone",
        code: 3,
        graph: 3,
        expect: &[
            "phoenix_lxc_configs.json: lxc_configs.950.clone_from_ctid: ct:950 is cloned from itself",
        ],
    },
    Case {
        dir: "08-clone-cycle",
        code: 3,
        graph: 3,
        expect: &[
            "phoenix_lxc_configs.json: lxc_configs.950.clone_from_ctid: dependency cycle: ct:950 → ct:951 → ct:950",
        ],
    },
    Case {
        dir: "09-id-used-by-ct-and-vm",
        code: 3,
        graph: 3,
        expect: &[
            "phoenix_vm_configs.json: vms[0].vmid: ID 950 is used by both ct:950 and this VM",
        ],
    },
    Case {
        dir: "10-missing-feature-script",
        code: 3,
        graph: 0,
        expect: &[
            "phoenix_lxc_configs.json: lxc_configs.950.features[0]: script `features/lxc/dokcer.sh` not found",
            "did you mean `docker`?",
        ],
    },
    Case {
        dir: "11-missing-app-script",
        code: 3,
        graph: 0,
        expect: &[
            "phoenix_lxc_configs.json: lxc_configs.950.application_script: script `apps/app.sh` not found",
        ],
    },
    Case {
        dir: "12-missing-health-script",
        code: 3,
        graph: 0,
        expect: &[
            "phoenix_lxc_configs.json: lxc_configs.950.health_checks[0].script: script `health/check_http.sh` not found",
        ],
    },
    Case {
        dir: "13-ctid-below-100",
        code: 3,
        graph: 3,
        expect: &["phoenix_lxc_configs.json: lxc_configs.99: guest ID 99 is below 100"],
    },
    Case {
        dir: "14-zero-memory",
        code: 3,
        graph: 3,
        expect: &["phoenix_lxc_configs.json: lxc_configs.950.memory_mb: `memory_mb` is 0"],
    },
    Case {
        dir: "15-malformed-ip",
        code: 3,
        graph: 3,
        expect: &[
            "phoenix_lxc_configs.json: lxc_configs.950.network_config.ip: `10.0.0.295/24` is not an IPv4 address with prefix length",
        ],
    },
    Case {
        dir: "16-malformed-mac",
        code: 3,
        graph: 3,
        expect: &[
            "phoenix_lxc_configs.json: lxc_configs.950.mac_address: `52:54:00:AB:CD` is not a MAC address",
        ],
    },
    Case {
        dir: "17-bad-gpu-assignment",
        code: 3,
        graph: 3,
        expect: &[
            "phoenix_lxc_configs.json: lxc_configs.950.gpu_assignment: `0;1` is not a GPU assignment",
        ],
    },
    Case {
        dir: "18-duplicate-ip",
        code: 3,
        graph: 3,
        expect: &[
            "phoenix_lxc_configs.json: lxc_configs.950.network_config.ip: address 10.0.0.90 is also used by ct:900",
        ],
    },
    Case {
        dir: "19-duplicate-mac",
        code: 3,
        graph: 3,
        expect: &[
            "phoenix_lxc_configs.json: lxc_configs.950.mac_address: MAC 52:54:00:AB:CD:9A is also used by ct:900",
        ],
    },
    Case {
        dir: "20-clone-source-without-snapshot",
        code: 3,
        graph: 3,
        expect: &[
            "phoenix_lxc_configs.json: lxc_configs.950.clone_from_ctid: clone source ct:900 is not a template",
            "\"template_snapshot_name\" (its clones start from that snapshot) or \"is_template\": true",
        ],
    },
    Case {
        dir: "21-missing-name",
        code: 3,
        graph: 3,
        expect: &["phoenix_lxc_configs.json: lxc_configs.950: missing `name`"],
    },
    Case {
        dir: "25-duplicate-container-key",
        code: 3,
        graph: 3,
        expect: &[
            "phoenix_lxc_configs.json: lxc_configs.950: key `950` is written twice with different values: `{\"application_script\":\"app.sh\",",
            "at 22:5, `{\"clone_from_ctid\":\"900\",\"memory_mb\":1024,\"name\":\"app-copy\"}` at 49:5",
            "jq, and so the shell tool, used the last one and dropped the first (they differ in `application_script`,",
        ],
    },
    Case {
        dir: "29-duplicate-field-different-values",
        code: 3,
        graph: 3,
        expect: &[
            "phoenix_lxc_configs.json: lxc_configs.950.cores: key `cores` is written twice with different values: `4` at 26:7, `2` at 41:7",
        ],
    },
    Case {
        dir: "30-duplicate-keys-warn",
        code: 0,
        graph: 0,
        expect: &[
            "warning: phoenix_hypervisor_config.json: author: key `author` is written twice with different values: `\"first\"` at 3:3, `\"second\"` at 4:3",
            "the last one (4:3) is used, as jq does",
            "warning: phoenix_lxc_configs.json: lxc_configs.950.cores: key `cores` is written twice with the same value, at 26:7 and 41:7; the last one is used, as jq does",
        ],
    },
    Case {
        dir: "31-converted-template-with-bind-mount",
        code: 3,
        graph: 3,
        expect: &[
            "phoenix_lxc_configs.json: lxc_configs.900.is_template: Proxmox cannot convert ct:900 into a template: bind mount `/srv/shared` at `/shared`",
            "Template feature is not available for '/srv/shared'",
        ],
    },
    Case {
        dir: "32-clone-source-given-twice",
        code: 3,
        graph: 3,
        expect: &[
            "phoenix_lxc_configs.json: lxc_configs.950.clone_from_template_ctid: `clone_from_template_ctid` says 901 but `clone_from_ctid` says 900",
        ],
    },
    Case {
        dir: "33-template-file-without-iso-storage",
        code: 3,
        graph: 3,
        expect: &[
            "phoenix_lxc_configs.json: lxc_configs.900.template_file: no ISO storage is known to find `ubuntu-24.04-standard_24.04-2_amd64.tar.zst` on",
            "\"proxmox_storage_ids\": { \"fastData_shared_iso\": \"<storage ID>\" }",
        ],
    },
    Case {
        dir: "34-conflicting-proxmox-features",
        code: 3,
        graph: 3,
        expect: &[
            "phoenix_lxc_configs.json: lxc_configs.900.features: Proxmox feature `keyctl` is `keyctl=1` here but `keyctl=0` at lxc_configs.900.pct_options[0]",
            "warning: phoenix_lxc_configs.json: lxc_configs.900.features: `features` is a Proxmox feature string (`nesting=1,keyctl=1`): read as `pct_options`",
        ],
    },
    Case {
        dir: "26-null-name",
        code: 3,
        graph: 3,
        expect: &["phoenix_lxc_configs.json: lxc_configs.950: missing `name`"],
    },
    Case {
        dir: "27-unsafe-host-values",
        code: 3,
        graph: 3,
        expect: &[
            "phoenix_hypervisor_config.json: nfs.exports[0].clients: an export needs at least one client",
            "phoenix_hypervisor_config.json: nfs.exports[0].path: `tank/shared` is not an absolute path",
            "phoenix_hypervisor_config.json: nfs.exports[1].clients[0]: `10.0.3.0/24 *(rw)` cannot go into /etc/exports",
            "phoenix_vm_configs.json: vms[0].template_image: `../../etc/shadow` is not a file name",
            "phoenix_vm_configs.json: vms[1].volumes[0].mount_point: `/data\\n10.0.0.66:/ / nfs defaults 0 0` cannot be one word",
            "5 errors in the definitions",
        ],
    },
    Case {
        dir: "28-control-characters-in-host-and-guest-values",
        code: 3,
        graph: 3,
        expect: &[
            "phoenix_hypervisor_config.json: zfs.pools[0].disks[1]: `/dev/sdc\\u{1b}[2K` holds the control character U+001B, which cannot go into a command line",
            "phoenix_lxc_configs.json: lxc_configs.900.bootstrap_ca_url: `https://ca.internal\\t--insecure` holds a tab",
            "phoenix_lxc_configs.json: lxc_configs.900.network_config.bridge: `vmbr0\\r` holds a carriage return",
            "phoenix_lxc_configs.json: lxc_configs.950.firewall.rules[0].comment: `web\\nIN ACCEPT -p tcp` holds a newline",
            "phoenix_lxc_configs.json: lxc_configs.950.lxc_options[0]: `lxc.apparmor.profile: generated\\nlxc.cap.drop:` holds a newline",
            "phoenix_vm_configs.json: vm_defaults.network_bridge: `vmbr0\\nvmbr1` holds a newline",
            "help: remove it: a value phoenix passes to a command is one line of printable text",
            "6 errors in the definitions",
        ],
    },
    Case {
        dir: "22-neither-template-nor-clone",
        code: 3,
        graph: 3,
        expect: &[
            "phoenix_lxc_configs.json: lxc_configs.900: neither `template` nor `clone_from_ctid` is set",
        ],
    },
    Case {
        dir: "23-many-errors",
        code: 3,
        graph: 3,
        expect: &[
            "phoenix_vm_configs.json: 3:66: malformed JSON: trailing comma",
            "phoenix_lxc_configs.json: lxc_configs.42: guest ID 42 is below 100",
            "phoenix_lxc_configs.json: lxc_configs.42.clone_from_ctid: unknown guest `9001`",
            "phoenix_lxc_configs.json: lxc_configs.950.cores: expected a whole number, found the string \"two\"",
            "phoenix_lxc_configs.json: lxc_configs.950.dependencies: dependency cycle: ct:950 → ct:951 → ct:950",
            "phoenix_lxc_configs.json: lxc_configs.950.mac_address: `52:54:00:ZZ:CD:9B` is not a MAC address",
            "phoenix_lxc_configs.json: lxc_configs.950.memory_mb: `memory_mb` is 0",
            "phoenix_lxc_configs.json: lxc_configs.951.features[0]: script `features/lxc/nvidia.sh` not found",
            "phoenix_lxc_configs.json: lxc_configs.951.gpu_assignment: `all` is not a GPU assignment",
            "9 errors in the definitions",
        ],
    },
    Case {
        dir: "24-unknown-fields-warn",
        code: 0,
        graph: 0,
        expect: &[
            "warning: phoenix_hypervisor_config.json: timezon: unknown section `timezon`",
            "did you mean `timezone`?",
            "warning: phoenix_lxc_configs.json: lxc_configs.950.memroy_mb: unknown field `memroy_mb`",
            "did you mean `memory_mb`?",
            "warning: phoenix_lxc_configs.json: lxc_configs.950.custom_setting: unknown field `custom_setting`",
            "warning: phoenix_vm_configs.json: vms[0].qm_option: unknown field `qm_option`",
            "did you mean `qm_options`?",
        ],
    },
];

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/broken")
}

/// The report with the tree's absolute path (should it appear) replaced by `[DEFS]`.
fn redact(text: &str, dir: &Path) -> String {
    text.replace(&dir.display().to_string(), "[DEFS]")
}

#[test]
fn every_corpus_tree_has_a_case_and_a_readme() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let in_table: BTreeSet<String> = CASES.iter().map(|c| c.dir.to_string()).collect();
    assert_eq!(on_disk, in_table, "tests/broken and the CASES table differ");
    for name in &on_disk {
        let dir = corpus().join(name);
        let readme = std::fs::read_to_string(dir.join("README"))
            .unwrap_or_else(|e| panic!("{name}/README: {e}"));
        assert_eq!(
            readme.trim_end().lines().count(),
            1,
            "{name}/README must be one line"
        );
        assert!(dir.join(LXC).is_file(), "{name} has no {LXC}");
        let host: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("phoenix_hypervisor_config.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(host["version"], "1", "{name}: hypervisor file");
        // Trees about host values need host sections.
        if !name.contains("warn") && !name.contains("host") {
            assert_eq!(
                host,
                serde_json::json!({"version": "1"}),
                "{name}: the hypervisor file stays minimal"
            );
        }
    }
}

#[test]
fn broken_trees_are_reported_and_refused() {
    let cache = tempfile::tempdir().unwrap();
    for case in CASES {
        let dir = corpus().join(case.dir);
        let name = case.dir;

        let out = phoenix()
            .defs(&dir)
            .cache(cache.path())
            .args(["validate"])
            .run();
        assert_eq!(
            out.code, case.code,
            "{name}: validate exit code\nstderr:\n{}",
            out.stderr
        );
        for want in case.expect {
            assert!(
                out.stderr.contains(want),
                "{name}: validate's stderr lacks {want:?}\nstderr:\n{}",
                out.stderr
            );
        }
        let errors = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .count();
        if case.code == 0 {
            assert_eq!(errors, 0, "{name}: {}", out.stderr);
            assert!(out.stdout.starts_with("ok: "), "{name}: {}", out.stdout);
        } else {
            assert!(errors >= 1, "{name}: {}", out.stderr);
            assert!(out.stdout.is_empty(), "{name}: {}", out.stdout);
            // Every error line is located: a definition file, then a path or line:column.
            for line in out.stderr.lines().filter(|l| l.starts_with("error: ")) {
                let rest = &line["error: ".len()..];
                assert!(
                    rest.starts_with("phoenix_") && rest.contains(".json: "),
                    "{name}: error without a file: {line}"
                );
            }
        }
        insta::assert_snapshot!(name, redact(&out.stderr, &dir));

        // plan: refuses without printing a plan (the warnings-only tree plans normally).
        let out = phoenix()
            .defs(&dir)
            .cache(cache.path())
            .args(["plan"])
            .run();
        assert_eq!(
            out.code, case.code,
            "{name}: plan exit code\nstdout:\n{}\nstderr:\n{}",
            out.stdout, out.stderr
        );
        if case.code == 0 {
            assert!(out.stdout.starts_with("plan: "), "{name}: {}", out.stdout);
            assert!(
                out.stderr.contains("warnings in the definitions"),
                "{name}: {}",
                out.stderr
            );
        } else {
            assert!(
                out.stdout.is_empty(),
                "{name}: plan printed something:\n{}",
                out.stdout
            );
            assert!(
                out.stderr.contains(case.expect[0]),
                "{name}: plan's stderr lacks {:?}\n{}",
                case.expect[0],
                out.stderr
            );
        }

        // graph: draws trees whose only problem is a missing script, with a warning.
        let out = phoenix()
            .defs(&dir)
            .cache(cache.path())
            .args(["graph"])
            .run();
        assert_eq!(
            out.code, case.graph,
            "{name}: graph exit code\nstdout:\n{}\nstderr:\n{}",
            out.stdout, out.stderr
        );
        if case.graph == 0 {
            assert!(out.stdout.contains("ct:950"), "{name}: {}", out.stdout);
            assert!(
                out.stderr
                    .contains("in the definitions (`phoenix validate` lists them)"),
                "{name}: graph does not mention the warnings\n{}",
                out.stderr
            );
            assert!(!out.stderr.contains("error"), "{name}: {}", out.stderr);
        } else {
            assert!(out.stdout.is_empty(), "{name}: {}", out.stdout);
        }
    }
    // Nothing may have been written to the state directory by refused commands.
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0);
}
