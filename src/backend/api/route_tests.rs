use super::*;

fn cmd(words: &[&str]) -> Cmd {
    Cmd::new(words.iter().copied())
}

fn api(words: &[&str]) -> Call {
    api_of(&cmd(words))
}

fn api_of(c: &Cmd) -> Call {
    match route(c) {
        Route::Api(call) => call,
        other => panic!("{c:?} went to {other:?}"),
    }
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

#[test]
fn pct_subcommands_are_the_api_methods_pct_calls() {
    let c = api(&[
        "pct",
        "create",
        "950",
        "local:vztmpl/debian.tar.zst",
        "--memory",
        "2048",
    ]);
    assert_eq!(c.method, Method::Post);
    assert_eq!(
        c.at,
        At::New {
            kind: Kind::Lxc,
            vmid: 950
        }
    );
    assert_eq!(
        c.params,
        pairs(&[
            ("ostemplate", "local:vztmpl/debian.tar.zst"),
            ("memory", "2048")
        ])
    );
    let c = api(&["pct", "set", "950", "--memory", "1024"]);
    assert_eq!(
        (c.method, c.params),
        (Method::Put, pairs(&[("memory", "1024")]))
    );
    assert_eq!(
        c.at,
        At::Guest {
            kind: Kind::Lxc,
            vmid: 950,
            rest: "/config".into()
        }
    );
    let c = api(&[
        "pct",
        "clone",
        "920",
        "950",
        "--snapname",
        "base",
        "--full",
        "1",
    ]);
    assert_eq!(
        c.at,
        At::Clone {
            kind: Kind::Lxc,
            source: 920,
            newid: 950
        }
    );
    assert_eq!(c.params, pairs(&[("snapname", "base"), ("full", "1")]));
    let c = api(&["pct", "snapshot", "920", "base"]);
    assert_eq!(
        (c.method, c.params),
        (Method::Post, pairs(&[("snapname", "base")]))
    );
    let c = api(&["pct", "delsnapshot", "920", "base"]);
    assert_eq!(c.method, Method::Delete);
    assert_eq!(
        c.at,
        At::Guest {
            kind: Kind::Lxc,
            vmid: 920,
            rest: "/snapshot/base".into()
        }
    );
    let c = api(&["pct", "rollback", "920", "base"]);
    assert!(matches!(&c.at, At::Guest { rest, .. } if rest == "/snapshot/base/rollback"));
    let c = api(&["pct", "destroy", "950", "--purge", "1"]);
    assert_eq!(
        (c.method, c.params),
        (Method::Delete, pairs(&[("purge", "1")]))
    );
    assert!(matches!(&c.at, At::Guest { rest, .. } if rest.is_empty()));
    let c = api(&["pct", "resize", "950", "rootfs", "16G"]);
    assert_eq!(c.params, pairs(&[("disk", "rootfs"), ("size", "16G")]));
    assert_eq!(api(&["pct", "status", "950"]).render, Render::Status);
    assert_eq!(
        api(&["pct", "listsnapshot", "950"]).render,
        Render::Snapshots
    );
    assert_eq!(api(&["pct", "pending", "950"]).render, Render::Pending);
    let c = api(&[
        "pct",
        "shutdown",
        "950",
        "--timeout",
        "60",
        "--forceStop",
        "1",
    ]);
    assert!(matches!(&c.at, At::Guest { rest, .. } if rest == "/status/shutdown"));
}

#[test]
fn qm_set_is_the_asynchronous_post_and_the_agent_has_its_endpoints() {
    let c = api(&[
        "qm",
        "set",
        "9000",
        "--scsi0",
        "local-lvm:0,import-from=/img.qcow2",
    ]);
    assert_eq!(c.method, Method::Post);
    let c = api(&["qm", "guest", "cmd", "9000", "ping"]);
    assert_eq!(
        (c.method, c.at),
        (
            Method::Post,
            At::Guest {
                kind: Kind::Qemu,
                vmid: 9000,
                rest: "/agent/ping".into()
            }
        )
    );
    let c = api(&["qm", "cloudinit", "update", "9000"]);
    assert_eq!(c.method, Method::Put);
    assert_eq!(
        route(&cmd(&[
            "qm",
            "guest",
            "exec",
            "9000",
            "--pass-stdin",
            "1",
            "--",
            "sh",
            "-c",
            "cat > f"
        ])),
        Route::AgentExec {
            vmid: 9000,
            argv: vec!["sh".into(), "-c".into(), "cat > f".into()],
            stdin: true,
            timeout_secs: 30
        }
    );
}

#[test]
fn pvesh_names_its_path_and_loses_its_output_format() {
    // The inventory read every backend makes, as the pve backend writes it.
    let c = api_of(&crate::backend::pve::commands::inventory());
    assert_eq!(c.method, Method::Get);
    assert_eq!(c.at, At::Path("/cluster/resources".into()));
    assert_eq!(c.params, pairs(&[("type", "vm")]));
    assert_eq!(c.render, Render::Json);
    let c = api(&[
        "pvesh",
        "set",
        "/nodes/pve1/lxc/950/firewall/options",
        "--enable",
        "1",
    ]);
    assert_eq!(c.method, Method::Put);
    assert_eq!(api(&["pvesh", "create", "/x/rules"]).method, Method::Post);
    assert_eq!(
        api(&["pvesh", "delete", "/x/rules/0"]).method,
        Method::Delete
    );
}

#[test]
fn what_the_api_cannot_do_runs_in_a_shell_on_the_guest_s_node() {
    for words in [
        &["pct", "exec", "950", "--", "/bin/sh", "-c", "true"][..],
        &["pct", "push", "950", "/tmp/a", "/root/a"],
        &[
            "timeout", "-k", "10", "600", "pct", "exec", "950", "--", "sh", "x",
        ],
    ] {
        assert_eq!(
            route(&cmd(words)),
            Route::Shell { vmid: Some(950) },
            "{words:?}"
        );
    }
    for words in [
        &["sh", "-c", "cat > \"$1\"", "sh", "/tmp/x"][..],
        &["zfs", "list"],
        &["pvesh", "frobnicate", "/x"],
        &[],
    ] {
        assert_eq!(route(&cmd(words)), Route::Shell { vmid: None }, "{words:?}");
    }
    // A subcommand without an API method: the tool itself, on the guest's node.
    assert_eq!(
        route(&cmd(&["pct", "fstrim", "950"])),
        Route::Shell { vmid: Some(950) }
    );
}
