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
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn no_file_is_development_mode_on_localhost() {
        let c = Config::load(None, no_env).unwrap();
        assert!(c.dev_mode);
        assert_eq!(c.http_addr.to_string(), "127.0.0.1:7880");
        assert_eq!(c.udp_addr.port(), 7882);
        assert_eq!(
            (c.api_key.as_str(), c.api_secret.as_str()),
            ("devkey", "secret")
        );
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    /// Writes `text` as a config file of its own and loads it with `env`.
    fn load_file(
        name: &str,
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Config> {
        let dir = std::env::temp_dir().join(format!("moim-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        Config::load(Some(&path), env)
    }

    #[test]
    fn secret_from_env_leaves_development_mode() {
        let c = Config::load(None, |k| (k == "MOIM_API_SECRET").then(|| SECRET.into())).unwrap();
        assert!(!c.dev_mode);
        assert_eq!(c.api_secret, SECRET);
    }

    #[test]
    fn file_overrides_defaults_and_is_not_dev() {
        let text = format!(
            "http_addr = \"0.0.0.0:8080\"\nudp_addr = \"0.0.0.0:9000\"\nadvertise_ip = \"10.1.2.3\"\nworkers = 4\napi_key = \"k\"\napi_secret = \"{SECRET}\"\n"
        );
        let c = load_file("plain", &text, no_env).unwrap();
        assert!(!c.dev_mode);
        assert_eq!(c.advertised_udp().to_string(), "10.1.2.3:9000");
        assert_eq!(c.turn_listen().to_string(), "0.0.0.0:3478");
        assert_eq!(c.workers, 4);
    }

    #[test]
    fn the_ladder_comes_from_the_file_or_the_environment_and_is_checked() {
        assert_eq!(
            Config::load(None, no_env).unwrap().broadcast_rungs,
            Rung::DEFAULTS
        );
        let text = "[[broadcast_rungs]]\nname = \"low\"\nheight = 240\nvideo_kbps = 400\n";
        let c = load_file("rungs", text, |k| {
            (k == "MOIM_DEV_MODE").then(|| "1".into())
        })
        .unwrap();
        assert_eq!(c.broadcast_rungs.len(), 1);
        assert_eq!(
            (&*c.broadcast_rungs[0].name, c.broadcast_rungs[0].height),
            ("low", 240)
        );
        let from = |v: &'static str| {
            Config::load(None, move |k| {
                (k == "MOIM_BROADCAST_RUNGS").then(|| v.to_owned())
            })
        };
        let c = from("sd:480:1000, uhd:2160:16000").unwrap();
        assert_eq!(c.broadcast_rungs[1].video_kbps, 16_000);
        for (bad, said) in [
            ("sd:480", "name:height:video_kbps"),
            ("sd:tall:1000", "name:height:video_kbps"),
            ("s/d:480:1000", "letters, digits"),
            ("sd:480:1000,sd:720:2500", "listed twice"),
            ("sd:100:1000", "144 to 4320"),
            ("sd:480:10", "100 to 100000"),
        ] {
            let err = format!("{:#}", from(bad).unwrap_err());
            assert!(err.contains(said), "{bad}: {err}");
        }
    }

    #[test]
    fn a_comment_about_dev_mode_does_not_turn_it_on() {
        let text =
            format!("# dev_mode = true would mint tokens for anyone\napi_secret = \"{SECRET}\"\n");
        assert!(!load_file("comment", &text, no_env).unwrap().dev_mode);
        let text = format!("dev_mode = true\napi_secret = \"{SECRET}\"\n");
        assert!(load_file("asked", &text, no_env).unwrap().dev_mode);
    }

    #[test]
    fn a_short_secret_is_refused_outside_development_mode() {
        let err =
            Config::load(None, |k| (k == "MOIM_API_SECRET").then(|| "s3cr3t".into())).unwrap_err();
        assert!(err.to_string().contains("at least 32"), "{err}");
    }

    #[test]
    fn development_mode_stays_on_loopback_unless_exposed() {
        let on = |k: &str| (k == "MOIM_HTTP_ADDR").then(|| "0.0.0.0:7880".to_owned());
        let err = Config::load(None, on).unwrap_err();
        assert!(err.to_string().contains("expose_dev_mode"), "{err}");
        let exposed = Config::load(None, |k| match k {
            "MOIM_HTTP_ADDR" => Some("0.0.0.0:7880".into()),
            "MOIM_EXPOSE_DEV_MODE" => Some("1".into()),
            _ => None,
        })
        .unwrap();
        assert!(exposed.dev_mode_exposed());
        assert!(!Config::load(None, no_env).unwrap().dev_mode_exposed());
        let rtmp = |k: &str| (k == "MOIM_RTMP_ADDR").then(|| "0.0.0.0:1935".to_owned());
        let err = Config::load(None, rtmp).unwrap_err();
        assert!(err.to_string().contains("rtmp_addr"), "{err}");
    }

    #[test]
    fn rtmp_listens_on_loopback_port_1935_by_default() {
        let c = Config::load(None, no_env).unwrap();
        assert_eq!(c.rtmp_addr, SocketAddr::from(([127, 0, 0, 1], 1935)));
        let err = Config::load(None, |k| (k == "MOIM_RTMP_ADDR").then(|| "1935".into()));
        assert!(err.unwrap_err().to_string().contains("MOIM_RTMP_ADDR"));
    }

    #[test]
    fn turn_is_embedded_unless_external_urls_are_given() {
        let c = Config::load(None, |_| None).unwrap();
        assert!(c.embedded_turn());
        assert_eq!(c.turn_listen().to_string(), "127.0.0.1:3478");
        let external = Config::load(None, |k| match k {
            "MOIM_TURN_URLS" => Some("turn:turn.example.org:3478?transport=udp, turns:turn.example.org:443?transport=tcp".into()),
            "MOIM_TURN_SECRET" => Some("coturn static-auth-secret".into()),
            _ => None,
        })
        .unwrap();
        assert!(!external.embedded_turn());
        assert_eq!(external.turn_urls.len(), 2);
        let half_tls = Config::load(None, |k| (k == "MOIM_TLS_CERT").then(|| "cert.pem".into()));
        assert!(half_tls.unwrap_err().to_string().contains("tls_key"));
        let exposed_turn = Config::load(None, |k| {
            (k == "MOIM_TURN_ADDR").then(|| "0.0.0.0:3478".into())
        });
        assert!(exposed_turn.unwrap_err().to_string().contains("turn_addr"));
    }

    #[test]
    fn bandwidth_estimation_is_on_unless_turned_off() {
        assert!(Config::load(None, |_| None).unwrap().bandwidth_estimation);
        let off = Config::load(None, |k| {
            (k == "MOIM_BANDWIDTH_ESTIMATION").then(|| "0".into())
        });
        assert!(!off.unwrap().bandwidth_estimation);
        let file = load_file(
            "bwe",
            "bandwidth_estimation = false\ndev_mode = true\n",
            |_| None,
        );
        assert!(!file.unwrap().bandwidth_estimation);
        assert!(Config::load(None, |_| None).unwrap().audio_red);
        let red = Config::load(None, |k| (k == "MOIM_AUDIO_RED").then(|| "0".into()));
        assert!(!red.unwrap().audio_red);
    }

    #[test]
    fn frames_are_forwarded_as_shared_packets_unless_set_to_frames() {
        assert_eq!(
            Config::load(None, |_| None).unwrap().forwarding,
            Forwarding::Packets
        );
        let file = load_file("fwd", "forwarding = \"frames\"\ndev_mode = true\n", |_| {
            None
        });
        assert_eq!(file.unwrap().forwarding, Forwarding::Frames);
        let env = Config::load(None, |k| (k == "MOIM_FORWARDING").then(|| "frames".into()));
        assert_eq!(env.unwrap().forwarding, Forwarding::Frames);
        let nonsense = Config::load(None, |k| (k == "MOIM_FORWARDING").then(|| "rtp".into()));
        let error = nonsense.unwrap_err().to_string();
        assert!(error.contains("`frames` or `packets`"), "{error}");
    }

    #[test]
    fn a_certificate_makes_the_http_port_https_and_the_redirect_needs_one() {
        let plain = Config::load(None, |_| None).unwrap();
        assert!(!plain.tls());
        let with = |extra: &'static [(&'static str, &'static str)]| {
            Config::load(None, move |k| {
                let base = [
                    ("MOIM_TLS_CERT", "/etc/moim/cert.pem"),
                    ("MOIM_TLS_KEY", "/etc/moim/key.pem"),
                ];
                base.iter()
                    .chain(extra)
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| (*v).to_owned())
            })
        };
        let tls = with(&[]).unwrap();
        assert!(tls.tls());
        assert_eq!(tls.public_url(), "https://127.0.0.1:7880");
        let redirect = with(&[("MOIM_HTTP_REDIRECT_ADDR", "127.0.0.1:8080")]).unwrap();
        assert_eq!(
            redirect.http_redirect_addr,
            Some("127.0.0.1:8080".parse().unwrap())
        );
        let alone = Config::load(None, |k| {
            (k == "MOIM_HTTP_REDIRECT_ADDR").then(|| "127.0.0.1:8080".into())
        });
        let error = alone.unwrap_err().to_string();
        assert!(error.contains("needs tls_cert and tls_key"), "{error}");
    }

    #[test]
    fn cluster_settings_and_the_url_this_node_is_reached_at() {
        let alone = Config::load(None, |_| None).unwrap();
        assert_eq!(alone.redis_url, None);
        assert_eq!(alone.public_url(), "http://127.0.0.1:7880");
        let env = |k: &str| match k {
            "MOIM_REDIS_URL" => Some("redis://10.0.0.5:6379".into()),
            "MOIM_NODE_ID" => Some("eu-1".into()),
            "MOIM_REGION" => Some("eu".into()),
            "MOIM_PUBLIC_URL" => Some("https://eu-1.meet.example.org/".into()),
            _ => None,
        };
        let node = Config::load(None, env).unwrap();
        assert_eq!(node.redis_url.as_deref(), Some("redis://10.0.0.5:6379"));
        assert_eq!(
            (node.node_id.as_deref(), node.region.as_deref()),
            (Some("eu-1"), Some("eu"))
        );
        assert_eq!(node.public_url(), "https://eu-1.meet.example.org");
        for (key, value, says) in [
            (
                "MOIM_REDIS_URL",
                "10.0.0.5:6379",
                "redis_url must be a redis://",
            ),
            (
                "MOIM_PUBLIC_URL",
                "meet.example.org",
                "public_url must start with http",
            ),
            ("MOIM_NODE_ID", "eu 1", "node_id must be"),
        ] {
            let err = Config::load(None, |k| (k == key).then(|| value.into())).unwrap_err();
            assert!(format!("{err:#}").contains(says), "{err:#}");
        }
    }

    #[test]
    fn workers_from_env_and_a_clear_error_for_nonsense() {
        let c = Config::load(None, |k| (k == "MOIM_WORKERS").then(|| "3".into())).unwrap();
        assert_eq!(c.workers, 3);
        let err = Config::load(None, |k| (k == "MOIM_WORKERS").then(|| "many".into())).unwrap_err();
        assert!(err.to_string().contains("MOIM_WORKERS"));
        let err = Config::load(None, |k| (k == "MOIM_WORKERS").then(|| "1000".into())).unwrap_err();
        assert!(err.to_string().contains("at most") || err.to_string().contains("more than"));
    }

    #[test]
    fn wildcard_udp_needs_an_advertised_ip() {
        let err = Config::load(None, |k| match k {
            "MOIM_UDP_ADDR" => Some("0.0.0.0:7882".into()),
            "MOIM_API_SECRET" => Some(SECRET.into()),
            _ => None,
        })
        .unwrap_err();
        assert!(err.to_string().contains("advertise_ip"), "{err}");
    }

    #[test]
    fn dev_secret_outside_dev_mode_is_refused() {
        let err =
            Config::load(None, |k| (k == "MOIM_DEV_MODE").then(|| "false".into())).unwrap_err();
        assert!(err.to_string().contains("development secret"));
    }
}
