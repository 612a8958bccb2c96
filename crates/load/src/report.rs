//! The live progress line, the summary table and the JSON form of a run.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::metrics::Window;
use crate::server_delay::ServerDelay;

/// What the subscribers received over a span of time, as rates and quantiles.
#[derive(Debug, Clone, Serialize)]
pub struct Rates {
    pub packets_per_s: f64,
    pub mbit_per_s: f64,
    pub loss_pct: f64,
    pub p50_delay_ms: Option<f64>,
    pub p99_delay_ms: Option<f64>,
    pub jitter_ms: f64,
    /// The tester's own lag, from a datagram's arrival at its socket to handling it.
    pub p99_lag_ms: Option<f64>,
}

impl Rates {
    /// The rates of the counters `w` gathered over `seconds`.
    pub fn of(w: &Window, seconds: f64) -> Rates {
        Rates {
            packets_per_s: w.packets as f64 / seconds,
            mbit_per_s: w.bytes as f64 * 8.0 / seconds / 1e6,
            loss_pct: w.loss() * 100.0,
            p50_delay_ms: w.delays.quantile(0.5),
            p99_delay_ms: w.delays.quantile(0.99),
            jitter_ms: w.jitter_ms(),
            p99_lag_ms: w.lag.quantile(0.99),
        }
    }
}

/// How a duration spread over the participants, ms.
#[derive(Debug, Clone, Serialize)]
pub struct Spread {
    pub count: usize,
    pub p50: f64,
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; none when there are none.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Spread {
            count: sorted.len(),
            p50: *sorted.get(sorted.len().checked_sub(1)? / 2)?,
            max: *sorted.last()?,
        })
    }

    fn text(spread: &Option<Spread>) -> String {
        spread.as_ref().map_or("-".into(), |s| {
            format!("p50 {:.0} ms / max {:.0} ms ({})", s.p50, s.max, s.count)
        })
    }
}

/// The others in a room and their tracks, as a `joined` listed them.
#[derive(Debug, Clone, Serialize)]
pub struct RoomSeen {
    pub participants: usize,
    pub tracks: usize,
}

/// One second of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub t: f64,
    pub subscribers: u64,
    #[serde(flatten)]
    pub rates: Rates,
    /// Server CPU over this second, % of one core (with `--server-pid`).
    pub server_cpu_pct: Option<f64>,
    /// The tester's own CPU over this second, % of one core.
    pub tester_cpu_pct: Option<f64>,
}

impl Sample {
    /// A sample from the counters of `seconds` of running.
    pub fn new(
        t: f64,
        seconds: f64,
        subscribers: u64,
        w: &Window,
        server_cpu_pct: Option<f64>,
        tester_cpu_pct: Option<f64>,
    ) -> Sample {
        Sample {
            t,
            subscribers,
            rates: Rates::of(w, seconds),
            server_cpu_pct,
            tester_cpu_pct,
        }
    }

    /// The progress line.
    pub fn line(&self) -> String {
        let ms = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}"));
        let cpu = |who: &str, pct: Option<f64>| {
            pct.map_or(String::new(), |c| format!("  {who} {c:5.1}% cpu"))
        };
        let cpu = cpu("server", self.server_cpu_pct) + &cpu("tester", self.tester_cpu_pct);
        format!(
            "{:6.1}s  {:5} subs  {:9.0} pkt/s  {:7.1} Mbit/s  loss {:5.2}%  delay p50 {:>4} p99 {:>4} ms  lag p99 {:>3} ms  jitter {:5.1} ms{cpu}",
            self.t,
            self.subscribers,
            self.rates.packets_per_s,
            self.rates.mbit_per_s,
            self.rates.loss_pct,
            ms(self.rates.p50_delay_ms),
            ms(self.rates.p99_delay_ms),
            ms(self.rates.p99_lag_ms),
            self.rates.jitter_ms,
        )
    }
}

/// The steady part of a run, after every client joined.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The kind of server: `moim` or `janus`.
    pub target: String,
    pub scenario: String,
    pub clients: usize,
    pub subscribers_connected: u64,
    pub publishers_connected: u64,
    pub failures: usize,
    pub seconds: f64,
    #[serde(flatten)]
    pub rates: Rates,
    pub keyframe_requests: u64,
    pub server_cpu_s: Option<f64>,
    /// Server CPU-seconds per million packets received by the subscribers.
    pub server_cpu_s_per_mpkt: Option<f64>,
    pub server_peak_rss_mib: Option<f64>,
    /// The load tester's own CPU over the measurement, % of one core (all its threads).
    pub tester_cpu_pct: Option<f64>,
    /// Threads the clients ran on.
    pub tester_threads: usize,
    /// The server's forwarding delay over the measurement, as it counted it (Moim only).
    pub server_hop: Option<ServerDelay>,
    /// How long datagrams waited in the server's media socket (Moim only).
    pub server_socket_wait: Option<ServerDelay>,
    /// Joining, from each participant's start: until the server's `joined`, until its
    /// connections were up, until its first media packet (Moim only).
    pub joined_ms: Option<Spread>,
    pub connected_ms: Option<Spread>,
    pub first_media_ms: Option<Spread>,
    /// The room as the last participant to join found it (Moim only).
    pub room_at_join: Option<RoomSeen>,
    /// Participants with media by the media worker of their sessions (Moim only).
    pub workers: BTreeMap<usize, u64>,
}

impl Summary {
    /// The summary table.
    pub fn table(&self) -> String {
        let opt = |v: Option<f64>, unit: &str| v.map_or("-".into(), |v| format!("{v:.2}{unit}"));
        let rows = [
            ("target", self.target.clone()),
            ("scenario", self.scenario.clone()),
            ("clients", self.clients.to_string()),
            (
                "connected",
                format!(
                    "{} subscribers, {} publishers, {} failures",
                    self.subscribers_connected, self.publishers_connected, self.failures
                ),
            ),
            ("measured", format!("{:.1} s", self.seconds)),
            (
                "received",
                format!(
                    "{:.0} pkt/s, {:.1} Mbit/s",
                    self.rates.packets_per_s, self.rates.mbit_per_s
                ),
            ),
            ("loss", format!("{:.3} %", self.rates.loss_pct)),
            (
                "delay",
                format!(
                    "p50 {} / p99 {}",
                    opt(self.rates.p50_delay_ms, " ms"),
                    opt(self.rates.p99_delay_ms, " ms")
                ),
            ),
            ("jitter", format!("{:.2} ms", self.rates.jitter_ms)),
            ("server hop", ServerDelay::text(&self.server_hop, "frames")),
            (
                "server socket wait",
                ServerDelay::text(&self.server_socket_wait, "datagrams"),
            ),
            (
                "tester lag",
                format!("p99 {}", opt(self.rates.p99_lag_ms, " ms")),
            ),
            ("keyframe requests", self.keyframe_requests.to_string()),
            ("server CPU", opt(self.server_cpu_s, " s")),
            ("server CPU / Mpkt", opt(self.server_cpu_s_per_mpkt, " s")),
            ("server peak RSS", opt(self.server_peak_rss_mib, " MiB")),
            (
                "load tester CPU",
                format!(
                    "{} ({} threads)",
                    opt(self.tester_cpu_pct, " %"),
                    self.tester_threads
                ),
            ),
            ("joined", Spread::text(&self.joined_ms)),
            ("connected", Spread::text(&self.connected_ms)),
            ("first media", Spread::text(&self.first_media_ms)),
            (
                "media workers",
                self.workers
                    .iter()
                    .map(|(worker, n)| format!("{n} on worker {worker}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            (
                "room at join",
                self.room_at_join.as_ref().map_or("-".into(), |r| {
                    format!("{} others, {} tracks", r.participants, r.tracks)
                }),
            ),
        ];
        let mut out = String::new();
        for (k, v) in rows {
            out.push_str(&format!("  {k:<18} {v}\n"));
        }
        out
    }
}

impl ServerDelay {
    fn text(delay: &Option<ServerDelay>, counted: &str) -> String {
        delay.as_ref().map_or("-".into(), |d| {
            let at_most = |v: Option<f64>| v.map_or("more".into(), |v| format!("≤ {v} ms"));
            format!(
                "p50 {} / p99 {}, mean {:.3} ms ({} {counted})",
                at_most(d.p50_at_most_ms),
                at_most(d.p99_at_most_ms),
                d.mean_ms,
                d.count
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_of_durations() {
        assert!(Spread::of(&[]).is_none());
        let s = Spread::of(&[30.0, 10.0, 20.0, 400.0]).unwrap();
        assert_eq!((s.count, s.p50, s.max), (4, 20.0, 400.0));
        let one = Spread::of(&[7.0]).unwrap();
        assert_eq!((one.p50, one.max), (7.0, 7.0));
    }
}
