//! The stand-in's TLS: a certificate authority and the server's certificate,
//! made per server with `openssl` (no key is ever committed).

use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const OPENSSL_CNF: &str = "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = stand-in\n\
    [ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n\
    subjectKeyIdentifier = hash\n\
    [leaf]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\n\
    extendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1,DNS:localhost,DNS:pve1\n\
    authorityKeyIdentifier = keyid\nsubjectKeyIdentifier = hash\n";

/// A CA (`ca.pem`) and the server's certificate signed by it (`cert.pem`,
/// `key.pem`), made now: no key is ever committed.
pub(super) fn certificates(dir: &Path) {
    std::fs::write(dir.join("openssl.cnf"), OPENSSL_CNF).unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(Command::new("openssl")
        .current_dir(dir)
        .args([
            "req",
            "-x509",
            "-config",
            "openssl.cnf",
            "-extensions",
            "ca",
        ])
        .args(ec)
        .args(["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"])
        .args(["-subj", "/CN=stand-in Proxmox root CA"]));
    run(Command::new("openssl")
        .current_dir(dir)
        .args(["req", "-new", "-config", "openssl.cnf"])
        .args(ec)
        .args([
            "-keyout", "key.pem", "-out", "cert.csr", "-subj", "/CN=pve1",
        ]));
    run(Command::new("openssl").current_dir(dir).args([
        "x509",
        "-req",
        "-in",
        "cert.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-set_serial",
        "1",
        "-days",
        "2",
        "-extfile",
        "openssl.cnf",
        "-extensions",
        "leaf",
        "-out",
        "cert.pem",
    ]));
}
