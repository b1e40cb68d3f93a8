//! `phoenix graph`'s views for people: the tree (`--format tree`, the default on a
//! terminal), the host edges a clone edge implies (left out unless `--all-edges`),
//! and the HTML page, down to a real headless Chromium clicking a node.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

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
fn page_data(html: &str) -> Value {
    let open = "<script type=\"application/json\" id=\"phoenix-data\">";
    let start = html.find(open).expect("data element") + open.len();
    let end = start + html[start..].find("</script>").unwrap();
    serde_json::from_str(&html[start..end]).unwrap()
}

/// A sim site whose nodes are in every state: 900, 901 fresh; 902 failed (its
/// feature script changed and failed); 920, cloned from it, stale; 910 stale
/// (application fields changed, one a secret, one with markup in it); 930 never
/// built.
fn site_in_every_state() -> SimSite {
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

/// Every `http://` or `https://` in the page is an XML namespace name, which
/// nothing fetches.
fn assert_self_contained(html: &str) {
    for (i, _) in html.match_indices("http") {
        let before = &html[i.saturating_sub(16)..i];
        assert!(
            before.ends_with("xmlns=\"") || before.ends_with("xmlns:xlink=\""),
            "a network address in the page: {}",
            &html[i.saturating_sub(40)..(i + 60).min(html.len())]
        );
    }
    for needle in ["<link", "@import", "url(http", "src=", "<iframe"] {
        assert!(!html.contains(needle), "`{needle}` in the page");
    }
}

fn html_page(t: &SimSite, layout: &str, path: &Path) -> String {
    let out = t
        .phoenix()
        .env("PATH", path)
        .args(["graph", "--format", "html", "--layout", layout])
        .run()
        .success();
    out.stdout
}

#[test]
fn the_page_is_self_contained_escaped_and_keeps_secrets() {
    let t = site_in_every_state();
    let path = std::env::var_os("PATH").unwrap();
    let html = html_page(&t, "builtin", Path::new(&path));
    assert_self_contained(&html);
    assert!(
        !html.contains(NASTY) && !html.contains("<b>"),
        "markup from the definitions"
    );
    assert_eq!(
        html.matches("<script").count(),
        html.matches("</script>").count()
    );
    assert!(!html.contains("hunter2"), "a secret on the page");
    let data = page_data(&html);
    let node = |id: &str| {
        data["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id)
            .unwrap()
            .clone()
    };
    let svc = node("ct:910");
    assert_eq!(svc["state"], "stale");
    assert_eq!(svc["action"], "rerun-app");
    let reasons = svc["reasons"].to_string();
    assert!(
        reasons.contains("admin_password") && reasons.contains("<redacted"),
        "{reasons}"
    );
    let nasty_json = serde_json::to_string(NASTY).unwrap();
    assert!(
        reasons.contains(&nasty_json[1..nasty_json.len() - 1]),
        "{reasons}"
    );
    assert_eq!(node("ct:902")["state"], "failed");
    assert_eq!(node("ct:930")["state"], "missing");
    assert_eq!(node("ct:900")["state"], "fresh");
    let steps: Vec<&str> = svc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["run"] == true)
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["app"], "{svc}");
    assert_eq!(svc["key"].as_str().unwrap().len(), 64);
    // One drawn node per node, whoever laid the graph out.
    for layout in ["builtin", "auto"] {
        let html = html_page(&t, layout, Path::new(&path));
        assert_eq!(html.matches("class=\"node ").count(), 6, "{layout}");
    }
}

#[test]
fn without_graphviz_the_page_is_laid_out_by_phoenix() {
    let t = site_in_every_state();
    let empty = t.path().join("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    let out = t
        .phoenix()
        .env("PATH", &empty)
        .args(["graph", "--format", "html"])
        .run()
        .success();
    assert!(out.stdout.contains("data-layout=\"builtin\""));
    assert!(
        out.stderr.contains("drawn with the built-in layout"),
        "{}",
        out.stderr
    );
    let refused = t
        .phoenix()
        .env("PATH", &empty)
        .args(["graph", "--format", "html", "--layout", "dot"])
        .run()
        .code(2);
    assert!(
        refused.stderr.contains("install graphviz"),
        "{}",
        refused.stderr
    );
    if which("dot").is_some() {
        let path = std::env::var_os("PATH").unwrap();
        let html = html_page(&t, "auto", Path::new(&path));
        assert!(html.contains("data-layout=\"graphviz\""));
        assert_self_contained(&html);
    } else {
        eprintln!("SKIPPED: graphviz `dot` not installed; the Graphviz layout was not checked");
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Chromium, or `None` (said on stderr) where it is not installed; under CI
/// (`CI=true`, where scripts/setup.sh installs it) a missing Chromium fails.
fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|p| which(p));
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but chromium is not installed (scripts/setup.sh installs it)"
        );
        eprintln!("SKIPPED: chromium not installed; the page was not run in a browser");
    }
    found
}

/// `chromium --headless --dump-dom` of `page#selftest`: (DOM, stderr).
fn dump_dom(browser: &Path, page: &Path, profile: &Path) -> (String, String) {
    let mut child = Command::new(browser)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}#selftest", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_page_works_in_headless_chromium() {
    let Some(browser) = chromium() else {
        return;
    };
    let t = site_in_every_state();
    let path = std::env::var_os("PATH").unwrap();
    let mut layouts = vec!["builtin"];
    if which("dot").is_some() {
        layouts.push("dot");
    }
    for layout in layouts {
        let page = t.path().join(format!("graph-{layout}.html"));
        std::fs::write(&page, html_page(&t, layout, Path::new(&path))).unwrap();
        let (dom, stderr) = dump_dom(&browser, &page, &t.path().join(format!("profile-{layout}")));
        let open = "<pre id=\"selftest\">";
        let start = dom
            .find(open)
            .unwrap_or_else(|| panic!("{layout}: the self-test did not run\n{dom}\n{stderr}"))
            + open.len();
        let text = &dom[start..start + dom[start..].find("</pre>").unwrap()];
        let text = text
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&amp;", "&");
        let report: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(report["errors"], json!([]), "{layout}: {report}");
        assert_eq!(report["nodes"], 6, "{layout}: {report}");
        assert_eq!(
            report["drawn"], 6,
            "{layout}: one SVG element per node: {report}"
        );
        assert_eq!(report["clicked"], "ct:910", "{layout}: {report}");
        let panel = report["panel"].as_str().unwrap();
        for want in [
            "ct:910 svc-a",
            "container",
            "rerun-app",
            "admin_password",
            "<redacted",
            NASTY,
        ] {
            assert!(
                panel.contains(want),
                "{layout}: `{want}` in the panel: {panel}"
            );
        }
        assert!(!panel.contains("hunter2"), "{layout}: {panel}");
        assert_eq!(report["filtered"], 1, "{layout}: {report}");
        assert_eq!(report["dimmed"], 5, "{layout}: {report}");
        assert!(
            !dom.contains("<b>"),
            "{layout}: markup from the definitions ran"
        );
        for line in stderr.lines().filter(|l| l.contains("CONSOLE")) {
            assert!(
                !line.contains("ERROR") && !line.contains("Uncaught"),
                "{layout}: {line}"
            );
        }
    }
}
