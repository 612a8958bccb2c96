//! The LL-HLS scenario: N players of a room's broadcast, each on its own keep-alive HTTP
//! connection doing what hls.js does in low-latency mode: ask for the playlist's hinted
//! part before it exists (the server holds the request until the part is complete), then
//! reload the playlist blocking on that part (`_HLS_msn`, `_HLS_part`) to learn the next
//! hint, and so on.
//!
//! A part's delivery delay to a player is the time from the first player receiving that
//! part to this one receiving it: what the server adds by fanning a part out to everyone
//! waiting for it, apart from the stream's own latency (which the first player sees).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::process;

/// Time after the last player started before the measurement starts.
const SETTLE: Duration = Duration::from_secs(3);

/// The longest a request may take: the server holds one at most 6 s.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What a run is told.
pub struct HlsRun {
    /// The server's HTTP base URL, `http://host:port`.
    pub url: String,
    /// The room whose broadcast is played.
    pub room: String,
    /// Players.
    pub clients: usize,
    /// Players started per second.
    pub join_rate: f64,
    /// Seconds measured after every player started.
    pub seconds: u64,
    /// The server's process id, for its CPU time.
    pub server_pid: Option<u32>,
}

/// What players received: for each part, when each player had it whole.
#[derive(Default)]
struct Receipts {
    parts: HashMap<(u64, u32), Vec<Instant>>,
    bytes: u64,
    errors: u64,
    players: usize,
}

/// The summary of a run.
#[derive(Debug, Serialize)]
pub struct HlsSummary {
    pub clients: usize,
    pub players_started: usize,
    pub seconds: f64,
    /// Parts received by all players together, per second.
    pub parts_per_s: f64,
    pub mbit_per_s: f64,
    /// Requests answered with an error or not answered.
    pub errors: u64,
    /// Delivery delay after the first player had the part, ms.
    pub p50_delay_ms: Option<f64>,
    pub p99_delay_ms: Option<f64>,
    pub max_delay_ms: Option<f64>,
    /// The server's CPU over the measurement, % of one core.
    pub server_cpu_pct: Option<f64>,
    /// This process's CPU over the measurement, % of one core.
    pub tester_cpu_pct: Option<f64>,
}

/// Runs the scenario and returns its summary.
pub async fn run(run: HlsRun) -> anyhow::Result<HlsSummary> {
    let host = run
        .url
        .strip_prefix("http://")
        .context("the URL is http://host:port")?
        .trim_end_matches('/')
        .to_owned();
    let rung = first_rung(&host, &run.room).await?;
    eprintln!("playing {rung}index.m3u8");
    let receipts = Arc::new(Mutex::new(Receipts::default()));
    let interval = Duration::from_secs_f64(1.0 / run.join_rate.max(0.01));
    let start = Instant::now();
    let steady_at = start + interval * run.clients as u32 + SETTLE;
    let stop_at = steady_at + Duration::from_secs(run.seconds);
    {
        let (receipts, host, rung) = (receipts.clone(), host.clone(), rung.clone());
        let clients = run.clients;
        tokio::spawn(async move {
            let mut next = Instant::now();
            for _ in 0..clients {
                tokio::spawn(player(
                    host.clone(),
                    rung.clone(),
                    receipts.clone(),
                    stop_at,
                ));
                next += interval;
                tokio::time::sleep_until(next.into()).await;
            }
        });
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last = (0usize, 0u64);
    let mut steady = None;
    while Instant::now() < stop_at {
        tick.tick().await;
        let now = Instant::now();
        let (parts, players, errors) = {
            let r = receipts.lock().unwrap();
            (
                r.parts.values().map(Vec::len).sum::<usize>(),
                r.players,
                r.errors,
            )
        };
        eprintln!(
            "{:>5.1} s  players {players:>5}  parts {:>6}/s  errors {errors}",
            (now - start).as_secs_f64(),
            parts - last.0,
        );
        last = (parts, errors);
        if steady.is_none() && now >= steady_at {
            let cpu = |pid| process::cpu_time(pid);
            steady = Some((now, run.server_pid.and_then(cpu), cpu(std::process::id())));
        }
    }
    let (since, server_cpu, own_cpu) = steady.context("the run ended before it was measured")?;
    let seconds = since.elapsed().as_secs_f64().max(1.0);
    let pct = |pid: Option<u32>, then: Option<Duration>| {
        let now = process::cpu_time(pid?)?;
        Some((now - then?).as_secs_f64() / seconds * 100.0)
    };
    let server_cpu_pct = pct(run.server_pid, server_cpu);
    let tester_cpu_pct = pct(Some(std::process::id()), own_cpu);
    let r = receipts.lock().unwrap();
    // Only parts whose first receipt fell in the measurement, received by then.
    let mut delays = Vec::new();
    let mut received = 0usize;
    for times in r.parts.values() {
        let Some(first) = times.iter().min().copied() else {
            continue;
        };
        if first < since {
            continue;
        }
        received += times.len();
        delays.extend(times.iter().map(|t| (*t - first).as_secs_f64() * 1000.0));
    }
    delays.sort_by(f64::total_cmp);
    let quantile = |q: f64| {
        (!delays.is_empty()).then(|| delays[((delays.len() - 1) as f64 * q).round() as usize])
    };
    Ok(HlsSummary {
        clients: run.clients,
        players_started: r.players,
        seconds,
        parts_per_s: received as f64 / seconds,
        mbit_per_s: r.bytes as f64 * 8.0 / (stop_at - start).as_secs_f64() / 1e6,
        errors: r.errors,
        p50_delay_ms: quantile(0.5),
        p99_delay_ms: quantile(0.99),
        max_delay_ms: delays.last().copied(),
        server_cpu_pct,
        tester_cpu_pct,
    })
}

impl HlsSummary {
    /// The summary as a few lines for people.
    pub fn table(&self) -> String {
        let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1} ms"));
        let pct = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.0} %"));
        format!(
            "players           {} of {}\nparts delivered   {:.0}/s ({:.1} Mbit/s)\n\
             delivery delay    p50 {} / p99 {} / max {}\nerrors            {}\n\
             server CPU        {}\ntester CPU        {}",
            self.players_started,
            self.clients,
            self.parts_per_s,
            self.mbit_per_s,
            ms(self.p50_delay_ms),
            ms(self.p99_delay_ms),
            ms(self.max_delay_ms),
            self.errors,
            pct(self.server_cpu_pct),
            pct(self.tester_cpu_pct),
        )
    }
}

/// The folder of the broadcast's first (lowest) rung, from the multivariant playlist.
async fn first_rung(host: &str, room: &str) -> anyhow::Result<String> {
    let mut conn = Connection::open(host).await?;
    let path = format!("/hls/{room}/index.m3u8");
    let (status, body) = conn.get(&path).await?;
    if status != 200 {
        bail!("{path}: HTTP {status}: {}", String::from_utf8_lossy(&body));
    }
    let text = String::from_utf8_lossy(&body);
    let uri = text
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .context("the multivariant playlist lists no rung")?;
    let folder = uri.rsplit_once('/').map_or("", |(folder, _)| folder);
    Ok(format!("/hls/{room}/{folder}/"))
}

/// One player until `stop_at`.
async fn player(host: String, rung: String, receipts: Arc<Mutex<Receipts>>, stop_at: Instant) {
    receipts.lock().unwrap().players += 1;
    let mut conn = None;
    let mut hint = None;
    while Instant::now() < stop_at {
        let connection = match &mut conn {
            Some(c) => c,
            None => match Connection::open(&host).await {
                Ok(c) => conn.insert(c),
                Err(_) => {
                    receipts.lock().unwrap().errors += 1;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            },
        };
        match step(connection, &rung, hint, &receipts).await {
            Ok(next) => hint = next,
            Err(_) => {
                receipts.lock().unwrap().errors += 1;
                (conn, hint) = (None, None);
            }
        }
    }
}

/// One round: without a hint, the playlist; else the hinted part, then the playlist
/// holding it. Returns the next hint (`None`: start again from the playlist).
async fn step(
    conn: &mut Connection,
    rung: &str,
    hint: Option<(u64, u32)>,
    receipts: &Mutex<Receipts>,
) -> anyhow::Result<Option<(u64, u32)>> {
    let Some((msn, part)) = hint else {
        let (status, body) = conn.get(&format!("{rung}index.m3u8")).await?;
        if status != 200 {
            bail!("playlist: HTTP {status}");
        }
        return Ok(preload_hint(&String::from_utf8_lossy(&body)));
    };
    let (status, body) = conn.get(&format!("{rung}part{msn}.{part}.m4s")).await?;
    if status != 200 {
        bail!("part: HTTP {status}");
    }
    let at = Instant::now();
    {
        let mut r = receipts.lock().unwrap();
        r.bytes += body.len() as u64;
        r.parts.entry((msn, part)).or_default().push(at);
    }
    let path = format!("{rung}index.m3u8?_HLS_msn={msn}&_HLS_part={part}");
    let (status, body) = conn.get(&path).await?;
    if status != 200 {
        bail!("blocking playlist: HTTP {status}");
    }
    Ok(preload_hint(&String::from_utf8_lossy(&body)))
}

/// The part a playlist's preload hint names: `part{msn}.{n}.m4s`.
fn preload_hint(playlist: &str) -> Option<(u64, u32)> {
    let line = playlist
        .lines()
        .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT:"))?;
    let name = line.split("URI=\"part").nth(1)?.split('"').next()?;
    let (msn, rest) = name.strip_suffix(".m4s")?.split_once('.')?;
    Some((msn.parse().ok()?, rest.parse().ok()?))
}

/// A keep-alive HTTP/1.1 connection for `GET`s whose answers have a `Content-Length`.
struct Connection {
    host: String,
    stream: BufReader<TcpStream>,
}

impl Connection {
    async fn open(host: &str) -> anyhow::Result<Connection> {
        let stream = TcpStream::connect(host).await?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            host: host.to_owned(),
            stream: BufReader::new(stream),
        })
    }

    /// `GET path`: the status and the body.
    async fn get(&mut self, path: &str) -> anyhow::Result<(u16, Vec<u8>)> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(path))
            .await
            .context("no answer in time")?
    }

    async fn exchange(&mut self, path: &str) -> anyhow::Result<(u16, Vec<u8>)> {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.host);
        self.stream.get_mut().write_all(request.as_bytes()).await?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .context("not an HTTP answer")?;
        let mut length = None;
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                bail!("the connection closed");
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse::<usize>().ok();
            }
        }
        let mut body = vec![0; length.context("an answer without Content-Length")?];
        self.stream.read_exact(&mut body).await?;
        Ok((status, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hint_names_the_part_being_filled() {
        let playlist = "#EXTM3U\n#EXT-X-PART:DURATION=0.2,URI=\"part7.3.m4s\"\n\
                        #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part7.4.m4s\"\n";
        assert_eq!(preload_hint(playlist), Some((7, 4)));
        assert_eq!(preload_hint("#EXTM3U\n#EXT-X-ENDLIST\n"), None);
    }
}
