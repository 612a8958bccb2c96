//! `moim-load`: many WebRTC clients in one process against a Moim server, or against a Janus
//! videoroom for comparison (`--target janus`).
//!
//! Publishers send real VP8 (three simulcast layers) and Opus encoded once with ffmpeg;
//! subscribers receive in RTP mode without decoding and measure packets, loss, jitter and
//! one-way delay. Joins are paced; a progress line is printed every second and a summary at
//! the end (`--json` for machines).

mod clips;
mod hls;
mod http;
mod ivf;
mod janus_api;
mod janus_signal;
mod joins;
mod metrics;
mod moim_signal;
mod ogg;
mod peer;
mod plot;
mod process;
mod report;
mod server_delay;
mod signal;
mod source;
mod threads;
mod udp;
mod whep_signal;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, ValueEnum};
use moim_proto::token::{Claims, GrantPreset, Grants};

use crate::clips::Clips;
use crate::janus_signal::JanusSignal;
use crate::metrics::AllMetrics;
use crate::moim_signal::MoimSignal;
use crate::peer::Role;
use crate::report::{Rates, RoomSeen, Sample, Spread, Summary};
use crate::signal::Signaling;
use crate::threads::Threads;
use crate::whep_signal::WhepSignal;

/// Time after the last join before the steady measurement starts.
const SETTLE: Duration = Duration::from_secs(3);

/// Longest wait for a participant's `joined` before the next one joins (with
/// `--interleave-idle`).
const JOIN_WAIT: Duration = Duration::from_secs(10);

/// Longest wait at the end of a run for the participants to leave.
const LEAVE_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// One publisher (camera + microphone), N subscribers.
    Livestream,
    /// N participants, all publishing and subscribing.
    Meeting,
    /// Ten speakers (microphone only), N listeners.
    AudioRoom,
    /// N LL-HLS players of the room's broadcast (which must be live): blocking playlist
    /// reloads and parts asked for before they exist, on keep-alive connections.
    Hls,
    /// N rounds of two joins without media into a new room each (named `--room` and the
    /// round): how long placing a room and joining take, on one node or through a cluster.
    Joins,
}

/// The kind of server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Target {
    /// Moim, through its WebSocket signaling.
    Moim,
    /// A Janus videoroom, through the Janus HTTP API (a room is created for the run).
    Janus,
}

impl Target {
    fn default_url(self) -> &'static str {
        match self {
            Target::Moim => "http://127.0.0.1:7880",
            Target::Janus => "http://127.0.0.1:8088/janus",
        }
    }
}

/// Load-test a Moim server (or Janus, for comparison) with simulated WebRTC clients.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[arg(long, value_enum, default_value = "livestream")]
    scenario: Scenario,
    /// Subscribers (livestream), participants (meeting) or listeners (audio-room).
    #[arg(long, short = 'n', default_value_t = 10)]
    clients: usize,
    #[arg(long, value_enum, default_value = "moim")]
    target: Target,
    /// Moim's HTTP base URL (default http://127.0.0.1:7880), or the Janus API's
    /// (default http://127.0.0.1:8088/janus).
    #[arg(long)]
    url: Option<String>,
    /// Room name (Moim) or description of the room created for the run (Janus).
    #[arg(long, default_value = "load")]
    room: String,
    /// Put before every participant's identity, so that several runs can share a room
    /// without replacing each other's participants.
    #[arg(long, default_value = "")]
    identity_prefix: String,
    /// After each participant, one more joins that neither publishes nor subscribes. Moim
    /// places a participant on the media worker with the fewest participants, whatever
    /// their media: with two workers, the scenario's participants then share one worker.
    /// Each join then waits for the one before it to be answered, so that the server
    /// places them in this order.
    #[arg(long)]
    interleave_idle: bool,
    /// Joins per second.
    #[arg(long, default_value_t = 10.0)]
    join_rate: f64,
    /// Seconds measured after everyone joined.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Height subscribers say they render video at (picks the simulcast layer).
    #[arg(long, default_value_t = 360)]
    render_height: u32,
    #[arg(long, default_value = "devkey")]
    api_key: String,
    #[arg(long, default_value = "secret")]
    api_secret: String,
    /// Local address of the clients' WebRTC sockets.
    #[arg(long, default_value = "127.0.0.1")]
    local_ip: IpAddr,
    /// The server's process id, to measure its CPU time and memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Folder of the encoded clips (default: the user's cache folder).
    #[arg(long)]
    clips: Option<PathBuf>,
    /// Print the samples and the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Write an SVG chart of server CPU, packets/s, loss and p99 delay against subscribers.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Livestream viewers play the room's stream over WHEP (`POST /whep/{room}`) at these
    /// nodes' HTTP URLs (comma-separated; viewers are spread over them in turn) instead of
    /// joining over signaling. The publisher joins at `--url`.
    #[arg(long, value_delimiter = ',')]
    viewers_at: Vec<String>,
    /// Participants who subscribe join over signaling at these nodes' HTTP URLs
    /// (comma-separated; spread over them in turn) instead of `--url`: a meeting or a
    /// livestream's viewers spanning the nodes of a cluster.
    #[arg(long, value_delimiter = ',', conflicts_with = "viewers_at")]
    subscribers_at: Vec<String>,
    /// Threads the clients are spread over (default: one per core this process may run
    /// on, so `taskset -c 1` gives one).
    #[arg(long)]
    threads: Option<usize>,
}

/// The signaling WebSocket URL of the Moim node at HTTP URL `url`.
fn ws(url: &str) -> String {
    format!("{}/rtc", url.replacen("http", "ws", 1))
}

/// Hundreds of str0m clients allocate per packet; mimalloc keeps the tester's own core free.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    str0m::crypto::from_feature_flags().install_process_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if args.scenario == Scenario::Hls {
        return runtime.block_on(run_hls(args));
    }
    if args.scenario == Scenario::Joins {
        return runtime.block_on(run_joins(args));
    }
    let clips = Arc::new(Clips::load_or_generate(
        &args.clips.clone().unwrap_or_else(clips::cache_dir),
    )?);
    runtime.block_on(run(args, clips))
}

/// The participants of a scenario, publishers first (each followed by an idle one with
/// `--interleave-idle`), named with the identity prefix.
fn roles(args: &Args) -> Vec<(String, Role)> {
    let role = |video, audio, subscribe| Role {
        video,
        audio,
        subscribe,
        render_height: args.render_height,
    };
    let idle = role(false, false, false);
    scenario_roles(args, role)
        .into_iter()
        .enumerate()
        .flat_map(|(i, named)| {
            let idle = args.interleave_idle.then(|| (format!("idle-{i}"), idle));
            std::iter::once(named).chain(idle)
        })
        .map(|(identity, role)| (format!("{}{identity}", args.identity_prefix), role))
        .collect()
}

/// The scenario's participants, publishers first; `role(video, audio, subscribe)`.
fn scenario_roles(args: &Args, role: impl Fn(bool, bool, bool) -> Role) -> Vec<(String, Role)> {
    let n = args.clients;
    match args.scenario {
        Scenario::Livestream => std::iter::once(("publisher".to_owned(), role(true, true, false)))
            .chain((0..n).map(|i| (format!("viewer-{i}"), role(false, false, true))))
            .collect(),
        Scenario::Meeting => (0..n)
            .map(|i| (format!("member-{i}"), role(true, true, true)))
            .collect(),
        Scenario::Hls | Scenario::Joins => Vec::new(),
        Scenario::AudioRoom => (0..10)
            .map(|i| (format!("speaker-{i}"), role(false, true, true)))
            .chain((0..n).map(|i| (format!("listener-{i}"), role(false, false, true))))
            .collect(),
    }
}

/// How each participant reaches the server under test.
enum Server {
    Moim { ws_url: String },
    Janus { base: String, room: u64 },
}

impl Server {
    /// Prepares the server for a run: Janus gets a fresh room.
    async fn prepare(args: &Args, roles: &[(String, Role)]) -> anyhow::Result<Server> {
        let url = args
            .url
            .clone()
            .unwrap_or_else(|| args.target.default_url().to_owned());
        Ok(match args.target {
            Target::Moim => Server::Moim { ws_url: ws(&url) },
            Target::Janus => {
                let publishers = roles.iter().filter(|(_, r)| r.video || r.audio).count();
                let room = janus_api::create_room(&url, &args.room, publishers)
                    .await
                    .with_context(|| format!("cannot create a videoroom through {url}"))?;
                Server::Janus { base: url, room }
            }
        })
    }

    /// The signaling of participant number `index`.
    fn signaling(&self, args: &Args, identity: &str, role: Role, index: usize) -> Signaling {
        let viewer = !(role.video || role.audio) && role.subscribe;
        if viewer && !args.viewers_at.is_empty() {
            return Signaling::Whep(WhepSignal {
                url: args.viewers_at[index % args.viewers_at.len()].clone(),
                room: args.room.clone(),
                token: mint(&args.api_key, &args.api_secret, &args.room, identity, role),
            });
        }
        match self {
            Server::Moim { ws_url } => Signaling::Moim(MoimSignal {
                url: match &args.subscribers_at[..] {
                    at if role.subscribe && !at.is_empty() => ws(&at[index % at.len()]),
                    _ => ws_url.clone(),
                },
                token: mint(&args.api_key, &args.api_secret, &args.room, identity, role),
                render_height: role.render_height,
            }),
            Server::Janus { base, room } => Signaling::Janus(JanusSignal {
                base: base.clone(),
                room: *room,
                display: identity.to_owned(),
                subscribe: role.subscribe,
                substream: JanusSignal::substream_for(role.render_height),
            }),
        }
    }

    /// Cleans up after a run: the Janus room goes, with everyone still in it.
    async fn finish(&self) {
        if let Server::Janus { base, room } = self
            && let Err(e) = janus_api::destroy_room(base, *room).await
        {
            eprintln!("could not destroy Janus room {room}: {e:#}");
        }
    }
}

async fn run(args: Args, clips: Arc<Clips>) -> anyhow::Result<()> {
    let roles = roles(&args);
    let server = Arc::new(Server::prepare(&args, &roles).await?);
    let args = Arc::new(args);
    let join_interval = Duration::from_secs_f64(1.0 / args.join_rate.max(0.01));
    let start = Instant::now();
    // The samples' times count from here; with this, other measurements can be lined up.
    let start_unix = unix_seconds();
    let steady_at = start + join_interval * roles.len() as u32 + SETTLE;
    let stop_at = steady_at + Duration::from_secs(args.seconds);
    let threads = Threads::start(args.threads.unwrap_or_else(threads::available))?;
    let metrics = Arc::new(AllMetrics::new(threads.len()));

    // Every participant holds a clone of `alive` until it has left; the run ends when all
    // are gone, so that their `leave` reaches the server instead of a dropped socket.
    let (alive, mut all_left) = tokio::sync::mpsc::channel::<()>(1);
    let spawner = {
        let alive = alive.clone();
        let metrics = metrics.clone();
        let (args, server) = (args.clone(), server.clone());
        let threads = threads.handles();
        async move {
            let mut next = Instant::now();
            for (index, (identity, role)) in roles.into_iter().enumerate() {
                let signaling = server.signaling(&args, &identity, role, index);
                // Clients outlive the measurement a little so that its last second is whole.
                let leave_at = stop_at + Duration::from_secs(1);
                let (joined, answered) = tokio::sync::oneshot::channel();
                let thread = index % threads.len();
                let peer = peer::run(
                    signaling,
                    args.local_ip,
                    role,
                    clips.clone(),
                    metrics.shard(thread),
                    leave_at,
                    joined,
                );
                let alive = alive.clone();
                threads[thread].spawn(async move {
                    peer.await;
                    drop(alive);
                });
                if args.interleave_idle {
                    // One join at a time, so that the server places them in this order.
                    let _ = tokio::time::timeout(JOIN_WAIT, answered).await;
                }
                next += join_interval;
                tokio::time::sleep_until(next.into()).await;
            }
        }
    };
    tokio::spawn(spawner);
    drop(alive);

    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last = Instant::now();
    let mut last_cpu = args.server_pid.and_then(process::cpu_time);
    let mut last_own_cpu = process::cpu_time(std::process::id());
    // When the steady totals started, and the server's and this process's CPU time then.
    let mut steady: Option<(Instant, Option<Duration>, Option<Duration>)> = None;
    // Moim counts its own delays; its metrics are read when the steady totals start and at
    // the end.
    let metrics_url = (args.target == Target::Moim).then(|| {
        args.url
            .clone()
            .unwrap_or_else(|| Target::Moim.default_url().to_owned())
    });
    let mut metrics_before = None;
    while Instant::now() < stop_at {
        tick.tick().await;
        let now = Instant::now();
        let cpu = args.server_pid.and_then(process::cpu_time);
        let own_cpu = process::cpu_time(std::process::id());
        let pct = |c: Option<Duration>, l: Option<Duration>| match (c, l) {
            (Some(c), Some(l)) => Some((c - l).as_secs_f64() / (now - last).as_secs_f64() * 100.0),
            _ => None,
        };
        let cpu_pct = pct(cpu, last_cpu);
        let own_cpu_pct = pct(own_cpu, last_own_cpu);
        let (window, subscribers) = metrics.take_window();
        // The totals start on a tick, so that packets, seconds and CPU time span the same
        // interval.
        if steady.is_none() && now >= steady_at {
            metrics.start_steady();
            steady = Some((now, cpu, own_cpu));
            metrics_before = match &metrics_url {
                Some(url) => server_delay::fetch(url).await,
                None => None,
            };
        }
        let sample = Sample::new(
            (now - start).as_secs_f64(),
            (now - last).as_secs_f64(),
            subscribers,
            &window,
            cpu_pct,
            own_cpu_pct,
        );
        eprintln!("{}", sample.line());
        samples.push(sample);
        last = now;
        last_cpu = cpu;
        last_own_cpu = own_cpu;
    }

    let metrics::Totals {
        steady: w,
        subscribers_connected,
        publishers_connected,
        joins,
        failures,
    } = metrics.totals();
    let (steady_since, steady_cpu, steady_own_cpu) = steady.unwrap_or((last, None, None));
    let seconds = last
        .saturating_duration_since(steady_since)
        .as_secs_f64()
        .max(1.0);
    let server_cpu_s = match (last_cpu, steady_cpu) {
        (Some(e), Some(s)) => Some((e - s).as_secs_f64()),
        _ => None,
    };
    // Near 100 % the tester, not the server, limits what is measured.
    let tester_cpu_pct = match (process::cpu_time(std::process::id()), steady_own_cpu) {
        (Some(e), Some(s)) => Some((e - s).as_secs_f64() / seconds * 100.0),
        _ => None,
    };
    let metrics_after = match (&metrics_url, &metrics_before) {
        (Some(url), Some(_)) => server_delay::fetch(url).await,
        _ => None,
    };
    let server_delay =
        |name| server_delay::between(metrics_before.as_deref()?, metrics_after.as_deref()?, name);
    let summary = Summary {
        target: args
            .target
            .to_possible_value()
            .map_or_else(String::new, |v| v.get_name().to_owned()),
        scenario: args
            .scenario
            .to_possible_value()
            .map_or_else(String::new, |v| v.get_name().to_owned()),
        clients: args.clients,
        subscribers_connected,
        publishers_connected,
        failures: failures.len(),
        seconds,
        rates: Rates::of(&w, seconds),
        keyframe_requests: w.keyframe_requests,
        server_cpu_s,
        server_cpu_s_per_mpkt: server_cpu_s
            .filter(|_| w.packets > 0)
            .map(|s| s / (w.packets as f64 / 1e6)),
        server_peak_rss_mib: args
            .server_pid
            .and_then(process::peak_rss)
            .map(|b| b as f64 / (1024.0 * 1024.0)),
        tester_cpu_pct,
        tester_threads: threads.len(),
        server_hop: server_delay(server_delay::HOP),
        server_socket_wait: server_delay(server_delay::SOCKET_WAIT),
        joined_ms: Spread::of(&joins.joined),
        connected_ms: Spread::of(&joins.connected),
        first_media_ms: Spread::of(&joins.first_media),
        room_at_join: joins.room.map(|(participants, tracks)| RoomSeen {
            participants,
            tracks,
        }),
        workers: joins.workers,
    };
    for failure in failures.iter().take(5) {
        eprintln!("failure: {failure}");
    }
    eprintln!("\n{}", summary.table());
    if let Some(path) = &args.plot {
        let title = format!(
            "{} · {} clients · {:?}",
            summary.scenario, args.clients, args.target
        );
        std::fs::write(path, plot::svg(&title, &samples))?;
        eprintln!("chart written to {}", path.display());
    }
    if args.json {
        let out = serde_json::json!({
            "summary": summary,
            "samples": samples,
            "start_unix": start_unix,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    // A peer stuck in its signaling is not waited for long.
    let _ = tokio::time::timeout(LEAVE_WAIT, all_left.recv()).await;
    server.finish().await;
    Ok(())
}

/// The LL-HLS scenario (no WebRTC clients).
async fn run_joins(args: Args) -> anyhow::Result<()> {
    let url = args
        .url
        .clone()
        .unwrap_or_else(|| Target::Moim.default_url().to_owned());
    let (key, secret) = (args.api_key.clone(), args.api_secret.clone());
    let guest = Role {
        video: true,
        audio: true,
        subscribe: true,
        render_height: 0,
    };
    let run = joins::JoinRun {
        ws_url: format!("{}/rtc", url.replacen("http", "ws", 1)),
        room: args.room.clone(),
        rounds: args.clients,
    };
    joins::run(run, |room, identity| {
        mint(&key, &secret, room, identity, guest)
    })
    .await
}

async fn run_hls(args: Args) -> anyhow::Result<()> {
    let summary = hls::run(hls::HlsRun {
        url: args
            .url
            .clone()
            .unwrap_or_else(|| Target::Moim.default_url().to_owned()),
        room: args.room.clone(),
        clients: args.clients,
        join_rate: args.join_rate,
        seconds: args.seconds,
        server_pid: args.server_pid,
    })
    .await?;
    eprintln!("\n{}", summary.table());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    Ok(())
}

/// Seconds since the Unix epoch.
fn unix_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A token for one simulated client, signed like `moim token` does: a client that
/// publishes nothing is a viewer (`--viewer`: join and subscribe, as a broadcast's audience
/// is), the others guests.
fn mint(api_key: &str, secret: &str, room: &str, identity: &str, role: Role) -> String {
    let preset = if role.video || role.audio {
        GrantPreset::Guest
    } else {
        GrantPreset::Viewer
    };
    let now = unix_seconds() as u64;
    Claims {
        iss: api_key.to_owned(),
        sub: identity.to_owned(),
        name: None,
        nbf: now.saturating_sub(10),
        exp: now + 24 * 3600,
        video: Grants::preset(room, preset),
    }
    .sign(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_participants_follow_each_one_and_every_identity_gets_the_prefix() {
        let args = Args::parse_from([
            "moim-load",
            "--scenario",
            "livestream",
            "-n",
            "2",
            "--interleave-idle",
            "--identity-prefix",
            "b-",
        ]);
        let interleaved = roles(&args);
        let names: Vec<&str> = interleaved.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "b-publisher",
                "b-idle-0",
                "b-viewer-0",
                "b-idle-1",
                "b-viewer-1",
                "b-idle-2"
            ]
        );
        let (_, idle) = interleaved[1];
        assert!(!idle.video && !idle.audio && !idle.subscribe);
        let plain = roles(&Args::parse_from(["moim-load", "-n", "1"]));
        let names: Vec<&str> = plain.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["publisher", "viewer-0"]);
    }
}
