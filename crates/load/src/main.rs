//! `moim-load`: many WebRTC clients in one process against a Moim server.
//!
//! Publishers send real VP8 (three simulcast layers) and Opus encoded once with ffmpeg;
//! subscribers receive in RTP mode without decoding and measure packets, loss, jitter and
//! one-way delay. Joins are paced; a progress line is printed every second and a summary at
//! the end (`--json` for machines).

mod clips;
mod ivf;
mod metrics;
mod ogg;
mod peer;
mod process;
mod report;
mod source;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use moim_proto::token::{Claims, GrantPreset, Grants};

use crate::clips::Clips;
use crate::metrics::Metrics;
use crate::peer::Role;
use crate::report::{Sample, Summary};

/// Time after the last join before the steady measurement starts.
const SETTLE: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// One publisher (camera + microphone), N subscribers.
    Livestream,
    /// N participants, all publishing and subscribing.
    Meeting,
    /// Ten speakers (microphone only), N listeners.
    AudioRoom,
}

/// Load-test a Moim server with simulated WebRTC clients.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[arg(long, value_enum, default_value = "livestream")]
    scenario: Scenario,
    /// Subscribers (livestream), participants (meeting) or listeners (audio-room).
    #[arg(long, short = 'n', default_value_t = 10)]
    clients: usize,
    /// The server's HTTP base URL.
    #[arg(long, default_value = "http://127.0.0.1:7880")]
    url: String,
    #[arg(long, default_value = "load")]
    room: String,
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
    /// The server's process id, to measure its CPU time and memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Folder of the encoded clips (default: the user's cache folder).
    #[arg(long)]
    clips: Option<PathBuf>,
    /// Print the samples and the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    str0m::crypto::from_feature_flags().install_process_default();
    let clips = Arc::new(Clips::load_or_generate(
        &args.clips.clone().unwrap_or_else(clips::cache_dir),
    )?);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(args, clips))
}

/// The participants of a scenario, publishers first.
fn roles(args: &Args) -> Vec<(String, Role)> {
    let role = |video, audio, subscribe| Role {
        video,
        audio,
        subscribe,
        render_height: args.render_height,
    };
    let n = args.clients;
    match args.scenario {
        Scenario::Livestream => std::iter::once(("publisher".to_owned(), role(true, true, false)))
            .chain((0..n).map(|i| (format!("viewer-{i}"), role(false, false, true))))
            .collect(),
        Scenario::Meeting => (0..n)
            .map(|i| (format!("member-{i}"), role(true, true, true)))
            .collect(),
        Scenario::AudioRoom => (0..10)
            .map(|i| (format!("speaker-{i}"), role(false, true, true)))
            .chain((0..n).map(|i| (format!("listener-{i}"), role(false, false, true))))
            .collect(),
    }
}

async fn run(args: Args, clips: Arc<Clips>) -> anyhow::Result<()> {
    let roles = roles(&args);
    let ws_url = format!("{}/rtc", args.url.replacen("http", "ws", 1));
    let join_interval = Duration::from_secs_f64(1.0 / args.join_rate.max(0.01));
    let start = Instant::now();
    let steady_at = start + join_interval * roles.len() as u32 + SETTLE;
    let stop_at = steady_at + Duration::from_secs(args.seconds);
    let metrics = Metrics::shared();

    let spawner = {
        let metrics = metrics.clone();
        let args_room = args.room.clone();
        let (key, secret) = (args.api_key.clone(), args.api_secret.clone());
        async move {
            let mut next = Instant::now();
            for (identity, role) in roles {
                let token = mint(&key, &secret, &args_room, &identity);
                // Clients outlive the measurement a little so that its last second is whole.
                let leave_at = stop_at + Duration::from_secs(1);
                tokio::spawn(peer::run(
                    ws_url.clone(),
                    token,
                    role,
                    clips.clone(),
                    metrics.clone(),
                    leave_at,
                ));
                next += join_interval;
                tokio::time::sleep_until(next.into()).await;
            }
        }
    };
    tokio::spawn(spawner);

    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last = Instant::now();
    let mut last_cpu = args.server_pid.and_then(process::cpu_time);
    let mut steady_cpu = None;
    let mut steady = false;
    while Instant::now() < stop_at {
        tick.tick().await;
        let now = Instant::now();
        let cpu = args.server_pid.and_then(process::cpu_time);
        let cpu_pct = match (cpu, last_cpu) {
            (Some(c), Some(l)) => Some((c - l).as_secs_f64() / (now - last).as_secs_f64() * 100.0),
            _ => None,
        };
        let (window, subscribers) = {
            let mut m = metrics.lock().unwrap();
            if !steady && now >= steady_at {
                steady = true;
                m.start_steady();
                steady_cpu = cpu;
            }
            (m.take_window(), m.subscribers_connected)
        };
        let sample = Sample::new(
            (now - start).as_secs_f64(),
            (now - last).as_secs_f64(),
            subscribers,
            &window,
            cpu_pct,
        );
        eprintln!("{}", sample.line());
        samples.push(sample);
        last = now;
        last_cpu = cpu;
    }

    let m = metrics.lock().unwrap();
    let w = m.steady.clone().unwrap_or_default();
    let seconds = last
        .saturating_duration_since(steady_at)
        .as_secs_f64()
        .max(1.0);
    let end_cpu = args.server_pid.and_then(process::cpu_time);
    let server_cpu_s = match (end_cpu, steady_cpu) {
        (Some(e), Some(s)) => Some((e - s).as_secs_f64()),
        _ => None,
    };
    let summary = Summary {
        scenario: args
            .scenario
            .to_possible_value()
            .map_or_else(String::new, |v| v.get_name().to_owned()),
        clients: args.clients,
        subscribers_connected: m.subscribers_connected,
        publishers_connected: m.publishers_connected,
        failures: m.failures.len(),
        seconds,
        packets_per_s: w.packets as f64 / seconds,
        mbit_per_s: w.bytes as f64 * 8.0 / seconds / 1e6,
        loss_pct: w.loss() * 100.0,
        p50_delay_ms: w.delays.quantile(0.5),
        p99_delay_ms: w.delays.quantile(0.99),
        jitter_ms: w.jitter_ms(),
        keyframe_requests: w.keyframe_requests,
        server_cpu_s,
        server_cpu_s_per_mpkt: server_cpu_s
            .filter(|_| w.packets > 0)
            .map(|s| s / (w.packets as f64 / 1e6)),
        server_peak_rss_mib: args
            .server_pid
            .and_then(process::peak_rss)
            .map(|b| b as f64 / (1024.0 * 1024.0)),
    };
    for failure in m.failures.iter().take(5) {
        eprintln!("failure: {failure}");
    }
    eprintln!("\n{}", summary.table());
    if args.json {
        let out = serde_json::json!({ "summary": summary, "samples": samples });
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(())
}

/// A token for one simulated client, signed like `moim token` does.
fn mint(api_key: &str, secret: &str, room: &str, identity: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Claims {
        iss: api_key.to_owned(),
        sub: identity.to_owned(),
        name: None,
        nbf: now.saturating_sub(10),
        exp: now + 24 * 3600,
        video: Grants::preset(room, GrantPreset::Guest),
    }
    .sign(secret)
}
