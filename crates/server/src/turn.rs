//! TURN for participants: starts the embedded TURN server (or takes an external one's
//! URLs from the config) and hands each participant time-limited credentials, in `joined`
//! and in WHIP/WHEP answers' `Link` headers (RFC 9725 §4.6).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hmac::{Hmac, Mac};
use moim_proto::signal::IceServer;
use moim_turn::{Peer, TurnConfig, TurnSecret, TurnService};
use sha2::Sha256;

use crate::config::Config;
use crate::state::unix_now;
use crate::tls::Certificate;

/// Allocations the embedded server holds at once.
pub const MAX_TURN_ALLOCATIONS: usize = 4096;
/// TCP and TLS connections the embedded server holds at once.
pub const MAX_TURN_CONNECTIONS: usize = 4096;

/// The TURN servers handed to participants and how their credentials are minted.
#[derive(Debug)]
pub struct IceServers {
    urls: Vec<String>,
    secret: TurnSecret,
    ttl: Duration,
    /// The embedded server, when it runs.
    pub service: Option<TurnService>,
}

impl IceServers {
    /// Starts the embedded TURN server as configured (relaying only to the media socket,
    /// `media` as bound and `advertised` as in candidates), or uses the configured
    /// external URLs.
    pub async fn start(
        config: &Config,
        certificate: Option<&Arc<Certificate>>,
        media: SocketAddr,
        advertised: SocketAddr,
    ) -> anyhow::Result<IceServers> {
        let mut servers = IceServers::external(config);
        if !config.embedded_turn() {
            return Ok(servers);
        }
        let tls = match certificate {
            Some(certificate) => Some((config.turn_tls_listen(), certificate.server_config(&[])?)),
            None => None,
        };
        let local_media = if media.ip().is_unspecified() {
            SocketAddr::new(loopback_like(media.ip()), media.port())
        } else {
            media
        };
        let advertise_ip = config.advertise_ip.unwrap_or(config.udp_addr.ip());
        let service = TurnService::start(TurnConfig {
            listen: config.turn_listen(),
            tls,
            relay_ip: media.ip(),
            advertise_ip,
            peers: vec![Peer {
                advertised,
                local: local_media,
            }],
            secret: servers.secret.clone(),
            max_allocations: MAX_TURN_ALLOCATIONS,
            max_connections: MAX_TURN_CONNECTIONS,
        })
        .await
        .with_context(|| {
            format!(
                "cannot listen for TURN on {} (UDP and TCP) or {} (TLS)",
                config.turn_listen(),
                config.turn_tls_listen()
            )
        })?;
        let host = |addr: SocketAddr| {
            let ip = if addr.ip().is_unspecified() {
                advertise_ip
            } else {
                addr.ip()
            };
            SocketAddr::new(ip, addr.port())
        };
        let plain = host(service.listen_addr());
        let mut urls = vec![
            format!("turn:{plain}?transport=udp"),
            format!("turn:{plain}?transport=tcp"),
        ];
        if let Some(tls) = service.tls_addr() {
            let tls = host(tls);
            urls.push(match &config.turn_domain {
                Some(domain) => format!("turns:{domain}:{}?transport=tcp", tls.port()),
                None => format!("turns:{tls}?transport=tcp"),
            });
        }
        servers.urls = urls;
        servers.service = Some(service);
        Ok(servers)
    }

    /// The external TURN servers the config names (none when `turn` is off or the
    /// embedded server is used).
    pub fn external(config: &Config) -> IceServers {
        let secret = TurnSecret::new(match &config.turn_secret {
            Some(s) => s.as_bytes().to_vec(),
            None => derived_secret(&config.api_secret),
        });
        IceServers {
            urls: if config.turn {
                config.turn_urls.clone()
            } else {
                Vec::new()
            },
            secret,
            ttl: Duration::from_secs(config.turn_credential_ttl),
            service: None,
        }
    }

    /// The TURN servers for `identity`, with credentials valid for the configured time.
    pub fn for_identity(&self, identity: &str) -> Vec<IceServer> {
        if self.urls.is_empty() {
            return Vec::new();
        }
        let credentials = self.secret.mint(identity, unix_now() + self.ttl.as_secs());
        vec![IceServer {
            urls: self.urls.clone(),
            username: credentials.username,
            credential: credentials.credential,
        }]
    }

    /// `Link` header values announcing the TURN servers to a WHIP or WHEP client.
    pub fn link_headers(&self, identity: &str) -> Vec<String> {
        self.for_identity(identity)
            .into_iter()
            .flat_map(|server| {
                server.urls.into_iter().map(move |url| {
                    format!(
                        "<{url}>; rel=\"ice-server\"; username=\"{}\"; credential=\"{}\"; credential-type=\"password\"",
                        server.username, server.credential
                    )
                })
            })
            .collect()
    }
}

/// The TURN secret when none is configured: the API secret's HMAC, so every node sharing
/// the API secret accepts the others' credentials.
fn derived_secret(api_secret: &str) -> Vec<u8> {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(api_secret.as_bytes()).expect("any key length");
    mac.update(b"moim turn credentials");
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .into_bytes()
}

fn loopback_like(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::from([127, 0, 0, 1]),
        IpAddr::V6(_) => IpAddr::from([0, 0, 0, 0, 0, 0, 0, 1]),
    }
}
