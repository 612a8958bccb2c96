//! Server configuration: embedded development defaults, a TOML file, `MOIM_*` variables.
//!
//! Precedence, lowest first: defaults, the file given with `--config`, environment
//! variables, command-line flags. Without a file and without `MOIM_API_SECRET` the server
//! runs in development mode: localhost only, key `devkey`, secret `secret`, and the
//! meeting app may mint its own tokens. Since anyone who reaches a development server can
//! mint host tokens, it refuses to listen beyond loopback unless told so explicitly, and
//! outside development mode the secret must be long enough to resist guessing.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use moim_media::Forwarding;
use serde::Deserialize;

use crate::broadcast::ladder::Rung;

mod env;

/// The development API key.
pub const DEV_API_KEY: &str = "devkey";
/// The development API secret.
pub const DEV_API_SECRET: &str = "secret";
/// The shortest API secret allowed outside development mode, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// Everything the server needs to start.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the HTTP server (app, signaling, API, WHIP/WHEP) listens.
    pub http_addr: SocketAddr,
    /// The UDP address all media sessions share.
    pub udp_addr: SocketAddr,
    /// Where clients whose networks block UDP reach the media over ICE-TCP (a passive
    /// candidate in every session, RFC 6544), on the same IP as the UDP candidate.
    pub tcp_addr: SocketAddr,
    /// The IP put in ICE candidates when `udp_addr` is a wildcard (e.g. the public IP).
    pub advertise_ip: Option<IpAddr>,
    /// Where encoders publish live streams over RTMP (`rtmp://HOST:PORT/live/{token}`).
    pub rtmp_addr: SocketAddr,
    /// Whether this server relays media for clients that reach nothing else (embedded
    /// TURN on `turn_addr`, and on `turn_tls_addr` with a certificate). Off when
    /// `turn_urls` names an external TURN server.
    pub turn: bool,
    /// Where the embedded TURN server listens, UDP and TCP on one port (default: the IP
    /// of `udp_addr`, port 3478).
    pub turn_addr: Option<SocketAddr>,
    /// Where the embedded TURN server listens for TLS when `tls_cert` and `tls_key` are
    /// set (default: the IP of `udp_addr`, port 5349); 443 gets through the strictest
    /// firewalls.
    pub turn_tls_addr: Option<SocketAddr>,
    /// The name in `turns:` URLs, which the certificate must be for (default: the
    /// advertised IP).
    pub turn_domain: Option<String>,
    /// External TURN servers' URLs (e.g. coturn with `use-auth-secret`) handed to clients
    /// instead of the embedded server.
    pub turn_urls: Vec<String>,
    /// The secret TURN credentials are signed with: coturn's `static-auth-secret` when
    /// `turn_urls` is used (default: derived from `api_secret`).
    pub turn_secret: Option<String>,
    /// Seconds the TURN credentials handed out at a join stay valid.
    pub turn_credential_ttl: u64,
    /// PEM certificate chain for TLS: the HTTP port serves HTTPS and WSS with it, and the
    /// TURN/TLS port too. Read again when the file changes.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// With a certificate: a plain-HTTP listener (port 80, say) that sends every request on
    /// to the same path over HTTPS on the HTTP port.
    pub http_redirect_addr: Option<SocketAddr>,
    /// Media worker threads; 0 means one per core.
    pub workers: usize,
    /// Each receiving connection estimates its bandwidth and gets only the layers that fit
    /// (off: every subscriber gets what its rendered size asks for, which saves the
    /// estimator's and the pacer's work on a network known to be fast).
    pub bandwidth_estimation: bool,
    /// Sound goes with RED (RFC 2198) where the browser offers it: a lost frame comes back
    /// with the next packet, for twice the sound's bitrate.
    pub audio_red: bool,
    /// How the media workers send frames on to subscribers: `frames` (each subscriber's
    /// connection cuts them into packets) or `packets` (cut once per layer, shared).
    pub forwarding: Forwarding,
    pub api_key: String,
    pub api_secret: String,
    /// Development mode: the app mints tokens itself through `/api/dev/token`.
    pub dev_mode: bool,
    /// Lets development mode listen beyond loopback (anyone who reaches it can mint host
    /// tokens).
    pub expose_dev_mode: bool,
    /// Where server recordings are written (a folder per room and recording).
    pub recordings_dir: PathBuf,
    /// Seconds after which a recording stops by itself; 0: no limit.
    pub recording_max_duration: u64,
    /// MiB the recordings folder may hold; 0: no quota.
    pub recordings_quota_mb: u64,
    /// MiB left free on the recordings disk; below it recordings stop. 0: no check.
    pub recordings_min_free_mb: u64,
    /// Days a finished recording is kept; then its files are deleted. 0: kept until
    /// someone deletes it.
    pub recordings_retention_days: u64,
    /// MiB the recordings of the rooms one user owns may take; past it, their rooms start
    /// no recording. 0: no quota.
    pub recordings_user_quota_mb: u64,
    /// Seconds an empty room is kept (its chat, board, settings) for someone to come
    /// back; 0 drops it when the last one leaves.
    pub empty_room_timeout: u64,
    /// Seconds a broadcast waits for its source to come back before it stops by itself.
    pub broadcast_source_grace: u64,
    /// Where broadcasts keep their recent segments to be watched back once ended.
    pub broadcasts_dir: PathBuf,
    /// Seconds of a broadcast (its newest) kept to watch back; 0: none.
    pub broadcast_vod_window: u64,
    /// The quality ladder's rungs to choose from (those at or below a source's height).
    pub broadcast_rungs: Vec<Rung>,
    /// Seconds a client has to send a request's headers; then the connection is closed.
    pub header_timeout: u64,
    /// Connections one address may hold at once (0: no limit); by default none in
    /// development mode (everything comes from localhost), 256 otherwise.
    pub max_connections_per_ip: Option<usize>,
    /// Turns on cluster mode: the nodes sharing this Redis place rooms among themselves
    /// (e.g. `redis://127.0.0.1:6379`). Without it the node is alone.
    pub redis_url: Option<String>,
    /// This node's name in the cluster (default: a random one at each start).
    pub node_id: Option<String>,
    /// A label for where this node runs; new rooms go to nodes of the region of the node
    /// the client reached first, when one is alive.
    pub region: Option<String>,
    /// A participant who reaches a node other than its room's stays there: its media
    /// meets the room's over a link between the nodes (off: it is sent to the room's
    /// node with `moved`).
    pub span_rooms: bool,
    /// The URL clients reach this node at, where other nodes send them (default:
    /// `http://` and the advertised IP, or the HTTP address, and the HTTP port).
    pub public_url: Option<String>,
    /// Seconds a draining node of a cluster waits for its participants to move before it
    /// stops anyway.
    pub drain_timeout: u64,
    /// URLs (`http://` or `https://`) that receive the rooms' events, signed with the API
    /// secret (`docs/webhooks.md`).
    pub webhook_urls: Vec<String>,
    /// Seconds an event is tried again for while its receiver fails; then it is given up.
    pub webhook_retry_for: u64,
    /// Where the server keeps its own files: the embedded database (`moim.db`) when no
    /// `database_url` is set.
    pub data_dir: PathBuf,
    /// PostgreSQL (`postgres://user:password@host/db`) or MySQL/MariaDB
    /// (`mysql://user:password@host/db`) for users and rooms instead of the embedded SQLite
    /// (`sqlite://path` names another SQLite file).
    pub database_url: Option<String>,
    /// Who may make an account: `open` (anyone who reaches the server), `invite` (whom an
    /// admin invites) or `off` (only admins add users).
    pub signup: Signup,
    /// Days a sign-in lasts before the user signs in again.
    pub session_days: u64,
    /// The organisation's OpenID Connect provider (its issuer URL, where
    /// `/.well-known/openid-configuration` is found): people sign in there.
    pub oidc_issuer: Option<String>,
    /// This server's client id at the provider.
    pub oidc_client_id: Option<String>,
    /// This server's client secret at the provider.
    pub oidc_client_secret: Option<String>,
    /// The provider's name on the sign-in button ("Sign in with …").
    pub oidc_name: String,
}

/// Who may make an account on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Signup {
    /// Anyone who reaches the server.
    Open,
    /// Whoever holds an admin's invitation.
    Invite,
    /// Nobody: admins add users.
    Off,
}

impl std::str::FromStr for Signup {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Signup> {
        match s {
            "open" => Ok(Signup::Open),
            "invite" => Ok(Signup::Invite),
            "off" => Ok(Signup::Off),
            _ => bail!("signup must be `open`, `invite` or `off`, not {s:?}"),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 7880)),
            udp_addr: SocketAddr::from(([127, 0, 0, 1], 7882)),
            tcp_addr: SocketAddr::from(([127, 0, 0, 1], 7881)),
            advertise_ip: None,
            rtmp_addr: SocketAddr::from(([127, 0, 0, 1], 1935)),
            turn: true,
            turn_addr: None,
            turn_tls_addr: None,
            turn_domain: None,
            turn_urls: Vec::new(),
            turn_secret: None,
            turn_credential_ttl: 24 * 3600,
            tls_cert: None,
            tls_key: None,
            http_redirect_addr: None,
            workers: 0,
            bandwidth_estimation: true,
            audio_red: true,
            forwarding: Forwarding::default(),
            api_key: DEV_API_KEY.into(),
            api_secret: DEV_API_SECRET.into(),
            dev_mode: true,
            expose_dev_mode: false,
            recordings_dir: PathBuf::from("recordings"),
            recording_max_duration: 6 * 3600,
            recordings_quota_mb: 0,
            recordings_min_free_mb: 512,
            recordings_retention_days: 0,
            recordings_user_quota_mb: 0,
            empty_room_timeout: 20,
            broadcast_source_grace: 60,
            broadcasts_dir: PathBuf::from("broadcasts"),
            broadcast_vod_window: 3600,
            broadcast_rungs: Rung::DEFAULTS.to_vec(),
            header_timeout: 10,
            max_connections_per_ip: None,
            redis_url: None,
            node_id: None,
            region: None,
            span_rooms: true,
            public_url: None,
            drain_timeout: 30,
            webhook_urls: Vec::new(),
            webhook_retry_for: 300,
            data_dir: PathBuf::from("data"),
            database_url: None,
            signup: Signup::Invite,
            session_days: 14,
            oidc_issuer: None,
            oidc_client_id: None,
            oidc_client_secret: None,
            oidc_name: "your organisation".into(),
        }
    }
}

impl Config {
    /// Reads the optional file, then applies `MOIM_*` variables from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Config> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                let invalid = || format!("config file {} is not valid", path.display());
                let mut config: Config = toml::from_str(&text).with_context(invalid)?;
                // A config file means production unless it asks for development mode.
                let table: toml::Table = text.parse().with_context(invalid)?;
                if !table.contains_key("dev_mode") {
                    config.dev_mode = false;
                }
                config
            }
            None => Config::default(),
        };
        env::apply(&mut config, env)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        let max_workers = moim_media::relay::WorkerId::MAX;
        if self.workers > max_workers {
            bail!(
                "workers = {} is more than the {max_workers} media workers Moim runs; use 0 for one per core",
                self.workers
            );
        }
        if self.header_timeout == 0 {
            bail!("header_timeout must be at least 1 second");
        }
        check_rungs(&self.broadcast_rungs)?;
        for url in &self.webhook_urls {
            crate::outbound::split_url(url)
                .map_err(|e| anyhow::anyhow!("webhook URL {url:?}: {e}"))?;
        }
        if let Some(url) = &self.database_url {
            crate::store::Dialect::of(url).map_err(anyhow::Error::msg)?;
        }
        if let Some(issuer) = &self.oidc_issuer {
            crate::outbound::split_url(issuer)
                .map_err(|e| anyhow::anyhow!("oidc_issuer {issuer:?}: {e}"))?;
            if self.oidc_client_id.is_none() || self.oidc_client_secret.is_none() {
                bail!("oidc_issuer needs oidc_client_id and oidc_client_secret too");
            }
        }
        if self.session_days == 0 {
            bail!("session_days must be at least 1");
        }
        if self.api_key.is_empty() || self.api_secret.is_empty() {
            bail!("api_key and api_secret must not be empty");
        }
        if !self.dev_mode && self.api_secret == DEV_API_SECRET {
            bail!(
                "the development secret \"{DEV_API_SECRET}\" is only allowed in development mode; \
                 set api_secret in the config file or MOIM_API_SECRET"
            );
        }
        if !self.dev_mode && self.api_secret.len() < MIN_SECRET_BYTES {
            bail!(
                "api_secret is {} bytes; outside development mode it must be at least \
                 {MIN_SECRET_BYTES} (it signs every access token). Generate one with \
                 `openssl rand -hex 32`",
                self.api_secret.len()
            );
        }
        if let Some(url) = &self.redis_url
            && ![
                "redis://",
                "rediss://",
                "redis+cluster://",
                "rediss+cluster://",
                "redis+sentinel://",
                "rediss+sentinel://",
                "redis+unix://",
                "unix://",
            ]
            .iter()
            .any(|scheme| url.starts_with(scheme))
        {
            bail!(
                "redis_url must be a redis://HOST:PORT URL (or rediss:// for TLS, \
                 redis+cluster://HOST:PORT,…, redis+sentinel://HOST:PORT,…/SERVICE, \
                 unix://PATH), not \"{url}\""
            );
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            bail!("public_url must start with http:// or https://, not \"{url}\"");
        }
        if let Some(id) = &self.node_id
            && (id.is_empty()
                || id.len() > 64
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            bail!("node_id must be 1 to 64 letters, digits, '-' or '_', not \"{id}\"");
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            bail!("tls_cert and tls_key go together: set both (PEM files) or neither");
        }
        if self.http_redirect_addr.is_some() && !self.tls() {
            bail!(
                "http_redirect_addr sends visitors on to HTTPS, which needs tls_cert and tls_key"
            );
        }
        if self.dev_mode && !self.expose_dev_mode {
            for (name, addr) in self.listeners() {
                if !addr.ip().is_loopback() {
                    bail!(
                        "{name} {addr} is not a loopback address, and in development mode anyone \
                         who reaches the server can mint host tokens. Set api_secret (or \
                         MOIM_API_SECRET) to leave development mode, or expose_dev_mode = true \
                         (MOIM_EXPOSE_DEV_MODE=1) to run development mode on the network anyway"
                    );
                }
            }
        }
        if self.udp_addr.ip().is_unspecified() && self.advertise_ip.is_none() {
            bail!(
                "udp_addr {} listens on all interfaces; set advertise_ip (or MOIM_ADVERTISE_IP) \
                 to the address browsers reach this server at",
                self.udp_addr
            );
        }
        Ok(())
    }

    /// Connections one address may hold (0: no limit).
    pub fn connections_per_address(&self) -> usize {
        self.max_connections_per_ip
            .unwrap_or(if self.dev_mode { 0 } else { 256 })
    }

    /// The URL clients reach this node at: `public_url`, or one made of the advertised IP
    /// (else the HTTP address's) and the HTTP port, `https://` with a certificate.
    pub fn public_url(&self) -> String {
        if let Some(url) = &self.public_url {
            return url.trim_end_matches('/').to_owned();
        }
        let ip = match self.advertise_ip {
            Some(ip) if self.http_addr.ip().is_unspecified() => ip,
            _ => self.http_addr.ip(),
        };
        let scheme = if self.tls() { "https" } else { "http" };
        format!("{scheme}://{}", SocketAddr::new(ip, self.http_addr.port()))
    }

    /// Whether the HTTP port serves HTTPS (a certificate is configured).
    pub fn tls(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }

    /// Whether the embedded TURN server runs.
    pub fn embedded_turn(&self) -> bool {
        self.turn && self.turn_urls.is_empty()
    }

    /// Every address the server listens on, by setting name.
    fn listeners(&self) -> Vec<(&'static str, SocketAddr)> {
        let mut all = vec![
            ("http_addr", self.http_addr),
            ("udp_addr", self.udp_addr),
            ("tcp_addr", self.tcp_addr),
            ("rtmp_addr", self.rtmp_addr),
        ];
        if let Some(addr) = self.http_redirect_addr {
            all.push(("http_redirect_addr", addr));
        }
        if self.embedded_turn() {
            all.push(("turn_addr", self.turn_listen()));
            if self.tls_cert.is_some() {
                all.push(("turn_tls_addr", self.turn_tls_listen()));
            }
        }
        all
    }

    /// Where the embedded TURN server listens for UDP and TCP.
    pub fn turn_listen(&self) -> SocketAddr {
        self.turn_addr
            .unwrap_or(SocketAddr::new(self.udp_addr.ip(), 3478))
    }

    /// Where the embedded TURN server listens for TLS.
    pub fn turn_tls_listen(&self) -> SocketAddr {
        self.turn_tls_addr
            .unwrap_or(SocketAddr::new(self.udp_addr.ip(), 5349))
    }

    /// Development mode listening beyond loopback, as asked for with `expose_dev_mode`.
    pub fn dev_mode_exposed(&self) -> bool {
        self.dev_mode && !self.listeners().iter().all(|(_, a)| a.ip().is_loopback())
    }

    /// The address put in ICE candidates.
    pub fn advertised_udp(&self) -> SocketAddr {
        SocketAddr::new(
            self.advertise_ip.unwrap_or(self.udp_addr.ip()),
            self.udp_addr.port(),
        )
    }
}

fn is_yes(v: &str) -> bool {
    matches!(v, "1" | "true" | "yes")
}

/// Rungs written `name:height:video_kbps`, comma-separated.
fn parse_rungs(text: &str) -> anyhow::Result<Vec<Rung>> {
    text.split(',')
        .map(|rung| {
            let parts: Vec<&str> = rung.trim().split(':').collect();
            let [name, height, kbps] = parts[..] else {
                bail!("\"{rung}\" is not name:height:video_kbps");
            };
            Ok(Rung {
                name: Cow::Owned(name.to_owned()),
                height: height.parse().context("a rung's height is a number")?,
                video_kbps: kbps.parse().context("a rung's bit rate is a number")?,
            })
        })
        .collect()
}

/// A ladder is 1 to 8 rungs with distinct names that fit in a URL path (letters, digits,
/// `-` and `_`), heights from 144 to 4320 and rates from 100 kbit/s to 100 Mbit/s.
fn check_rungs(rungs: &[Rung]) -> anyhow::Result<()> {
    if !(1..=8).contains(&rungs.len()) {
        bail!("broadcast_rungs must list 1 to 8 rungs");
    }
    for (i, rung) in rungs.iter().enumerate() {
        let name = &rung.name;
        let fits = (1..=16).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !fits {
            bail!(
                "broadcast rung \"{name}\": a name is 1 to 16 letters, digits, '-' or '_' \
                 (it is a folder in the HLS URLs)"
            );
        }
        if rungs[..i].iter().any(|r| r.name == rung.name) {
            bail!("broadcast rung \"{name}\" is listed twice");
        }
        if !(144..=4320).contains(&rung.height) {
            bail!("broadcast rung \"{name}\": the height is 144 to 4320 pixels");
        }
        if !(100..=100_000).contains(&rung.video_kbps) {
            bail!("broadcast rung \"{name}\": the video bit rate is 100 to 100000 kbit/s");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
