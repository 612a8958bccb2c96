//! `moim room|participant|record|broadcast …`: the server API from the command line, for
//! operators and scripts, as LiveKit's `lk` is. Each command mints a short-lived token
//! with the API key and secret of the config (or `--api-key`/`--api-secret`), asks the
//! server at `--url` (the config's `public_url` by default), and prints a table, or the
//! answer's JSON with `--json`.

mod commands;
pub mod table;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use moim_proto::token::{Claims, GrantPreset, Grants};
use serde_json::Value;

use crate::config::Config;
use crate::outbound;
use crate::state::unix_now;

/// How long the tokens the client mints for itself last.
const TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// Where the server is and how to sign for it; how to print.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The server (default: the config's `public_url`, else its HTTP address).
    #[arg(long, env = "MOIM_URL", global = true)]
    url: Option<String>,
    /// Print the server's JSON answer instead of a table.
    #[arg(long, global = true)]
    json: bool,
    /// Config file to take the API key, secret and address from.
    #[arg(long, env = "MOIM_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// API key (overrides the config).
    #[arg(long, global = true)]
    api_key: Option<String>,
    /// API secret (overrides the config).
    #[arg(long, global = true)]
    api_secret: Option<String>,
}

/// `moim room …`
#[derive(Debug, Subcommand)]
pub enum RoomCmd {
    /// The rooms running on the server.
    List,
    /// Makes a room ahead, with its settings.
    Create {
        name: String,
        /// At most this many participants (0: no limit).
        #[arg(long)]
        max_participants: Option<u32>,
        /// Seconds the room is kept once empty.
        #[arg(long)]
        empty_timeout: Option<u32>,
        /// Newcomers wait until a host admits them.
        #[arg(long)]
        waiting_room: bool,
        /// No one new may join.
        #[arg(long)]
        locked: bool,
        /// An audio room (hosts and chosen speakers talk, the others listen).
        #[arg(long)]
        audio: bool,
    },
    /// One room.
    Show { name: String },
    /// Ends the meeting for everyone; the room goes.
    Delete { name: String },
}

/// `moim participant …`
#[derive(Debug, Subcommand)]
pub enum ParticipantCmd {
    /// Those in a room.
    List { room: String },
    /// Removes a participant from its room.
    Remove {
        room: String,
        identity: String,
        /// Keep the identity out of the room from now on.
        #[arg(long)]
        ban: bool,
    },
    /// Mutes a participant's tracks: a track's sid, or every track of a source
    /// (`camera`, `microphone`, `screen`, `screen_audio`) or kind (`audio`, `video`).
    Mute {
        room: String,
        identity: String,
        track: String,
        /// Allow unmuting again instead.
        #[arg(long)]
        unmute: bool,
        /// The participant may not unmute it until a host allows it.
        #[arg(long, conflicts_with = "unmute")]
        lock: bool,
    },
}

/// `moim record …`
#[derive(Debug, Subcommand)]
pub enum RecordCmd {
    /// Starts recording a room.
    Start {
        room: String,
        /// `track`, `participant`, `composite` or `audio_only`.
        #[arg(long, default_value = "composite")]
        kind: String,
    },
    /// Stops the room's recording (the one running, or `ID`).
    Stop { room: String, id: Option<String> },
    /// The room's recordings, newest first.
    List { room: String },
}

/// `moim broadcast …`
#[derive(Debug, Subcommand)]
pub enum BroadcastCmd {
    /// Makes a room live.
    Start {
        room: String,
        /// The participant shown, or `composite` for the meeting's grid.
        #[arg(long)]
        source: String,
        /// Anyone may watch it (else only through signed URLs).
        #[arg(long)]
        public: bool,
        /// Also restream to this `rtmp://` or `rtmps://` URL.
        #[arg(long)]
        rtmp: Option<String>,
    },
    /// Stops the room's broadcast (the one running, or `ID`).
    Stop { room: String, id: Option<String> },
    /// The room's broadcast, running or last.
    List { room: String },
}

/// What a command asks of the server.
#[derive(Debug)]
pub enum Command {
    Room(RoomCmd),
    Participant(ParticipantCmd),
    Record(RecordCmd),
    Broadcast(BroadcastCmd),
}

/// Runs `command` against the server and prints what it answered; a refusal or an
/// unreachable server is one line on standard error and exit status 1.
pub fn run(args: &ClientArgs, command: Command) -> anyhow::Result<()> {
    let api = Api::new(args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match runtime.block_on(commands::run(&api, command)) {
        Ok(printed) => {
            println!("{printed}");
            Ok(())
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}

/// The server's API as the client reaches it.
pub struct Api {
    origin: String,
    api_key: String,
    secret: String,
    json: bool,
}

/// Which token a request needs.
#[derive(Debug, Clone, Copy)]
pub enum Grant<'a> {
    /// `roomList` and `roomCreate`, for no room.
    Server,
    /// A host's, for `room`.
    Room(&'a str),
}

impl Api {
    fn new(args: &ClientArgs) -> anyhow::Result<Api> {
        let config = Config::load(args.config.as_deref(), |k| std::env::var(k).ok())?;
        let url = args.url.clone().unwrap_or_else(|| config.public_url());
        let origin = url.trim_end_matches('/').to_owned();
        if !origin.starts_with("http://") && !origin.starts_with("https://") {
            bail!("--url {origin} must start with http:// or https://");
        }
        Ok(Api {
            origin,
            api_key: args.api_key.clone().unwrap_or(config.api_key),
            secret: args.api_secret.clone().unwrap_or(config.api_secret),
            json: args.json,
        })
    }

    fn token(&self, grant: Grant) -> String {
        let now = unix_now();
        let video = match grant {
            Grant::Server => Grants {
                room_create: true,
                room_list: true,
                ..Grants::default()
            },
            Grant::Room(room) => Grants::preset(room, GrantPreset::Host),
        };
        Claims {
            iss: self.api_key.clone(),
            sub: "moim-cli".to_owned(),
            name: None,
            nbf: now.saturating_sub(10),
            exp: now + TOKEN_LIFETIME.as_secs(),
            video,
        }
        .sign(&self.secret)
    }

    /// `method path` with a JSON `body` (none when `Null`): the answer's JSON (`Null` for
    /// none), or the server's refusal as the error.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        grant: Grant<'_>,
        body: &Value,
    ) -> anyhow::Result<Value> {
        let mut headers = format!("Authorization: Bearer {}\r\n", self.token(grant));
        let body = if body.is_null() {
            String::new()
        } else {
            headers.push_str("Content-Type: application/json\r\n");
            body.to_string()
        };
        let mut reply = outbound::request(&self.origin, method, path, &headers, &body)
            .await
            .with_context(|| format!("cannot reach the server at {}", self.origin))?;
        // In a cluster, a room's requests go to its node: once, with the same request.
        if reply.status == 307
            && let Some(Ok((origin, path))) =
                outbound::header(&reply.headers, "location").map(outbound::split_url)
        {
            reply = outbound::request(&origin, method, &path, &headers, &body)
                .await
                .with_context(|| format!("cannot reach the room's node at {origin}"))?;
        }
        let answer: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
        if !(200..300).contains(&reply.status) {
            match (answer["code"].as_str(), answer["message"].as_str()) {
                (Some(code), Some(message)) => bail!("{message} ({code})"),
                _ => bail!("the server answered {}: {}", reply.status, reply.body),
            }
        }
        Ok(answer)
    }

    /// The answer as the user asked for it: its JSON, or `table` made of it.
    pub fn print(&self, answer: &Value, table: impl FnOnce(&Value) -> String) -> String {
        if self.json {
            serde_json::to_string_pretty(answer).unwrap_or_default()
        } else {
            table(answer)
        }
    }
}
