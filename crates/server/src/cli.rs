//! Command-line interface.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use moim_proto::names;
use moim_proto::token::{Claims, GrantPreset, Grants};

use crate::client::{BroadcastCmd, ClientArgs, ParticipantCmd, RecordCmd, RoomCmd};
use crate::config::Config;
use crate::state::unix_now;

/// Moim: self-hostable real-time meetings and live streams.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Cmd>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Print a signed access token.
    Token(TokenArgs),
    /// Print the OpenAPI 3.1 description of the HTTP API (as served at
    /// `/api/openapi.json`).
    Openapi,
    /// Rooms of a running server: list, create, show, delete.
    Room {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        cmd: RoomCmd,
    },
    /// Participants of a room: list, remove, mute.
    Participant {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        cmd: ParticipantCmd,
    },
    /// Server recordings of a room: start, stop, list.
    Record {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        cmd: RecordCmd,
    },
    /// Users who sign in: add, list, passwd, disable, admin (on the configured database;
    /// no running server needed).
    User(crate::account::cli::UserArgs),
    /// Broadcasts of a room: start, stop, list.
    Broadcast {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        cmd: BroadcastCmd,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML config file; without one Moim runs in development mode.
    #[arg(long, env = "MOIM_CONFIG")]
    pub config: Option<PathBuf>,
    /// Override the HTTP port (default 7880).
    #[arg(long)]
    pub http_port: Option<u16>,
    /// Override the media UDP port (default 7882).
    #[arg(long)]
    pub udp_port: Option<u16>,
    /// Override the ICE-TCP media port (default 7881; 0 picks a free one).
    #[arg(long)]
    pub tcp_port: Option<u16>,
    /// Override the RTMP ingest port (default 1935; 0 picks a free one).
    #[arg(long)]
    pub rtmp_port: Option<u16>,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The room the token admits to.
    #[arg(long, required_unless_present_any = ["node_admin", "room_create", "room_list"])]
    room: Option<String>,
    /// The participant's identity (unique within the room).
    #[arg(long)]
    identity: String,
    /// Display name.
    #[arg(long)]
    name: Option<String>,
    /// Join and subscribe only.
    #[arg(long, conflicts_with = "host")]
    viewer: bool,
    /// Every grant, including admin and record.
    #[arg(long)]
    host: bool,
    /// Only the server-wide grant to see and manage the cluster's nodes (`/api/nodes`),
    /// for no room.
    #[arg(long, conflicts_with_all = ["room", "viewer", "host"])]
    node_admin: bool,
    /// The server-wide grant to create rooms (`POST /api/rooms`), for no room.
    #[arg(long, conflicts_with_all = ["room", "viewer", "host"])]
    room_create: bool,
    /// The server-wide grant to list rooms (`GET /api/rooms`), for no room.
    #[arg(long, conflicts_with_all = ["room", "viewer", "host"])]
    room_list: bool,
    /// Lifetime, e.g. 90s, 30m, 6h, 2d.
    #[arg(long, default_value = "6h")]
    ttl: String,
    /// Config file to take the API key and secret from.
    #[arg(long, env = "MOIM_CONFIG")]
    config: Option<PathBuf>,
    /// API key (overrides the config).
    #[arg(long)]
    api_key: Option<String>,
    /// API secret (overrides the config).
    #[arg(long)]
    api_secret: Option<String>,
}

impl TokenArgs {
    /// The signed token these arguments describe.
    pub fn mint(&self) -> anyhow::Result<String> {
        let config = Config::load(self.config.as_deref(), |k| std::env::var(k).ok())?;
        let api_key = self.api_key.clone().unwrap_or(config.api_key);
        let secret = self.api_secret.clone().unwrap_or(config.api_secret);
        let ttl = parse_ttl(&self.ttl)?;
        let preset = if self.host {
            GrantPreset::Host
        } else if self.viewer {
            GrantPreset::Viewer
        } else {
            GrantPreset::Guest
        };
        let now = unix_now();
        let video = match &self.room {
            Some(room) => Grants::preset(room, preset),
            None => Grants {
                node_admin: self.node_admin,
                room_create: self.room_create,
                room_list: self.room_list,
                ..Grants::default()
            },
        };
        let claims = Claims {
            iss: api_key,
            sub: self.identity.clone(),
            name: self.name.clone(),
            nbf: now.saturating_sub(10),
            exp: now + ttl.as_secs(),
            video,
        };
        let names = if self.room.is_none() {
            names::check_identity(&claims.sub)
        } else {
            claims.check_names()
        };
        names.map_err(|e| anyhow::anyhow!("{}", e.message))?;
        Ok(claims.sign(&secret))
    }
}

/// Parses `90s`, `30m`, `6h`, `2d` or plain seconds.
pub fn parse_ttl(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .with_context(|| format!("invalid --ttl \"{text}\": expected e.g. 30m, 6h, 2d"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => bail!("invalid --ttl unit \"{unit}\": use s, m, h or d"),
    };
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("6h").unwrap().as_secs(), 21600);
        assert_eq!(parse_ttl("90").unwrap().as_secs(), 90);
        assert_eq!(parse_ttl("2d").unwrap().as_secs(), 172800);
        assert!(parse_ttl("5y").is_err());
        assert!(parse_ttl("h").is_err());
    }
}
