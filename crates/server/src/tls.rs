//! TLS certificates: a PEM chain and key that the HTTP port and the TURN/TLS port serve
//! with, read again when the files change, so that a renewed certificate (certbot and the
//! like replace the files) is served without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tracing::{info, warn};

/// How often the files are looked at for a change.
pub const RELOAD_CHECK: Duration = Duration::from_secs(5);

/// The certificate served, and the files it is read from.
#[derive(Debug)]
pub struct Certificate {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Served>,
}

#[derive(Debug)]
struct Served {
    key: Arc<CertifiedKey>,
    /// The files' modification times when they were read.
    stamp: (Option<SystemTime>, Option<SystemTime>),
}

impl Certificate {
    /// Reads `cert` (PEM chain) and `key` (PEM private key of its first certificate).
    pub fn load(cert: &Path, key: &Path) -> anyhow::Result<Arc<Certificate>> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let served = read(cert, key, &provider)?;
        Ok(Arc::new(Certificate {
            cert: cert.to_owned(),
            key: key.to_owned(),
            provider,
            current: RwLock::new(served),
        }))
    }

    /// A server configuration that serves the current certificate, offering `alpn`.
    pub fn server_config(
        self: &Arc<Self>,
        alpn: &[&[u8]],
    ) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }

    /// Reads the files again if either changed since they were read. True when a new
    /// certificate is served; a pair that does not read (a renewal half written) leaves the
    /// old one served and is tried again at the next change.
    pub fn reload_if_changed(&self) -> anyhow::Result<bool> {
        let stamp = stamps(&self.cert, &self.key);
        if stamp == self.served().stamp {
            return Ok(false);
        }
        let read = read(&self.cert, &self.key, &self.provider);
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        current.stamp = stamp;
        current.key = read?.key;
        Ok(true)
    }

    /// Looks at the files every [`RELOAD_CHECK`] for as long as the server runs.
    pub fn watch(self: Arc<Self>) {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(RELOAD_CHECK);
            every.tick().await;
            loop {
                every.tick().await;
                match self.reload_if_changed() {
                    Ok(true) => info!(cert = %self.cert.display(), "TLS certificate read again"),
                    Ok(false) => {}
                    Err(e) => warn!("{e:#}; still serving the certificate read before"),
                }
            }
        });
    }

    fn served(&self) -> std::sync::RwLockReadGuard<'_, Served> {
        self.current.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.served().key.clone())
    }
}

fn stamps(cert: &Path, key: &Path) -> (Option<SystemTime>, Option<SystemTime>) {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    (modified(cert), modified(key))
}

fn read(cert: &Path, key: &Path, provider: &CryptoProvider) -> anyhow::Result<Served> {
    let stamp = stamps(cert, key);
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("tls_cert {} is not a PEM certificate chain", cert.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "tls_cert {} holds no certificate",
        cert.display()
    );
    let der = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("tls_key {} is not a PEM private key", key.display()))?;
    let key = CertifiedKey::from_der(chain, der, provider)
        .context("tls_cert and tls_key do not make a certificate rustls can serve")?;
    Ok(Served {
        key: Arc::new(key),
        stamp,
    })
}
