//! The HTML page: self-contained, escaped, free of secrets, laid out by Graphviz
//! or by phoenix, and working in a real headless Chromium (its `#selftest`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{NASTY, page_data, site_in_every_state, which};
use crate::build_sim::SimSite;

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
            "--disable-dev-shm-usage",
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
