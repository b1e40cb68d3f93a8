//! Every `pct`, `qm` and `pvesh` command line the pve backend would run, for the
//! fixture sets and the bundled definitions, checked against the Proxmox API
//! schema; the dry run's command sequences.

use std::path::Path;

use crate::schema::Schema;
use phoenix::backend::pve::commands::{self, Cmd, Current};
use phoenix::defs::Severity;

use crate::helpers::{Site, bundled_defs, phoenix, set_field, shared};

fn schema() -> Option<Schema> {
    let dir = shared()?;
    Some(Schema::load(&dir.join("proxmox/pve-api-schema.json")).unwrap())
}

/// Every command line `build --dry-run --backend pve all` prints for the
/// definitions in `defs` (the real backend, recorded: see `backend::pve::recording`),
/// as argv. A quoted argument may span lines.
fn dry_run_commands_of(defs: &Path) -> Vec<Cmd> {
    let cache = tempfile::tempdir().unwrap();
    let out = phoenix()
        .defs(defs)
        .cache(cache.path())
        .args(["--backend", "pve", "build", "--dry-run", "all"])
        .run()
        .success();
    let mut cmds = Vec::new();
    let mut pending = String::new();
    for line in out.stdout.lines() {
        if pending.is_empty() && line.starts_with('#') {
            continue;
        }
        pending.push_str(line);
        match shlex::split(&pending) {
            Some(words) if !words.is_empty() => {
                cmds.push(Cmd::new(words));
                pending.clear();
            }
            Some(_) => pending.clear(),
            None => pending.push('\n'),
        }
    }
    assert!(pending.is_empty(), "unterminated quote in:\n{}", out.stdout);
    cmds
}

fn all_commands(defs: &Path) -> Vec<Cmd> {
    let loaded = phoenix::pipeline::load(defs, Severity::Error);
    assert!(!loaded.diags.has_errors(), "{:?}", loaded.diags.sorted());
    let mut cmds = vec![commands::inventory()];
    // Built-in host steps: their Proxmox calls (`pvesm`); zpool, zfs and exportfs
    // are not API commands.
    for spec in &loaded.defs.host_steps {
        cmds.extend(
            phoenix::backend::pve::host::full_run(spec.name, &loaded.defs.host)
                .into_iter()
                .filter(|c| c.argv[0] == "pvesm"),
        );
    }
    // A full build of everything, exactly as the backend runs it.
    cmds.extend(dry_run_commands_of(defs));
    for g in loaded.defs.guests.values() {
        cmds.push(commands::stamp(
            g,
            &commands::stamp_tags(&format!("built:{}", "ab".repeat(32))),
        ));
        cmds.extend(commands::destroy(g));
        cmds.push(commands::rollback(g, "pre-base_setup"));
        cmds.extend(commands::snapshot(g, "final-form", true));
        if g.kind == phoenix::defs::GuestKind::Ct {
            // A re-run against a config that already has some mounts and a bigger disk.
            let current = Current::parse(
                "mp0: /a,mp=/etc/step-ca/ssl\nrootfs: local:101/vm-101-disk-0.raw,size=500G\n[snap]\nmp1: x,mp=/y\n",
            );
            cmds.extend(commands::ct_configure(g, &current));
            cmds.extend(commands::firewall(g, "pve", 3));
        }
    }
    cmds
}

#[test]
fn every_emitted_command_is_valid_for_the_proxmox_api() {
    let Some(schema) = schema() else { return };
    let mut trees = vec![("graph-defs".to_string(), bundled_defs(), None)];
    for name in [
        "phoenix-2025-09",
        "phoenix-2025-11",
        "phoenix-2025-11-templates",
    ] {
        let Some(site) = Site::fixture(name) else {
            return;
        };
        trees.push((name.to_string(), site.defs.clone(), Some(site)));
    }
    let mut checked = 0;
    let mut storages = 0;
    for (name, dir, _keep) in &trees {
        let mut errors = Vec::new();
        for cmd in all_commands(dir) {
            // Host tools with no API counterpart, named here so that nothing else
            // slips past the check: the image work (`cp`, `rm`, `virt-customize`,
            // `test -f`), uploads (`sh -c 'mkdir -p … && cat > …'`), reading a
            // container's config file (`cat`), host scripts (`env … /bin/sh`), the
            // built-in host steps' ZFS and NFS tools (`showmount` among them).
            if matches!(
                cmd.argv[0].as_str(),
                "cp" | "rm"
                    | "virt-customize"
                    | "test"
                    | "sh"
                    | "/bin/sh"
                    | "cat"
                    | "env"
                    | "mkdir"
                    | "zpool"
                    | "zfs"
                    | "wipefs"
                    | "exportfs"
                    | "findmnt"
                    | "readlink"
                    | "showmount"
            ) {
                continue;
            }
            storages += usize::from(cmd.argv[0] == "pvesm");
            errors.extend(schema.check(&cmd));
            checked += 1;
        }
        assert!(
            errors.is_empty(),
            "{name}: {} invalid command lines:\n{}",
            errors.len(),
            errors.join("\n")
        );
    }
    assert!(checked > 300, "only {checked} commands checked");
    assert!(
        storages > 10,
        "only {storages} pvesm commands checked: the fixtures' ZFS datasets and NFS exports each add one"
    );
}

#[test]
fn the_checker_rejects_what_proxmox_would() {
    let Some(schema) = schema() else { return };
    let bad = |argv: &[&str]| {
        let errs = schema.check(&Cmd::new(argv.iter().copied()));
        assert!(!errs.is_empty(), "accepted {argv:?}");
        errs.join("\n")
    };
    assert!(bad(&["pct", "set", "101", "--memory", "8"]).contains("below the minimum 16"));
    assert!(bad(&["pvesm", "add", "zfs-pool", "x", "--pool", "tank"]).contains("zfs-pool"));
    assert!(bad(&["pvesm", "add", "dir", "x", "--paht", "/x"]).contains("--paht is not an option"));
    assert!(bad(&["pct", "set", "101", "--memroy", "1024"]).contains("--memroy is not an option"));
    assert!(bad(&["pct", "set", "101", "--onboot", "yes"]).contains("not a boolean"));
    assert!(
        bad(&[
            "pct",
            "set",
            "101",
            "--net0",
            "name=eth0,bridge=vmbr0,speed=10"
        ])
        .contains("`speed` is not a key")
    );
    assert!(bad(&["pct", "set", "101", "--net0", "bridge=vmbr0"]).contains("required key `name`"));
    assert!(
        bad(&["pct", "set", "101", "--net0", "name=eth0,hwaddr=52:54:00"]).contains("not a MAC")
    );
    assert!(bad(&["pct", "set", "101", "--tags", "phoenix;bad!tag"]).contains("not a valid tag"));
    assert!(bad(&["pct", "set", "99", "--memory", "1024"]).contains("below the minimum 100"));
    assert!(
        bad(&["qm", "set", "1001", "--firewall", "0"]).contains("--firewall is not an option"),
        "the shell tool's invalid `qm set --firewall`"
    );
    assert!(
        bad(&["pct", "restart", "101"]).contains("not a command"),
        "the shell tool's non-existent `pct restart`"
    );
    assert!(
        bad(&[
            "pvesh",
            "create",
            "/nodes/pve/lxc/101/firewall/rules",
            "--type",
            "sideways",
            "--action",
            "ACCEPT"
        ])
        .contains("not one of")
    );
    assert!(
        schema
            .check(&Cmd::new([
                "pct",
                "set",
                "101",
                "--memory",
                "1024",
                "--net0",
                "name=eth0,bridge=vmbr0,ip=dhcp"
            ]))
            .is_empty()
    );
}

#[test]
fn remounting_is_keyed_by_container_path() {
    let Some(site) = Site::fixture("phoenix-2025-11") else {
        return;
    };
    let (defs, _) = phoenix::defs::load(&site.defs);
    let ct801 = defs.guest(801).unwrap();
    let fresh = commands::ct_configure(ct801, &Current::default());
    assert!(
        fresh[0]
            .display()
            .contains("--mp0 fastData-shared-bulk-data:50,mp=/vllm_models"),
        "{}",
        fresh[0].display()
    );
    assert!(
        fresh
            .iter()
            .any(|c| c.display() == "pct resize 801 rootfs 128G")
    );
    // Second run: the volume is there (under any index), the disk already has its size.
    let current = Current::parse(
        "mp3: fastData-shared-bulk-data:vm-801-disk-1,mp=/vllm_models,size=50G\nrootfs: quickOS-lxc-disks:subvol-801-disk-0,size=128G\n",
    );
    let again = commands::ct_configure(ct801, &current);
    assert!(
        !again[0].display().contains("--mp"),
        "{}",
        again[0].display()
    );
    assert_eq!(
        again.len(),
        1,
        "no resize when the disk already has its size"
    );
    // GPUs are native device passthrough, no raw cgroup lines with hard-coded majors.
    assert!(
        fresh[0].display().contains("--dev3 path=/dev/nvidia0"),
        "{}",
        fresh[0].display()
    );
}

#[test]
fn dry_run_prints_the_exact_command_lines() {
    let cache = tempfile::tempdir().unwrap();
    let out = phoenix()
        .defs(&bundled_defs())
        .cache(cache.path())
        .args(["--backend", "pve", "build", "--dry-run", "950"])
        .run()
        .success();
    let text = out.stdout;
    assert!(text.contains("# create ct:950\npct clone 920 950 --snapname vllm-snapshot --hostname vllm-demo --full 1 --storage local-lvm\n"), "{text}");
    assert!(
        text.contains("pct exec 950 -- env PHOENIX_GUEST_ID=950 PHOENIX_GUEST_NAME=vllm-demo PHOENIX_GUEST_JSON=/phoenix/guest.json timeout -k 10 1800 /bin/sh /phoenix/run/vllm_server.sh 950\n"),
        "{text}"
    );
    assert!(!text.contains("ct:902"), "902 is not needed by 950");
    assert!(
        std::fs::read_dir(cache.path()).unwrap().next().is_none(),
        "a dry run records nothing"
    );
}

/// `build --dry-run --backend pve` on a copy of the bundled definitions, paths redacted.
fn dry_run_commands(site: &Site, extra: &[&str]) -> String {
    let out = site
        .phoenix()
        .args(["--backend", "pve", "build", "--dry-run"])
        .args(extra)
        .run()
        .success();
    let host = std::fs::read_to_string("/etc/hostname")
        .map_or_else(|_| "pve".to_string(), |h| h.trim().to_string());
    out.stdout
        .replace(&site.defs.display().to_string(), "[DEFS]")
        .replace(&format!("/nodes/{host}/"), "/nodes/[NODE]/")
}

#[test]
fn command_sequences_for_build_memory_change_feature_change_and_replace() {
    let site = Site::bundled();
    insta::assert_snapshot!("pve_build_all", dry_run_commands(&site, &["all"]));

    site.record_all_built();
    set_field(&site.defs, "950", "memory_mb", serde_json::json!(2048));
    let memory = dry_run_commands(&site, &["all"]);
    // The update reads the config first, then sets what differs (the recorded
    // state does not know the config, so every setting).
    assert!(
        memory.starts_with("# update ct:950\npct config 950\npct set 950"),
        "{memory}"
    );
    insta::assert_snapshot!("pve_memory_change", memory);

    site.record_all_built();
    let feature = site.defs.join("features/lxc/docker.sh");
    let text = std::fs::read_to_string(&feature).unwrap();
    std::fs::write(&feature, format!("{text}\n# v2\n")).unwrap();
    let changed = dry_run_commands(&site, &["902"]);
    assert!(changed.contains("pct rollback 902 pre-docker"), "{changed}");
    insta::assert_snapshot!("pve_feature_change", changed);

    std::fs::write(&feature, text).unwrap();
    set_field(
        &site.defs,
        "101",
        "storage_pool",
        serde_json::json!("fast-pool"),
    );
    let replace = dry_run_commands(&site, &["101"]);
    assert!(
        replace.contains(
            "# replace ct:101\npvesh get /cluster/resources --type vm --output-format json\npct stop 101\npct destroy 101 --purge 1\npct clone 902 101"
        ),
        "{replace}"
    );
    insta::assert_snapshot!("pve_replace", replace);
}

/// The newest era (`phoenix-2025-11-templates`): `build --dry-run --backend pve all`
/// converts 900, 901 and 911 with `pct template` once their features are done,
/// clones every guest of a converted template linked (no `--snapname`, no
/// `--full`: Proxmox's default for a template, the template's ZFS storage being
/// the clone's), stamps the templates afterwards, never starts one after, and
/// gives 101 its second interface on vmbr100 and a DHCP first one with the
/// `hwaddr` of its `network_config`.
#[test]
fn templates_are_converted_cloned_linked_and_101_gets_net1() {
    let Some(site) = Site::fixture("phoenix-2025-11-templates") else {
        return;
    };
    let cmds: Vec<String> = dry_run_commands_of(&site.defs)
        .iter()
        .map(Cmd::display)
        .collect();
    let at = |line: &str| {
        cmds.iter()
            .position(|c| c == line)
            .unwrap_or_else(|| panic!("`{line}` is not in the dry run:\n{}", cmds.join("\n")))
    };
    for (template, feature) in [(900, "base_setup"), (901, "nvidia"), (911, "step_cli")] {
        let converted = at(&format!("pct template {template}"));
        let last_feature = cmds
            .iter()
            .rposition(|c| {
                c.starts_with(&format!("pct exec {template} -- env")) && c.contains(feature)
            })
            .unwrap_or_else(|| panic!("{template} runs {feature}"));
        assert!(
            last_feature < converted,
            "{template} is converted once done"
        );
        let stamped = cmds
            .iter()
            .rposition(|c| c.starts_with(&format!("pct set {template} --tags 'phoenix;phx-built-")))
            .unwrap_or_else(|| panic!("{template} is stamped built"));
        assert!(
            converted < stamped,
            "{template}: the stamp goes on the template"
        );
        assert!(
            !cmds[converted..]
                .iter()
                .any(|c| c.starts_with(&format!("pct start {template}"))
                    || c.starts_with(&format!("pct exec {template} "))
                    || c.starts_with(&format!("pct snapshot {template} "))),
            "{template} is never started or snapshotted as a template"
        );
        assert!(
            !cmds
                .iter()
                .any(|c| c.starts_with(&format!("pct snapshot {template} pre-configured"))),
            "no lifecycle snapshots on a converted template"
        );
    }
    let clones = [
        (900, 101, "Nginx-Phoenix"),
        (900, 102, "Traefik-Internal"),
        (900, 103, "Step-CA"),
        (900, 901, "Copy-Cuda12.8"),
        (901, 910, "Copy-VLLM-GPUx2"),
        (901, 911, "Copy-VLLM-GPU0"),
        (901, 914, "ollama-gpu0"),
        (901, 917, "llamacpp-gpu0"),
        (911, 912, "Copy-VLLM-GPU1"),
        (911, 801, "granite-embedding"),
        (911, 802, "granite-3.3-8b-fp8"),
    ];
    for (source, clone, name) in clones {
        let made = at(&format!("pct clone {source} {clone} --hostname {name}"));
        assert!(
            at(&format!("pct template {source}")) < made,
            "{clone} after {source} is a template"
        );
    }
    assert!(
        !cmds
            .iter()
            .any(|c| c.starts_with("pct clone")
                && (c.contains("--snapname") || c.contains("--full"))),
        "every clone is a linked clone of a converted template"
    );
    // 101: a DHCP net0 with its network_config hwaddr, net1 on vmbr100; its
    // firewall is off, so neither interface has `firewall=1`.
    let set = cmds
        .iter()
        .find(|c| c.starts_with("pct set 101 --hostname"))
        .expect("101 is configured");
    assert!(
        set.contains(" --net0 name=eth0,bridge=vmbr0.20,ip=dhcp,hwaddr=02:00:00:00:01:01 ")
            && set.contains(" --net1 name=eth1,bridge=vmbr100,ip=172.16.100.10/24,gw=172.16.100.1,hwaddr=02:00:00:00:01:02"),
        "{set}"
    );
    // Only 101 has a second interface; the others have their net0 alone.
    assert_eq!(cmds.iter().filter(|c| c.contains("--net1")).count(), 1);
}
