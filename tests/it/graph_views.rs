//! `phoenix graph`'s views for people: the tree (`--format tree`, the default on a
//! terminal), the host edges a clone edge implies (left out unless `--all-edges`),
//! and the HTML page (`page`), down to a real headless Chromium clicking a node.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

mod page;

use crate::build_sim::{SimSite, ct, site};
use crate::helpers::{Site, bundled_defs, phoenix, set_field, update_json};

const ESC: &str = "\x1b[";
/// Text from the definitions that must reach the page as text, never as markup.
const NASTY: &str = "</script><b>&\"'";

fn graph(defs: &Path, args: &[&str]) -> String {
    phoenix()
        .defs(defs)
        .cache(&defs.join("no-cache"))
        .args(["graph"])
        .args(args)
        .run()
        .success()
        .stdout
}

#[test]
fn tree_of_the_bundled_definitions() {
    let defs = bundled_defs();
    let tree = graph(&defs, &["--format", "tree"]);
    assert!(!tree.contains(ESC), "no colours in a pipe:\n{tree}");
    insta::assert_snapshot!("tree-graph-defs", tree);
    // The chain of 950, from the guest down to the base template.
    assert!(
        tree.contains(
            "ct:950 vllm-demo\n└── ct:920 tmpl-vllm\n    └── ct:901 tmpl-gpu\n        └── ct:900 (*)\n"
        ),
        "{tree}"
    );
    // ct:900 in full once, then `(*)`; depends edges ride on the line.
    assert_eq!(tree.matches("ct:900 tmpl-base").count(), 1, "{tree}");
    assert!(tree.contains("ct:101 web  (depends: ct:103)\n"), "{tree}");
    assert!(tree.contains("ct:102 proxy  (depends: ct:101)\n└── ct:902 (*)\n"));
    // Host steps last, on lines of their own.
    let last = tree.lines().last().unwrap();
    assert!(last.starts_with("host:"), "{tree}");
    // Piped, `graph` stays the table scripts read.
    assert_eq!(
        graph(&defs, &[]),
        graph(&defs, &["--format", "text"]),
        "the default format in a pipe is text"
    );
}

#[test]
fn tree_of_the_2025_11_fixture() {
    let Some(site) = Site::fixture("phoenix-2025-11") else {
        return;
    };
    let tree = graph(&site.defs, &["--format", "tree"]);
    insta::assert_snapshot!("tree-phoenix-2025-11", tree);
    let chain = "ct:801 granite-embedding  (depends: vm:1002)\n\
                 └── ct:911 Copy-VLLM-GPU0\n    \
                 └── ct:901 Copy-Cuda12.8  (depends: vm:1002; host: gpu_init, nvidia)\n        \
                 └── ct:900 (*)\n";
    assert!(tree.contains(chain), "{tree}");
    assert!(
        tree.starts_with(
            "ct:101 Nginx-Phoenix  (depends: ct:103; host: dns)\n└── ct:900 Copy-Base  (host: network, zfs)\n"
        ),
        "{tree}"
    );
    assert!(
        tree.contains("ct:802 granite-3.3-8b-fp8  (depends: vm:1002)\n└── ct:911 (*)\n"),
        "{tree}"
    );
    assert!(tree.contains("ct:914 ollama-gpu0  (depends: vm:1002)\n└── ct:901 (*)\n"));
    for id in ["ct:901", "ct:911", "ct:900", "vm:9000"] {
        let full = tree
            .lines()
            .filter(|l| l.contains(&format!("{id} ")) && !l.ends_with("(*)"))
            .count();
        assert_eq!(full, 1, "{id} is printed in full exactly once:\n{tree}");
    }
    // With every edge, a clone repeats the host steps of its chain.
    let all = graph(&site.defs, &["--format", "tree", "--all-edges", "801"]);
    assert!(
        all.starts_with(
            "ct:801 granite-embedding  (depends: vm:1002; host: gpu_init, network, nvidia, zfs)\n"
        ),
        "the target comes first:\n{all}"
    );
    assert!(!all.contains("ct:910"), "910 is not needed by 801:\n{all}");
}

#[test]
fn tree_colours_only_when_asked_or_on_a_terminal() {
    let defs = bundled_defs();
    let plain = graph(&defs, &["-f", "tree"]);
    let always = graph(&defs, &["-f", "tree", "--color", "always"]);
    assert!(!plain.contains(ESC));
    // Nothing was built: every node is missing (dim), and a legend follows.
    assert!(
        always.contains("\x1b[2mct:950 vllm-demo\x1b[0m\n"),
        "{always}"
    );
    assert!(always.contains("states: \x1b[32mfresh\x1b[0m"), "{always}");
    let strip = |s: &str| {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find(ESC) {
            out.push_str(&rest[..i]);
            let end = rest[i..].find('m').unwrap();
            rest = &rest[i + end + 1..];
        }
        out + rest
    };
    assert!(strip(&always).starts_with(&plain), "same tree, coloured");
    let env = |k: &str, v: &str, extra: &[&str]| {
        phoenix()
            .defs(&defs)
            .cache(&defs.join("no-cache"))
            .env(k, v)
            .args(["graph", "-f", "tree"])
            .args(extra)
            .run()
            .success()
            .stdout
    };
    assert!(env("CLICOLOR_FORCE", "1", &[]).contains(ESC));
    assert!(!env("NO_COLOR", "1", &[]).contains(ESC));
    assert!(!env("PHOENIX_COLOR", "never", &[]).contains(ESC));
    assert!(
        env("NO_COLOR", "1", &["--color", "always"]).contains(ESC),
        "the flag wins"
    );
    assert!(!graph(&defs, &["-f", "tree", "--color", "never", "--state"]).contains(ESC));
}

#[test]
fn on_a_terminal_the_default_is_the_coloured_tree() {
    // util-linux `script` gives the command a terminal.
    if which("script").is_none() {
        eprintln!("SKIPPED: `script` (util-linux) not installed; no terminal to test with");
        return;
    }
    let defs = bundled_defs();
    let command = format!(
        "'{}' --defs '{}' --cache '{}' graph 950",
        env!("CARGO_BIN_EXE_phoenix"),
        defs.display(),
        defs.join("no-cache").display()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("PHOENIX_COLOR")
        .env_remove("PHOENIX_GRAPH_FORMAT")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    assert!(out.status.success(), "{screen}");
    assert!(
        screen.contains("\x1b[2mct:950 vllm-demo\x1b[0m\n└── \x1b[2mct:920 tmpl-vllm\x1b[0m"),
        "{screen:?}"
    );
    assert!(screen.contains("states: "), "{screen:?}");
}

#[test]
fn host_edges_a_clone_inherits_are_drawn_only_with_all_edges() {
    let Some(site) = Site::fixture("phoenix-2025-11") else {
        return;
    };
    let run = |args: &[&str]| graph(&site.defs, args);
    // 911 is cloned from 901, which already needs the GPU host steps.
    let inherited = "\"host:gpu_init\" -> \"ct:911\"";
    let own = "\"host:gpu_init\" -> \"ct:901\"";
    let dot = run(&["--format", "dot"]);
    let dot_all = run(&["--format", "dot", "--all-edges"]);
    assert!(!dot.contains(inherited) && dot.contains(own), "{dot}");
    assert!(dot_all.contains(inherited) && dot_all.contains(own));
    let mermaid = run(&["--format", "mermaid"]);
    let mermaid_all = run(&["--format", "mermaid", "--all-edges"]);
    assert!(
        !mermaid.contains("host_gpu_init -->|host| ct_911"),
        "{mermaid}"
    );
    assert!(mermaid.contains("host_gpu_init -->|host| ct_901"));
    assert!(mermaid_all.contains("host_gpu_init -->|host| ct_911"));
    // The machine formats list every edge.
    for args in [
        &["--format", "json"][..],
        &["--format", "json", "--all-edges"][..],
    ] {
        let v: Value = serde_json::from_str(&run(args)).unwrap();
        assert!(
            v["edges"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["from"] == "ct:911"
                    && e["to"] == "host:gpu_init"
                    && e["kind"] == "host")
        );
    }
    assert!(run(&["--format", "text"]).contains("host host:gpu_init"));
    // The page's edges, too.
    let edges = |args: &[&str]| -> Vec<(String, String)> {
        page_data(&run(args))["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["from"].to_string(), e["to"].to_string()))
            .collect()
    };
    let inherited = ("\"ct:911\"".to_string(), "\"host:gpu_init\"".to_string());
    assert!(!edges(&["--format", "html", "--layout", "builtin"]).contains(&inherited));
    assert!(
        edges(&["--format", "html", "--layout", "builtin", "--all-edges"]).contains(&inherited)
    );
}

/// The JSON the page carries its nodes' details in.
pub(super) fn page_data(html: &str) -> Value {
    let open = "<script type=\"application/json\" id=\"phoenix-data\">";
    let start = html.find(open).expect("data element") + open.len();
    let end = start + html[start..].find("</script>").unwrap();
    serde_json::from_str(&html[start..end]).unwrap()
}

/// A sim site whose nodes are in every state: 900, 901 fresh; 902 failed (its
/// feature script changed and failed); 920, cloned from it, stale; 910 stale
/// (application fields changed, one a secret, one with markup in it); 930 never
/// built.
pub(super) fn site_in_every_state() -> SimSite {
    let lxc = json!({
        "900": ct("base", 10, &json!({"template": "local:vztmpl/x.tar.zst", "template_snapshot_name": "base", "features": ["base_setup"]})),
        "901": ct("gpu", 11, &json!({"clone_from_ctid": "900", "template_snapshot_name": "gpu", "features": ["gpu"]})),
        "902": ct("docker", 12, &json!({"clone_from_ctid": "900", "template_snapshot_name": "docker", "features": ["docker"]})),
        "910": ct("svc-a", 13, &json!({"clone_from_ctid": "901", "application_script": "app.sh",
            "admin_password": "hunter2-old-SECRET", "tests": "plain"})),
        "920": ct("svc-b", 14, &json!({"clone_from_ctid": "902", "dependencies": ["910"], "application_script": "app.sh"})),
    });
    let t = site(&lxc, &["base_setup", "gpu", "docker"]);
    t.build(&["all"]).success();
    std::fs::write(
        t.defs.join("features/lxc/docker.sh"),
        "#!/bin/sh\necho v2\n",
    )
    .unwrap();
    t.faults(&json!([{"node": "ct:902", "op": "exec", "match": "docker.sh", "times": 1}]));
    let out = t.build(&["902"]).code(1);
    assert_eq!(out.summary()["nodes"]["ct:902"], "failed", "{}", out.stdout);
    set_field(
        &t.defs,
        "910",
        "admin_password",
        json!("hunter2-new-SECRET"),
    );
    set_field(&t.defs, "910", "tests", json!(NASTY));
    update_json(&t.defs.join("phoenix_lxc_configs.json"), |v| {
        v["lxc_configs"]["930"] = ct("svc-c", 15, &json!({"clone_from_ctid": "900"}));
    });
    t
}

#[test]
fn tree_colours_nodes_by_state() {
    let t = site_in_every_state();
    let out = t
        .phoenix()
        .args(["graph", "-f", "tree", "--color", "always", "--state"])
        .run()
        .success()
        .stdout;
    for (line, colour) in [
        ("ct:900 base [fresh]", "32"),
        ("ct:902 docker [failed]", "1;31"),
        ("ct:910 svc-a [stale]", "33"),
        ("ct:920 svc-b [stale]", "33"),
        ("ct:930 svc-c [missing]", "2"),
    ] {
        let (label, word) = line.rsplit_once(' ').unwrap();
        let painted = format!("\x1b[{colour}m{label}\x1b[0m {word}");
        assert!(out.contains(&painted), "{painted:?} in\n{out}");
    }
    // Text and JSON keep the plan's three states.
    let json: Value = serde_json::from_str(
        &t.phoenix()
            .args(["graph", "--format", "json", "--state"])
            .run()
            .success()
            .stdout,
    )
    .unwrap();
    let state = |id: &str| {
        json["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id)
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(state("ct:902"), "stale");
    assert_eq!(state("ct:930"), "missing");
}

/// `program` on the PATH.
pub(super) fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}
