//! TLS trust: extra CA certificates from a PEM file (a private cloud's own CA), and
//! telling a refused server certificate apart from a network that is down.
//!
//! Verification itself is reqwest's (rustls with the platform verifier): the
//! certificates loaded here are added to the system's roots, never put in their place.

use super::error::SwiftError;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::Path;

/// Reads every certificate of a PEM file (a bundle may hold several), checking each
/// one now so that a bad file is one clear line at startup rather than a failed
/// client build or a refused handshake later.
pub(crate) fn load_ca_file(path: &Path) -> Result<Vec<reqwest::Certificate>, SwiftError> {
    let bad = |reason: String| SwiftError::CaFile {
        path: path.display().to_string(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let ders = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not a PEM file ({e})")))?;
    if ders.is_empty() {
        return Err(bad(
            "no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    let mut certs = Vec::with_capacity(ders.len());
    for (i, der) in ders.into_iter().enumerate() {
        // The same check the verifier makes when it builds its root store.
        rustls::RootCertStore::empty()
            .add(der.clone())
            .map_err(|e| {
                let why = match e {
                    rustls::Error::InvalidCertificate(c) => format!("{c:?}"),
                    other => other.to_string(),
                };
                bad(format!(
                    "certificate {} is not a usable CA certificate ({why})",
                    i + 1
                ))
            })?;
        certs.push(
            reqwest::Certificate::from_der(&der)
                .map_err(|e| bad(format!("certificate {}: {e}", i + 1)))?,
        );
    }
    log::debug!(
        "trusting {} CA certificate(s) from {} besides the system's",
        certs.len(),
        path.display()
    );
    Ok(certs)
}

/// The certificate problem behind a failed request, if that is what failed, worded
/// for the user with what to do about it.
pub(crate) fn certificate_problem(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(rustls::Error::InvalidCertificate(c)) = rustls_error(err) {
            return Some(describe(c));
        }
        cur = err.source();
    }
    None
}

/// The rustls error in `err`, which may sit inside `io::Error`s nested in each
/// other (as hyper-util and tokio-rustls report it): `io::Error::source()` skips
/// the error it wraps, so they are opened one by one.
fn rustls_error<'a>(mut err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    loop {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        err = err.downcast_ref::<std::io::Error>()?.get_ref()?;
    }
}

fn describe(c: &rustls::CertificateError) -> String {
    use rustls::CertificateError as C;
    const CLOCK: &str = "check the server's certificate and this machine's clock";
    match c {
        C::UnknownIssuer => "it is not signed by a trusted certificate authority (self-signed \
            or a private CA); trust that CA with --os-cacert FILE or OS_CACERT, or, on a test \
            cluster only, turn verification off with --insecure"
            .into(),
        C::NotValidForNameContext {
            expected,
            presented,
        } => {
            let names: Vec<&str> = presented.iter().map(|p| unwrap_dns_name(p)).collect();
            let names = match names.is_empty() {
                true => "no host name".to_string(),
                false => names.join(", "),
            };
            format!(
                "it is for {names}, not {:?}; use a host name the certificate is for in the \
                 URL, or have the certificate reissued",
                expected.to_str()
            )
        }
        C::NotValidForName => "it is not for this host name; use a host name the certificate \
            is for in the URL, or have the certificate reissued"
            .into(),
        C::ExpiredContext { not_after, .. } => {
            format!("it expired {}; {CLOCK}", utc(not_after.as_secs()))
        }
        C::NotValidYetContext { not_before, .. } => {
            format!(
                "it is not valid before {}; {CLOCK}",
                utc(not_before.as_secs())
            )
        }
        C::Expired | C::NotValidYet => format!("{c}; {CLOCK}"),
        other => other.to_string(),
    }
}

/// rustls shows a certificate's names as `DnsName("host")`: the host is enough.
fn unwrap_dns_name(presented: &str) -> &str {
    presented
        .strip_prefix("DnsName(\"")
        .and_then(|rest| rest.strip_suffix("\")"))
        .unwrap_or(presented)
}

fn utc(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| format!("at {secs} (UNIX time)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn certificate_problem_found_inside_nested_io_errors() {
        let refused = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        // as hyper-util reports a failed rustls handshake
        let nested = io::Error::other(io::Error::new(io::ErrorKind::InvalidData, refused));
        let why = certificate_problem(&nested).expect("found");
        assert!(
            why.contains("--os-cacert") && why.contains("--insecure"),
            "{why}"
        );

        let other_tls = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::General("handshake".into()),
        );
        assert_eq!(certificate_problem(&other_tls), None);
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(certificate_problem(&refused), None);
    }

    #[test]
    fn wording() {
        assert_eq!(unwrap_dns_name("DnsName(\"a.example\")"), "a.example");
        assert_eq!(unwrap_dns_name("IpAddress(1.2.3.4)"), "IpAddress(1.2.3.4)");
        assert_eq!(utc(978_307_200), "2001-01-01 00:00:00 UTC");
    }
}
