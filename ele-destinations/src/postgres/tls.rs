//! TLS to PostgreSQL with libpq's semantics, on rustls: the `sslmode`s, the trusted roots (`sslrootcert`, a file
//! or `system`), client certificates (`sslcert`, `sslkey`), and the connector tokio-postgres uses.
//!
//! | sslmode     | encrypted                               | server certificate checked               |
//! |-------------|-----------------------------------------|------------------------------------------|
//! | disable     | never                                   | -                                        |
//! | allow       | only when the server demands it         | against the roots when there are any     |
//! | prefer      | when the server supports it (default)   | against the roots when there are any     |
//! | require     | always                                  | against the roots when there are any     |
//! | verify-ca   | always                                  | chain against the roots                  |
//! | verify-full | always                                  | chain and host name                      |
//!
//! "The roots" are `sslrootcert`, else `~/.postgresql/root.crt` when it exists, as in libpq; `verify-*` without
//! either is an error. `sslrootcert=system` takes the operating system's store and implies `verify-full`.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ele_core::{Error, Result};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum SslMode {
    /// Never TLS.
    Disable,
    /// Plaintext first, TLS when the server demands it.
    Allow,
    /// TLS when the server supports it, else plaintext (libpq's default).
    #[default]
    Prefer,
    /// Always TLS; the certificate is checked only when there are roots.
    Require,
    /// Always TLS; the chain is checked against the roots.
    VerifyCa,
    /// Always TLS; the chain and the host name are checked.
    VerifyFull,
}

impl SslMode {
    /// Parses a libpq `sslmode` value.
    pub(super) fn parse(value: &str) -> Result<SslMode> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(Error::config(format!(
                    "invalid sslmode `{other}`: expected disable, allow, prefer, require, verify-ca or verify-full"
                )));
            }
        })
    }

    /// The value as libpq spells it.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Where the trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RootCert {
    /// A PEM file of CA certificates.
    File(PathBuf),
    /// The operating system's store (`sslrootcert=system`).
    System,
}

/// The TLS settings of a connection string. Holds paths, never key contents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct TlsOptions {
    /// `sslmode`; `None` when not given (then `prefer`, or `verify-full` with `sslrootcert=system`).
    pub(super) mode: Option<SslMode>,
    /// `sslrootcert`.
    pub(super) rootcert: Option<RootCert>,
    /// `sslcert`.
    pub(super) cert: Option<PathBuf>,
    /// `sslkey`.
    pub(super) key: Option<PathBuf>,
}

impl TlsOptions {
    /// The effective mode: libpq's default `prefer`, `verify-full` with `sslrootcert=system`; a weaker mode with
    /// `sslrootcert=system` is an error, as in libpq.
    pub(super) fn mode(&self) -> Result<SslMode> {
        match (self.mode, &self.rootcert) {
            (None, Some(RootCert::System)) => Ok(SslMode::VerifyFull),
            (Some(mode), Some(RootCert::System)) if mode != SslMode::VerifyFull => {
                Err(Error::config(format!(
                    "sslrootcert=system needs sslmode=verify-full, not sslmode={} (a weaker mode would not check \
                     the server against the system's roots)",
                    mode.as_str()
                )))
            }
            (mode, _) => Ok(mode.unwrap_or_default()),
        }
    }

    /// Checks what can be checked without the network: the mode and that explicitly named files exist.
    pub(super) fn validate(&self) -> Result<()> {
        self.mode()?;
        for (key, path) in [
            ("sslrootcert", self.rootcert_file()),
            ("sslcert", self.cert.as_deref()),
            ("sslkey", self.key.as_deref()),
        ] {
            if let Some(path) = path
                && !path.is_file()
            {
                return Err(Error::config(format!(
                    "{key} file \"{}\" does not exist or is not a file",
                    path.display()
                )));
            }
        }
        Ok(())
    }

    fn rootcert_file(&self) -> Option<&Path> {
        match &self.rootcert {
            Some(RootCert::File(path)) => Some(path),
            _ => None,
        }
    }

    /// A short description of where the roots come from, for messages.
    pub(super) fn roots_description(&self) -> String {
        match &self.rootcert {
            Some(RootCert::File(path)) => format!("sslrootcert=\"{}\"", path.display()),
            Some(RootCert::System) => "the system's trusted roots (sslrootcert=system)".to_owned(),
            None => match default_file(ROOT_CERT_FILE) {
                Some(path) => format!("\"{}\"", path.display()),
                None => "no root certificates".to_owned(),
            },
        }
    }

    /// The rustls configuration for this mode, or `None` for `disable`.
    pub(super) fn client_config(&self) -> Result<Option<Arc<ClientConfig>>> {
        let mode = self.mode()?;
        if mode == SslMode::Disable {
            return Ok(None);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = self.roots(mode)?;
        let verifier: Arc<dyn ServerCertVerifier> = match roots {
            None => Arc::new(NoVerification(provider.signature_verification_algorithms)),
            Some(roots) => {
                let webpki =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| {
                            Error::config(format!("cannot use the root certificates: {e}"))
                        })?;
                if mode == SslMode::VerifyFull {
                    webpki
                } else {
                    Arc::new(ChainOnly(webpki))
                }
            }
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::config(format!("cannot configure TLS: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match self.client_identity()? {
            Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
                Error::config(format!("cannot use the client certificate and key: {e}"))
            })?,
            None => builder.with_no_client_auth(),
        };
        // As libpq 17+: PostgreSQL's ALPN name, which a server requires for `sslnegotiation=direct` and older
        // servers ignore.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(Some(Arc::new(config)))
    }

    /// The trusted roots: `None` when the certificate is not checked (no roots in a mode that allows it).
    fn roots(&self, mode: SslMode) -> Result<Option<RootCertStore>> {
        let verify = matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull);
        let path = match &self.rootcert {
            Some(RootCert::System) => return system_roots().map(Some),
            Some(RootCert::File(path)) => path.clone(),
            None => match default_file(ROOT_CERT_FILE) {
                Some(path) if path.is_file() => path,
                other if verify => {
                    let place = other.map_or_else(
                        || format!("~/{ROOT_CERT_FILE} (no home directory)"),
                        |p| format!("\"{}\"", p.display()),
                    );
                    return Err(Error::config(format!(
                        "root certificate file {place} does not exist; sslmode={} needs the CA that signed the \
                         server certificate: give it with sslrootcert=/path/to/ca.crt, use the system's trusted \
                         roots with sslrootcert=system, or use sslmode=require to encrypt without checking the \
                         certificate",
                        mode.as_str()
                    )));
                }
                _ => return Ok(None),
            },
        };
        let mut store = RootCertStore::empty();
        let certs = read_certs(&path, "sslrootcert")?;
        let (added, _) = store.add_parsable_certificates(certs);
        if added == 0 {
            return Err(Error::config(format!(
                "sslrootcert file \"{}\" holds no usable certificate",
                path.display()
            )));
        }
        Ok(Some(store))
    }

    /// The client certificate chain and key: `sslcert`/`sslkey`, else `~/.postgresql/postgresql.crt` and `.key`
    /// when both exist, as in libpq.
    fn client_identity(
        &self,
    ) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>> {
        let (cert, key) = match (&self.cert, &self.key) {
            (Some(cert), key) => (
                cert.clone(),
                key.clone().or_else(|| default_file(CLIENT_KEY_FILE)),
            ),
            (None, explicit_key) => match default_file(CLIENT_CERT_FILE) {
                Some(cert) if cert.is_file() => (
                    cert,
                    explicit_key
                        .clone()
                        .or_else(|| default_file(CLIENT_KEY_FILE)),
                ),
                _ => return Ok(None),
            },
        };
        let Some(key) = key.filter(|k| k.is_file()) else {
            return Err(Error::config(format!(
                "client certificate \"{}\" has no private key: give it with sslkey=/path/to/client.key",
                cert.display()
            )));
        };
        let chain = read_certs(&cert, "sslcert")?;
        if chain.is_empty() {
            return Err(Error::config(format!(
                "sslcert file \"{}\" holds no certificate",
                cert.display()
            )));
        }
        // The parser's error never holds key material; it is not shown anyway.
        let key = PrivateKeyDer::from_pem_file(&key).map_err(|_| {
            Error::config(format!(
                "sslkey file \"{}\" holds no unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1)",
                key.display()
            ))
        })?;
        Ok(Some((chain, key)))
    }
}

/// libpq's default root certificate file, under the home directory.
const ROOT_CERT_FILE: &str = ".postgresql/root.crt";
/// libpq's default client certificate.
const CLIENT_CERT_FILE: &str = ".postgresql/postgresql.crt";
/// libpq's default client key.
const CLIENT_KEY_FILE: &str = ".postgresql/postgresql.key";

fn default_file(relative: &str) -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(relative))
}

fn read_certs(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| {
            Error::config(format!(
                "cannot read {key} file \"{}\" as PEM certificates: {e}",
                path.display()
            ))
        })
}

/// The operating system's roots; Mozilla's (webpki-roots) when the system has none (minimal containers).
fn system_roots() -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _) = store.add_parsable_certificates(found.certs);
    if added == 0 {
        tracing::warn!(
            errors = ?found.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            "no trusted roots in the system store; using Mozilla's root certificates for sslrootcert=system"
        );
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    Ok(store)
}

/// `require` without roots: encrypts, checks the handshake signatures, trusts any certificate (libpq's behaviour).
#[derive(Debug)]
struct NoVerification(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// `verify-ca`: the chain is checked against the roots, the host name is not. rustls checks the name after the
/// chain, so a name error means the chain was good.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The `MakeTlsConnect` tokio-postgres uses: one rustls configuration, a connector per host.
#[derive(Clone)]
pub(super) struct MakeRustls(pub(super) Arc<ClientConfig>);

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<RustlsConnect> {
        let name = ServerName::try_from(domain.to_owned()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{domain}` is not a valid host name for TLS"),
            )
        })?;
        Ok(RustlsConnect {
            config: self.0.clone(),
            name,
        })
    }
}

/// A TLS handshake with one host.
pub(super) struct RustlsConnect {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            tokio_rustls::TlsConnector::from(self.config)
                .connect(self.name, stream)
                .await
                .map(RustlsStream)
        })
    }
}

/// A TLS connection to PostgreSQL. Offers no channel binding (SCRAM without `-PLUS`, as `channel_binding=prefer`
/// allows).
pub(super) struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

/// The rustls error behind a failed connection, when TLS is what failed.
pub(super) fn rustls_error(e: &tokio_postgres::Error) -> Option<&rustls::Error> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(io) = s.downcast_ref::<io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(r) = inner.downcast_ref::<rustls::Error>()
        {
            return Some(r);
        }
        source = s.source();
    }
    None
}
