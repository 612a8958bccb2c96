//! `moim`: the server binary. `moim serve` (the default) runs the server; `moim token`
//! prints an access token.

mod account;
mod banner;
mod broadcast;
mod cli;
mod client;
mod cluster;
mod config;
mod http;
mod ingest;
mod limits;
mod media;
mod outbound;
mod recording;
mod room;
mod signal;
mod state;
mod store;
mod tls;
mod turn;
mod webhook;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use moim_media::{MediaConfig, MediaPlane};
use tracing::info;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Cmd, ServeArgs};
use crate::cluster::load::LoadMeter;
use crate::config::Config;
use crate::state::AppState;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Cmd::Token(args)) => {
            println!("{}", args.mint()?);
            Ok(())
        }
        Some(Cmd::Openapi) => {
            println!("{}", http::openapi::json());
            Ok(())
        }
        Some(Cmd::Room { client, cmd }) => client::run(&client, client::Command::Room(cmd)),
        Some(Cmd::Participant { client, cmd }) => {
            client::run(&client, client::Command::Participant(cmd))
        }
        Some(Cmd::Record { client, cmd }) => client::run(&client, client::Command::Record(cmd)),
        Some(Cmd::Broadcast { client, cmd }) => {
            client::run(&client, client::Command::Broadcast(cmd))
        }
        Some(Cmd::User(args)) => account::cli::run(args),
        Some(Cmd::Serve(args)) => serve(args),
        None => serve(cli.serve),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let log = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("MOIM_LOG")
                .unwrap_or_else(|_| EnvFilter::new("info,str0m=warn")),
        )
        .with_writer(std::io::stderr);
    // Read before the configuration, like `MOIM_LOG`, so that its own errors are logged so.
    match std::env::var("MOIM_LOG_FORMAT").as_deref() {
        Err(_) | Ok("text") => log.with_ansi(colour_wanted()).init(),
        // One JSON object a line, the event's fields beside `timestamp`, `level` and
        // `target`, for log collectors.
        Ok("json") => log.json().flatten_event(true).init(),
        Ok(other) => anyhow::bail!("MOIM_LOG_FORMAT must be `text` or `json`, not \"{other}\""),
    }
    let mut config = Config::load(args.config.as_deref(), |k| std::env::var(k).ok())?;
    if let Some(port) = args.http_port {
        config.http_addr.set_port(port);
    }
    if let Some(port) = args.udp_port {
        config.udp_addr.set_port(port);
    }
    if let Some(port) = args.tcp_port {
        config.tcp_addr.set_port(port);
    }
    if let Some(port) = args.rtmp_port {
        config.rtmp_addr.set_port(port);
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(config))
}

async fn run(config: Config) -> anyhow::Result<()> {
    let (media, media_events) = MediaPlane::start(MediaConfig {
        bind: config.udp_addr,
        advertise: config.advertised_udp(),
        tcp_bind: Some(config.tcp_addr),
        workers: config.workers,
        bandwidth_estimation: config.bandwidth_estimation,
        audio_red: config.audio_red,
        forwarding: config.forwarding,
    })
    .with_context(|| {
        format!(
            "cannot bind media UDP {} and TCP {}",
            config.udp_addr, config.tcp_addr
        )
    })?;
    let advertised_media = SocketAddr::new(config.advertised_udp().ip(), media.local_addr().port());
    let certificate = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(tls::Certificate::load(cert, key)?),
        _ => None,
    };
    let ice = match turn::IceServers::start(
        &config,
        certificate.as_ref(),
        media.local_addr(),
        advertised_media,
    )
    .await
    {
        Ok(ice) => ice,
        // A development machine may run a TURN server of its own on 3478.
        Err(e) if config.dev_mode => {
            tracing::warn!("{e:#}; running without TURN");
            turn::IceServers::external(&config)
        }
        Err(e) => return Err(e),
    };
    let listener = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.http_addr))?;
    let http_addr = listener.local_addr()?;
    let rtmp = tokio::net::TcpListener::bind(config.rtmp_addr)
        .await
        .with_context(|| format!("cannot listen for RTMP on {}", config.rtmp_addr))?;
    let rtmp_addr = rtmp.local_addr()?;
    let mut config = config;
    config.http_addr = http_addr;
    let cluster = cluster::Cluster::new(&config, advertised_media)?;
    mark_interrupted_recordings(&config, &cluster).await?;
    let broadcasts_dir = config.broadcasts_dir.clone();
    tokio::task::spawn_blocking(move || broadcast::archive::clear_leftovers(&broadcasts_dir))
        .await?;
    let dev_mode = config.dev_mode;
    if config.dev_mode_exposed() {
        tracing::warn!(
            http = %config.http_addr,
            "development mode is exposed beyond loopback: anyone who reaches this server can mint host tokens"
        );
    }
    let webhooks = webhook::Webhooks::start(&config)?;
    let store = store::Store::open(config.database_url.as_deref(), &config.data_dir).await?;
    let bans = store.bans().await.context("cannot read the bans")?;
    let accounts = account::Accounts::new(store, &config);
    let state = Arc::new(AppState::new(
        config,
        media.clone(),
        ice,
        cluster,
        webhooks,
        accounts,
    ));
    {
        let mut rooms = state.rooms();
        for (room, identity) in &bans {
            rooms.ban(room, identity);
        }
    }
    // Events about participants whose media is on other nodes come in beside this
    // node's own.
    let (remote_events, from_nodes) = tokio::sync::mpsc::channel(4096);
    state.spans.take_events(remote_events);
    tokio::spawn(room::media_events::run(
        state.clone(),
        media_events,
        from_nodes,
    ));
    tokio::spawn(ingest::serve(rtmp, state.clone()));
    recording::limits::watch(state.clone());
    let sweeper = state.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            every.tick().await;
            sweeper.drop_expired_rooms();
        }
    });
    let keeping = state.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            recording::library::keep_broadcasts(&keeping).await;
        }
    });
    let forgetting = state.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            every.tick().await;
            forgetting.accounts.forget_expired_sessions().await;
            recording::library::sweep(&forgetting).await;
        }
    });
    let beating = state.clone();
    tokio::spawn(async move {
        let mut meter = LoadMeter::new(beating.media.stats().datagrams_sent);
        let mut every = tokio::time::interval(cluster::HEARTBEAT);
        loop {
            every.tick().await;
            beating.beat(&mut meter).await;
        }
    });
    let turn_addr = state
        .ice
        .service
        .as_ref()
        .map(|s| s.listen_addr().to_string());
    let turn_tls = state
        .ice
        .service
        .as_ref()
        .and_then(|s| s.tls_addr())
        .map(|a| a.to_string());
    info!(http = %http_addr, media = %media.local_addr(), rtmp = %rtmp_addr, turn = turn_addr, turn_tls, workers = media.workers(), "Moim is running");
    if dev_mode {
        eprintln!("{}", banner::development(http_addr, certificate.is_some()));
    }
    let tls = match certificate {
        Some(certificate) => {
            let config = certificate.server_config(&[b"http/1.1"])?;
            certificate.watch();
            Some(tokio_rustls::TlsAcceptor::from(config))
        }
        None => None,
    };
    let limits = http::listener::Limits {
        header_timeout: Duration::from_secs(state.config.header_timeout),
        per_address: state.config.connections_per_address(),
    };
    if let Some(addr) = state.config.http_redirect_addr {
        let redirecting = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on http_redirect_addr {addr}"))?;
        let to = http::redirect::router(http_addr.port());
        tokio::spawn(http::listener::serve(
            redirecting,
            to,
            limits,
            None,
            std::future::pending(),
        ));
    }
    let app = http::router(state.clone());
    http::listener::serve(listener, app, limits, tls, async move {
        tokio::select! {
            () = shutdown_signal() => {}
            () = state.stop.notified() => info!("draining, as an operator asked"),
        }
        if state.cluster.clustered() {
            state
                .drain(Duration::from_secs(state.config.drain_timeout))
                .await;
        }
        let stopping = state.clone();
        let _ = tokio::task::spawn_blocking(move || {
            broadcast::stop_all(&stopping);
            recording::stop_all(&stopping);
        })
        .await;
        state.rooms().disconnect_all();
    })
    .await;
    info!("stopped");
    Ok(())
}

/// Marks the recordings cut short when the server last stopped (a crash) as interrupted;
/// in a cluster, not those of nodes alive now, which may share the folder (none at all
/// while Redis cannot say which are alive).
async fn mark_interrupted_recordings(
    config: &Config,
    cluster: &cluster::Cluster,
) -> anyhow::Result<()> {
    let alive: Vec<String> = if cluster.clustered() {
        match cluster.nodes().await {
            Ok(nodes) => nodes.into_iter().map(|n| n.id).collect(),
            Err(e) => {
                tracing::warn!("{}; unfinished recordings are left as they are", e.message);
                return Ok(());
            }
        }
    } else {
        Vec::new()
    };
    let dir = config.recordings_dir.clone();
    let interrupted = tokio::task::spawn_blocking(move || {
        recording::mark_interrupted(&dir, |node| alive.iter().any(|a| a == node))
    })
    .await?;
    if interrupted > 0 {
        tracing::warn!(
            recordings = interrupted,
            "recordings cut short when the server last stopped are marked interrupted"
        );
    }
    Ok(())
}

/// Colour in log lines only for a person at a terminal: a file or a pipe gets plain text
/// (and `NO_COLOR` turns it off everywhere).
fn colour_wanted() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Waits for SIGTERM or Ctrl-C; the server then stops accepting connections and closes the
/// signaling connections it has.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    info!("shutting down");
}
