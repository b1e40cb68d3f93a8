//! The table of the broken-definitions corpus (`tests/broken/<NN-name>/`): for each
//! tree, the exit codes it must give and what its `validate` report must say.

/// What one corpus tree must produce.
pub(super) struct Case {
    pub(super) dir: &'static str,
    /// Exit code of `validate` and `plan`.
    pub(super) code: i32,
    /// Exit code of `graph` (0 where the only problems are missing scripts or warnings).
    pub(super) graph: i32,
    /// Each must appear in `validate`'s stderr: `file: json.path: message`.
    pub(super) expect: &'static [&'static str],
}

pub(super) const LXC: &str = "phoenix_lxc_configs.json";

pub(super) const CASES: &[Case] = &[
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
