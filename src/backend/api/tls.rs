//! Whom the API backend trusts: the system's roots, a CA file (a Proxmox cluster's
//! own `pve-root-ca.pem`), or one pinned certificate by its SHA-256 fingerprint, as
//! the Proxmox GUI shows it (Datacenter → node → Certificates: `AB:CD:…`). There is
//! no "accept any certificate": the token goes only to a server proven this way.
//!
//! A pinned fingerprint is checked during the TLS handshake, before a single byte
//! of HTTP (so before the `Authorization` header) is sent: a mismatch ends the
//! connection with the fingerprint the server showed, and the request never
//! leaves. Pinning trusts that exact certificate and nothing else, so its host
//! name and expiry are not checked (the certificate Proxmox generates for a node,
//! `pve-ssl.pem`, names the node, not the address the client may use); its
//! signature over the handshake still is.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// What the client trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The system's CA certificates (`/etc/ssl/certs`).
    System,
    /// The CA certificates in this PEM file.
    CaFile(PathBuf),
    /// Exactly the certificate with this SHA-256 fingerprint (32 bytes).
    Fingerprint([u8; 32]),
}

/// A fingerprint as people write it: 64 hex digits, in pairs separated by `:`
/// (the GUI's form) or not, any case.
pub fn parse_fingerprint(text: &str) -> Result<[u8; 32], String> {
    let hex: String = text
        .trim()
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    let bad = || {
        format!(
            "`{text}` is not a SHA-256 fingerprint: give the 64 hex digits the Proxmox GUI shows \
             (node → System → Certificates → pve-ssl.pem), e.g. `AB:CD:...`"
        )
    };
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// A fingerprint in the GUI's form: upper-case pairs joined by `:`.
pub fn show_fingerprint(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// The TLS configuration for `trust`.
pub fn client_config(trust: &Trust) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let config = match trust {
        Trust::System => builder
            .with_root_certificates(system_roots()?)
            .with_no_client_auth(),
        Trust::CaFile(path) => builder
            .with_root_certificates(ca_file(path)?)
            .with_no_client_auth(),
        Trust::Fingerprint(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned {
                pin: *pin,
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

fn system_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(
            "no CA certificates found on this system (install `ca-certificates`), \
             or pass --ca-file with the cluster's pve-root-ca.pem, or --fingerprint"
                .into(),
        );
    }
    Ok(roots)
}

fn ca_file(path: &Path) -> Result<RootCertStore, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect)
        .map_err(|e| format!("--ca-file {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "--ca-file {}: no PEM certificate in it (a Proxmox cluster's CA is /etc/pve/pve-root-ca.pem)",
            path.display()
        ));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| format!("--ca-file {}: {e}", path.display()))?;
    }
    Ok(roots)
}

/// Accepts exactly the pinned certificate.
#[derive(Debug)]
struct Pinned {
    pin: [u8; 32],
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen = sha256(end_entity.as_ref());
        if seen == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the server's certificate has the fingerprint {}, not the pinned {}",
                show_fingerprint(&seen),
                show_fingerprint(&self.pin)
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_is_read_in_the_gui_form_or_bare() {
        let gui = "AB:".repeat(31) + "CD";
        let bytes = parse_fingerprint(&gui).unwrap();
        assert_eq!(bytes[0], 0xab);
        assert_eq!(bytes[31], 0xcd);
        assert_eq!(
            parse_fingerprint(&gui.replace(':', "").to_lowercase()),
            Ok(bytes)
        );
        assert_eq!(show_fingerprint(&bytes), gui);
        for bad in ["", "AB:CD", &"ZZ".repeat(32), &"AB".repeat(33)] {
            let err = parse_fingerprint(bad).unwrap_err();
            assert!(err.contains("not a SHA-256 fingerprint"), "{err}");
        }
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("ca.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = client_config(&Trust::CaFile(empty)).unwrap_err();
        assert!(
            err.contains("ca.pem") && err.contains("no PEM certificate"),
            "{err}"
        );
        let err = client_config(&Trust::CaFile(dir.path().join("missing.pem"))).unwrap_err();
        assert!(err.contains("missing.pem"), "{err}");
    }
}
