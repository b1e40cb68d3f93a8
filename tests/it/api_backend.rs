//! The api backend end to end: the real `phoenix` against the REST API stand-in
//! (`tests/standin/pve_api.py`, a cluster of nodes on 127.0.0.1 over HTTPS with a
//! certificate the test makes; see `api_standin`), its container scripts over the
//! stand-in nodes' ssh.

mod cluster_build;
mod failures;
mod scale;
mod trust;

use std::path::Path;

use serde_json::Value;

use crate::api_standin::{ApiStandIn, Options};
use crate::helpers::{Output, Site};

/// A site whose commands drive the stand-in cluster through the API.
pub struct ApiSite {
    pub site: Site,
    pub api: ApiStandIn,
}

/// How the site trusts the stand-in's certificate.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Trusting {
    CaFile,
    Fingerprint,
    /// Neither: the test gives its own.
    Nothing,
}

impl ApiSite {
    /// The bundled definitions against a stand-in cluster started with `opts`;
    /// `None` (after saying why) where the stand-in cannot run.
    pub fn start(opts: &Options, trust: Trusting) -> Option<ApiSite> {
        let api = ApiStandIn::start_with(opts)?;
        let path = format!(
            "{}:{}",
            api.ssh_bin().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let site = Site::bundled().env("PATH", path);
        // The nodes' files (`/etc/pve/lxc/ID.conf`...) and cloud images live on
        // this machine, under the stand-in's root.
        let images = api.state_dir().join("root/images");
        std::fs::create_dir_all(&images).unwrap();
        std::fs::write(
            images.join("debian-12-genericcloud-amd64.qcow2"),
            b"not really an image",
        )
        .unwrap();
        let site = site.backend([
            "--pve-root".to_string(),
            api.state_dir().join("root").display().to_string(),
            "--pve-image-dir".into(),
            images.display().to_string(),
        ]);
        let site = with_api(site, &api, trust);
        Some(ApiSite { site, api })
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.site.phoenix().args(args).run()
    }

    /// Requests made since `before` (an index into the request log).
    pub fn requests_since(&self, before: usize) -> Vec<Value> {
        self.api.requests()[before..].to_vec()
    }
}

/// `site` driving `api`: `--backend api --api URL`, the token from its file, and
/// the CA file or the pinned fingerprint.
pub fn with_api(site: Site, api: &ApiStandIn, trust: Trusting) -> Site {
    let mut args = vec![
        "--backend".to_string(),
        "api".into(),
        "--api".into(),
        api.url(),
        "--token-file".into(),
        api.token_file().display().to_string(),
    ];
    match trust {
        Trusting::CaFile => args.extend(["--ca-file".into(), api.ca().display().to_string()]),
        Trusting::Fingerprint => args.extend(["--fingerprint".into(), api.fingerprint()]),
        Trusting::Nothing => {}
    }
    site.backend(args)
}

/// Whether `text` anywhere holds the token's secret.
#[track_caller]
pub fn assert_no_secret(api: &ApiStandIn, what: &str, text: &str) {
    assert!(
        !text.contains(api.secret()),
        "the token's secret appears in {what}"
    );
}

/// Every file under `dir`, read, for secrets.
pub fn assert_no_secret_under(api: &ApiStandIn, dir: &Path) {
    for entry in walk(dir) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert_no_secret(
            api,
            &entry.display().to_string(),
            &String::from_utf8_lossy(&bytes),
        );
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
