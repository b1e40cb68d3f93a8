//! Whom the api backend trusts, and what one inventory costs.

use super::{ApiSite, Trusting, assert_no_secret, assert_no_secret_under};
use crate::api_standin::Options;

/// `status` on an empty cluster reads the inventory with the token, then where
/// each guest would go, and changes nothing; through the CA file and through
/// the pinned fingerprint alike.
#[test]
fn an_inventory_is_one_request_with_either_trust() {
    for trust in [Trusting::CaFile, Trusting::Fingerprint] {
        let Some(s) = ApiSite::start(&Options::default(), trust) else {
            return;
        };
        let out = s.run(&["status"]).success();
        let requests = s.api.requests();
        assert_eq!(requests.len(), 2, "{requests:#?}");
        assert!(
            requests
                .iter()
                .all(|r| r["method"] == "GET" && r["status"] == 200)
        );
        assert_eq!(requests[1]["path"], "/cluster/resources");
        assert!(
            requests[1]["params"].get("type").is_none(),
            "nodes and storages too"
        );
        assert_eq!(requests[0]["path"], "/cluster/resources");
        assert_eq!(requests[0]["params"]["type"], "vm");
        assert_eq!(requests[0]["status"], 200);
        assert_eq!(requests[0]["user"], "root@pam!phoenix");
        assert_no_secret(
            &s.api,
            "status's output",
            &format!("{}{}", out.stdout, out.stderr),
        );
        assert_no_secret_under(&s.api, &s.site.cache);
    }
}

/// A certificate that is not the pinned one is refused during the handshake:
/// the server never sees a request, so never the token; the error shows the
/// fingerprint the server presented.
#[test]
fn a_wrong_fingerprint_is_refused_before_any_request() {
    let Some(s) = ApiSite::start(&Options::default(), Trusting::Nothing) else {
        return;
    };
    let wrong = "AB:".repeat(31) + "CD";
    let right = s.api.fingerprint();
    let out = s
        .site
        .phoenix()
        .args(["--fingerprint", &wrong, "status"])
        .run();
    assert_ne!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(&right) && out.stderr.contains("not the pinned"),
        "the error names the fingerprint the server showed: {}",
        out.stderr
    );
    assert!(s.api.requests().is_empty(), "{:#?}", s.api.requests());
    assert_no_secret(&s.api, "the error", &out.stderr);
    // Nor is an unknown CA trusted: the system roots do not hold the test's CA.
    let out = s
        .site
        .phoenix()
        .args(["--ca-file", "/dev/null", "build", "all"])
        .run();
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stderr.contains("no PEM certificate"), "{}", out.stderr);
    assert!(s.api.requests().is_empty());
}
