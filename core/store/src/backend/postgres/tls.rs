//! TLS to the database, for `sslmode=require` in `BW_DATABASE_URL` (managed services and most
//! Patroni set-ups ask for it): rustls, already in the tree for mail and HTTPS, behind
//! tokio-postgres' TLS traits. The certificate is verified, always: against the CA file the
//! settings name (`BW_DATABASE_CA`, a managed service's own CA), and the web's roots.
//!
//! Without `sslmode=require` the connection is plain, as before: with `prefer` (the driver's
//! default) a certificate nobody can verify (Debian's own snakeoil one on a local PostgreSQL)
//! would otherwise refuse connections that worked.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

/// Makes a TLS connection to each database host, verifying its certificate.
#[derive(Clone)]
pub(super) struct RustlsTls {
    config: Arc<rustls::ClientConfig>,
}

impl RustlsTls {
    /// Trusting the web's roots and the certificates of the PEM file `ca_file`.
    pub(super) fn new(ca_file: Option<&Path>) -> Result<RustlsTls, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = ca_file {
            let read = |e: &dyn std::fmt::Display| format!("BW_DATABASE_CA {}: {e}", path.display());
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| read(&e))?
                .collect::<Result<_, _>>()
                .map_err(|e| read(&e))?;
            if certs.is_empty() {
                return Err(read(&"no certificate in the file"));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| read(&e))?;
            }
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(RustlsTls { config: Arc::new(config) })
    }
}

impl<S> MakeTlsConnect<S> for RustlsTls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Tls<S>;
    type TlsConnect = Connect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, host: &str) -> io::Result<Connect> {
        let name =
            ServerName::try_from(host.to_string()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(Connect { connector: tokio_rustls::TlsConnector::from(self.config.clone()), name })
    }
}

/// One handshake, with the host's name to verify.
pub(super) struct Connect {
    connector: tokio_rustls::TlsConnector,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for Connect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Tls<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Tls<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move { Ok(Tls(self.connector.connect(self.name, stream).await?)) })
    }
}

/// The encrypted stream. No channel binding: SCRAM works without it (as with libpq's
/// `channel_binding=prefer` against a server that does not insist).
pub(super) struct Tls<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Tls<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Tls<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for Tls<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}
