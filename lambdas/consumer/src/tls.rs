//! TLS to PostgreSQL with rustls and the ring provider, with libpq's meaning of `DB_SSLMODE`.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::SslMode;
use crate::store::DbCause;

/// The Amazon RDS certificate authorities (every region's roots), trusted for `verify-full`
/// unless `DB_SSL_ROOT_CERT` says otherwise. Source and date: the header of the file.
pub const RDS_CA_BUNDLE: &[u8] = include_bytes!("../certs/rds-global-bundle.pem");

/// The `DB_SSL_ROOT_CERT` value that selects the system's root certificates.
pub const SYSTEM_ROOTS: &str = "system";

/// Whether `error` (or a cause of it) is a TLS certificate that did not verify: a configuration
/// problem (wrong CA bundle, wrong host name), never fixed by trying again.
pub(crate) fn is_certificate_error(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return matches!(
                r,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            );
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                if is_certificate_error(inner) {
                    return true;
                }
            }
        }
        current = e.source();
    }
    false
}

/// Builds the connector for `mode`. For `disable` it is never used (the connection does not ask
/// for TLS) but the pool's type stays the same.
pub(crate) fn connector(
    mode: SslMode,
    root_cert: Option<&Path>,
) -> Result<MakeRustlsConnect, DbCause> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| DbCause::new(format!("TLS setup failed: {e}"), e))?;
    let config = match mode {
        SslMode::Disable | SslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth(),
        SslMode::VerifyFull => builder
            .with_root_certificates(roots(root_cert)?)
            .with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

fn add_pem(roots: &mut RootCertStore, pem: &[u8], what: &str) -> Result<(), DbCause> {
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert =
            cert.map_err(|e| DbCause::new(format!("DB_SSL_ROOT_CERT: {what} is not PEM: {e}"), e))?;
        roots.add(cert).map_err(|e| {
            DbCause::new(
                format!("DB_SSL_ROOT_CERT: bad certificate in {what}: {e}"),
                e,
            )
        })?;
    }
    if roots.is_empty() {
        return Err(DbCause::text(format!(
            "DB_SSL_ROOT_CERT: no certificate in {what}"
        )));
    }
    Ok(())
}

fn roots(root_cert: Option<&Path>) -> Result<RootCertStore, DbCause> {
    let mut roots = RootCertStore::empty();
    match root_cert {
        Some(path) if path.as_os_str() == SYSTEM_ROOTS => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(DbCause::text(
                    "DB_SSL_ROOT_CERT=system: no system root certificates found",
                ));
            }
        }
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                DbCause::new(
                    format!("DB_SSL_ROOT_CERT: cannot read {}: {e}", path.display()),
                    e,
                )
            })?;
            add_pem(&mut roots, &pem, &path.display().to_string())?;
        }
        None => add_pem(
            &mut roots,
            RDS_CA_BUNDLE,
            "the built-in Amazon RDS CA bundle",
        )?,
    }
    Ok(roots)
}

/// libpq's `sslmode=require`: the connection is encrypted and the handshake signatures are
/// checked, but the server's certificate is not verified.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rds_bundle_parses() {
        let roots = roots(None).unwrap();
        assert!(roots.len() >= 80, "{}", roots.len());
    }
}

#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
