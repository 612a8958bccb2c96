//! The `MOIM_*` environment variables: each overrides the setting of its name (the
//! variable's name is the setting's, upper-cased, after `MOIM_`).

use std::path::PathBuf;

use anyhow::Context;
use moim_media::Forwarding;

use super::{Config, is_yes, parse_rungs};

/// Applies the variables `env` has to `config`.
pub(super) fn apply(
    config: &mut Config,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<()> {
    if let Some(v) = env("MOIM_HTTP_ADDR") {
        config.http_addr = v.parse().context("MOIM_HTTP_ADDR must be IP:PORT")?;
    }
    if let Some(v) = env("MOIM_UDP_ADDR") {
        config.udp_addr = v.parse().context("MOIM_UDP_ADDR must be IP:PORT")?;
    }
    if let Some(v) = env("MOIM_TCP_ADDR") {
        config.tcp_addr = v.parse().context("MOIM_TCP_ADDR must be IP:PORT")?;
    }
    if let Some(v) = env("MOIM_RTMP_ADDR") {
        config.rtmp_addr = v.parse().context("MOIM_RTMP_ADDR must be IP:PORT")?;
    }
    if let Some(v) = env("MOIM_TURN") {
        config.turn = is_yes(&v);
    }
    if let Some(v) = env("MOIM_TURN_ADDR") {
        config.turn_addr = Some(v.parse().context("MOIM_TURN_ADDR must be IP:PORT")?);
    }
    if let Some(v) = env("MOIM_TURN_TLS_ADDR") {
        config.turn_tls_addr = Some(v.parse().context("MOIM_TURN_TLS_ADDR must be IP:PORT")?);
    }
    if let Some(v) = env("MOIM_TURN_DOMAIN") {
        config.turn_domain = Some(v);
    }
    if let Some(v) = env("MOIM_TURN_URLS") {
        config.turn_urls = comma_separated(&v);
    }
    if let Some(v) = env("MOIM_TURN_SECRET") {
        config.turn_secret = Some(v);
    }
    if let Some(v) = env("MOIM_TURN_CREDENTIAL_TTL") {
        config.turn_credential_ttl = v
            .parse()
            .context("MOIM_TURN_CREDENTIAL_TTL must be a number of seconds")?;
    }
    if let Some(v) = env("MOIM_TLS_CERT") {
        config.tls_cert = Some(PathBuf::from(v));
    }
    if let Some(v) = env("MOIM_TLS_KEY") {
        config.tls_key = Some(PathBuf::from(v));
    }
    if let Some(v) = env("MOIM_HTTP_REDIRECT_ADDR") {
        config.http_redirect_addr = Some(
            v.parse()
                .context("MOIM_HTTP_REDIRECT_ADDR must be IP:PORT")?,
        );
    }
    if let Some(v) = env("MOIM_ADVERTISE_IP") {
        config.advertise_ip = Some(v.parse().context("MOIM_ADVERTISE_IP must be an IP")?);
    }
    if let Some(v) = env("MOIM_WORKERS") {
        config.workers = v
            .parse()
            .context("MOIM_WORKERS must be a number of threads (0: one per core)")?;
    }
    if let Some(v) = env("MOIM_API_KEY") {
        config.api_key = v;
    }
    if let Some(v) = env("MOIM_API_SECRET") {
        config.api_secret = v;
        config.dev_mode = false;
    }
    if let Some(v) = env("MOIM_RECORDINGS_DIR") {
        config.recordings_dir = PathBuf::from(v);
    }
    if let Some(v) = env("MOIM_RECORDING_MAX_DURATION") {
        config.recording_max_duration = v
            .parse()
            .context("MOIM_RECORDING_MAX_DURATION must be a number of seconds (0: no limit)")?;
    }
    if let Some(v) = env("MOIM_RECORDINGS_QUOTA_MB") {
        config.recordings_quota_mb = v
            .parse()
            .context("MOIM_RECORDINGS_QUOTA_MB must be a number of MiB (0: no quota)")?;
    }
    if let Some(v) = env("MOIM_RECORDINGS_MIN_FREE_MB") {
        config.recordings_min_free_mb = v
            .parse()
            .context("MOIM_RECORDINGS_MIN_FREE_MB must be a number of MiB (0: no check)")?;
    }
    if let Some(v) = env("MOIM_EMPTY_ROOM_TIMEOUT") {
        config.empty_room_timeout = v
            .parse()
            .context("MOIM_EMPTY_ROOM_TIMEOUT must be a number of seconds")?;
    }
    if let Some(v) = env("MOIM_BROADCAST_SOURCE_GRACE") {
        config.broadcast_source_grace = v
            .parse()
            .context("MOIM_BROADCAST_SOURCE_GRACE must be a number of seconds")?;
    }
    if let Some(v) = env("MOIM_BROADCASTS_DIR") {
        config.broadcasts_dir = PathBuf::from(v);
    }
    if let Some(v) = env("MOIM_BROADCAST_VOD_WINDOW") {
        config.broadcast_vod_window = v
            .parse()
            .context("MOIM_BROADCAST_VOD_WINDOW must be a number of seconds (0: none)")?;
    }
    if let Some(v) = env("MOIM_BROADCAST_RUNGS") {
        config.broadcast_rungs = parse_rungs(&v).context(
            "MOIM_BROADCAST_RUNGS must list name:height:video_kbps, comma-separated \
             (e.g. sd:480:1000,hd:720:2500)",
        )?;
    }
    if let Some(v) = env("MOIM_WEBHOOK_URLS") {
        config.webhook_urls = comma_separated(&v);
    }
    if let Some(v) = env("MOIM_WEBHOOK_RETRY_FOR") {
        config.webhook_retry_for = v
            .parse()
            .context("MOIM_WEBHOOK_RETRY_FOR must be a number of seconds")?;
    }
    if let Some(v) = env("MOIM_RECORDINGS_RETENTION_DAYS") {
        config.recordings_retention_days = v
            .parse()
            .context("MOIM_RECORDINGS_RETENTION_DAYS must be a number of days")?;
    }
    if let Some(v) = env("MOIM_RECORDINGS_USER_QUOTA_MB") {
        config.recordings_user_quota_mb = v
            .parse()
            .context("MOIM_RECORDINGS_USER_QUOTA_MB must be a number of MiB")?;
    }
    if let Some(v) = env("MOIM_DATA_DIR") {
        config.data_dir = PathBuf::from(v);
    }
    if let Some(v) = env("MOIM_DATABASE_URL") {
        config.database_url = Some(v);
    }
    if let Some(v) = env("MOIM_SIGNUP") {
        config.signup = v.parse().context("MOIM_SIGNUP")?;
    }
    if let Some(v) = env("MOIM_OIDC_ISSUER") {
        config.oidc_issuer = Some(v);
    }
    if let Some(v) = env("MOIM_OIDC_CLIENT_ID") {
        config.oidc_client_id = Some(v);
    }
    if let Some(v) = env("MOIM_OIDC_CLIENT_SECRET") {
        config.oidc_client_secret = Some(v);
    }
    if let Some(v) = env("MOIM_OIDC_NAME") {
        config.oidc_name = v;
    }
    if let Some(v) = env("MOIM_SESSION_DAYS") {
        config.session_days = v
            .parse()
            .context("MOIM_SESSION_DAYS must be a number of days")?;
    }
    if let Some(v) = env("MOIM_HEADER_TIMEOUT") {
        config.header_timeout = v
            .parse()
            .context("MOIM_HEADER_TIMEOUT must be a number of seconds")?;
    }
    if let Some(v) = env("MOIM_MAX_CONNECTIONS_PER_IP") {
        config.max_connections_per_ip = Some(
            v.parse()
                .context("MOIM_MAX_CONNECTIONS_PER_IP must be a number (0: no limit)")?,
        );
    }
    if let Some(v) = env("MOIM_BANDWIDTH_ESTIMATION") {
        config.bandwidth_estimation = is_yes(&v);
    }
    if let Some(v) = env("MOIM_AUDIO_RED") {
        config.audio_red = is_yes(&v);
    }
    if let Some(v) = env("MOIM_FORWARDING") {
        config.forwarding = match v.as_str() {
            "frames" => Forwarding::Frames,
            "packets" => Forwarding::Packets,
            _ => anyhow::bail!("MOIM_FORWARDING must be `frames` or `packets`, not `{v}`"),
        };
    }
    if let Some(v) = env("MOIM_SPAN_ROOMS") {
        config.span_rooms = is_yes(&v);
    }
    if let Some(v) = env("MOIM_REDIS_URL") {
        config.redis_url = Some(v).filter(|v| !v.is_empty());
    }
    if let Some(v) = env("MOIM_NODE_ID") {
        config.node_id = Some(v);
    }
    if let Some(v) = env("MOIM_REGION") {
        config.region = Some(v);
    }
    if let Some(v) = env("MOIM_PUBLIC_URL") {
        config.public_url = Some(v);
    }
    if let Some(v) = env("MOIM_DRAIN_TIMEOUT") {
        config.drain_timeout = v
            .parse()
            .context("MOIM_DRAIN_TIMEOUT must be a number of seconds")?;
    }
    if let Some(v) = env("MOIM_DEV_MODE") {
        config.dev_mode = is_yes(&v);
    }
    if let Some(v) = env("MOIM_EXPOSE_DEV_MODE") {
        config.expose_dev_mode = is_yes(&v);
    }
    Ok(())
}

/// The non-empty items of a comma-separated list.
fn comma_separated(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect()
}
