//! Connection quality: how well each participant's connection carries its media, from
//! str0m's statistics of its sessions (loss both ways, round-trip time, jitter, videos
//! paused for bandwidth, whether anything arrives at all), for the room to show on the
//! participant's tile; and the participant's own numbers for its network panel.

use std::time::{Duration, Instant};

use moim_proto::signal::{ConnectionQuality, NetworkStats, TrackKind};
use str0m::net::Protocol;
use str0m::stats::{MediaIngressStats, PeerStats};

use crate::event::MediaEvent;
use crate::ids::SessionId;
use crate::router::Router;
use crate::subscription::Cap;

/// How often str0m reports a session's statistics.
pub const STATS_INTERVAL: Duration = Duration::from_secs(2);

/// The RTP clock of Opus audio.
const OPUS_CLOCK_HZ: u32 = 48_000;
/// A connection nothing arrived on for this long is lost. A client that neither sends nor
/// receives media sends little more than its consent checks (RFC 7675), every 4 to 6 s.
const LOST_AFTER: Duration = Duration::from_secs(8);
/// Loss (in percent) from which a connection is only good, and poor.
const LOSS_GOOD: f32 = 2.0;
const LOSS_POOR: f32 = 8.0;
/// Round-trip time from which a connection is only good, and poor.
const RTT_GOOD: Duration = Duration::from_millis(250);
const RTT_POOR: Duration = Duration::from_millis(500);
/// Jitter of its audio from which a connection is only good, and poor.
const JITTER_GOOD: Duration = Duration::from_millis(30);
const JITTER_POOR: Duration = Duration::from_millis(80);

/// One session's latest statistics.
#[derive(Debug, Clone, Copy, Default)]
pub struct Link {
    /// Bytes received from the client in all, to tell whether anything arrived since.
    rx_total: u64,
    tx_total: u64,
    at: Option<Instant>,
    /// When a datagram (media, control or a consent check) last arrived from the client.
    pub heard: Option<Instant>,
    /// The numbers of the latest period.
    pub stats: NetworkStats,
    /// Nothing arrived from the client for [`LOST_AFTER`].
    pub lost: bool,
    /// The highest jitter of the media received in the latest period.
    jitter: Option<Duration>,
}

impl Link {
    /// Takes str0m's periodic peer statistics.
    fn update(&mut self, peer: &PeerStats) {
        let seconds = self
            .at
            .map(|at| peer.timestamp.saturating_duration_since(at).as_secs_f64())
            .filter(|s| *s > 0.0);
        let kbps = |now: u64, before: u64| {
            seconds.map_or(0, |s| {
                ((now.saturating_sub(before)) as f64 * 8.0 / s / 1000.0) as u32
            })
        };
        // A session not connected yet is not lost.
        self.lost = self
            .heard
            .is_some_and(|t| peer.timestamp.saturating_duration_since(t) >= LOST_AFTER);
        self.stats = NetworkStats {
            rtt_ms: peer.rtt.map(|r| r.as_millis() as u32),
            jitter_ms: self.jitter.map(|j| j.as_millis() as u32),
            loss_up: peer.ingress_loss_fraction.map(|f| f * 100.0),
            loss_down: peer.egress_loss_fraction.map(|f| f * 100.0),
            up_kbps: kbps(peer.peer_bytes_rx, self.rx_total),
            down_kbps: kbps(peer.peer_bytes_tx, self.tx_total),
            estimate_kbps: peer.bwe_tx.map(|b| (b.as_u64() / 1000) as u32),
            tcp: peer
                .selected_candidate_pair
                .as_ref()
                .is_some_and(|p| p.protocol != Protocol::Udp),
        };
        self.rx_total = peer.peer_bytes_rx;
        self.tx_total = peer.peer_bytes_tx;
        self.at = Some(peer.timestamp);
        self.jitter = None;
    }

    /// Takes the jitter of one received stream (in its clock's units).
    fn saw_jitter(&mut self, jitter: u32, clock_hz: u32) {
        let j = Duration::from_micros(u64::from(jitter) * 1_000_000 / u64::from(clock_hz));
        self.jitter = Some(self.jitter.map_or(j, |old| old.max(j)));
    }

    /// The quality these numbers show; `short`: a video it receives is paused for
    /// bandwidth; `shed`: its videos are held to lower layers because the server is
    /// behind (at best good).
    pub fn quality(&self, short: bool, shed: bool) -> ConnectionQuality {
        if self.lost {
            return ConnectionQuality::Lost;
        }
        let s = &self.stats;
        let loss = s.loss_up.unwrap_or(0.0).max(s.loss_down.unwrap_or(0.0));
        let rtt = s
            .rtt_ms
            .map_or(Duration::ZERO, |r| Duration::from_millis(r.into()));
        let jitter = self.jitter_of_period();
        if short || loss >= LOSS_POOR || rtt >= RTT_POOR || jitter >= JITTER_POOR {
            ConnectionQuality::Poor
        } else if shed || loss >= LOSS_GOOD || rtt >= RTT_GOOD || jitter >= JITTER_GOOD {
            ConnectionQuality::Good
        } else {
            ConnectionQuality::Excellent
        }
    }

    fn jitter_of_period(&self) -> Duration {
        self.stats
            .jitter_ms
            .map_or(Duration::ZERO, |j| Duration::from_millis(j.into()))
    }
}

/// Adds the numbers of a participant's second session (publisher and subscriber) to
/// those of its first: each way's numbers from the session that carries that way.
fn combine(a: NetworkStats, b: NetworkStats) -> NetworkStats {
    let max_f = |x: Option<f32>, y: Option<f32>| match (x, y) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    };
    NetworkStats {
        rtt_ms: a.rtt_ms.max(b.rtt_ms),
        jitter_ms: a.jitter_ms.max(b.jitter_ms),
        loss_up: max_f(a.loss_up, b.loss_up),
        loss_down: max_f(a.loss_down, b.loss_down),
        up_kbps: a.up_kbps + b.up_kbps,
        down_kbps: a.down_kbps + b.down_kbps,
        estimate_kbps: a.estimate_kbps.or(b.estimate_kbps),
        tcp: a.tcp || b.tcp,
    }
}

impl Router {
    /// str0m's periodic statistics of session `id`: the participant's quality and
    /// numbers go to the control plane once both of its sessions have reported anew (or
    /// its only one has).
    pub(crate) fn peer_stats(&mut self, id: SessionId, peer: &PeerStats) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        session.link.update(peer);
        let participant = session.participant;
        let Some(media) = self.participants.get(&participant) else {
            return;
        };
        // Reported once a period, on the subscriber's statistics when it has one.
        if media.subscriber.is_some_and(|s| s != id) || media.player.is_some() {
            return;
        }
        let sessions = [media.publisher, media.subscriber];
        let mut quality = ConnectionQuality::Excellent;
        let mut stats: Option<NetworkStats> = None;
        for s in sessions
            .into_iter()
            .flatten()
            .filter_map(|s| self.sessions.get(&s))
        {
            let short = s.slots.values().any(|slot| slot.cap == Cap::Paused);
            let shed = s.slots.values().any(|slot| slot.shed.is_some());
            quality = quality.min(s.link.quality(short, shed));
            stats = Some(stats.map_or(s.link.stats, |a| combine(a, s.link.stats)));
        }
        let Some(stats) = stats else {
            return;
        };
        self.pending.announce(MediaEvent::ConnectionQuality {
            participant,
            quality,
            stats,
        });
    }

    /// str0m's statistics of one stream session `id` receives: the jitter of its audio.
    /// (A video's arrival is bursty by nature, a frame's packets at once, and a simulcast
    /// layer that dynacast paused and resumed jumps in time; audio shows the path.)
    pub(crate) fn ingress_stats(&mut self, id: SessionId, stream: &MediaIngressStats) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let audio = session
            .tracks_in
            .get(&stream.mid)
            .and_then(|t| self.tracks.get(t))
            .is_some_and(|t| t.kind == TrackKind::Audio);
        if audio {
            session.link.saw_jitter(stream.jitter, OPUS_CLOCK_HZ);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(loss: f32, rtt_ms: u32, jitter_ms: u32) -> Link {
        Link {
            stats: NetworkStats {
                rtt_ms: Some(rtt_ms),
                jitter_ms: Some(jitter_ms),
                loss_up: Some(loss),
                loss_down: Some(0.0),
                ..NetworkStats::default()
            },
            ..Link::default()
        }
    }

    #[test]
    fn quality_is_the_worst_of_loss_delay_and_jitter() {
        assert_eq!(
            link(0.0, 20, 5).quality(false, false),
            ConnectionQuality::Excellent
        );
        assert_eq!(
            link(3.0, 20, 5).quality(false, false),
            ConnectionQuality::Good
        );
        assert_eq!(
            link(10.0, 20, 5).quality(false, false),
            ConnectionQuality::Poor
        );
        assert_eq!(
            link(0.0, 300, 5).quality(false, false),
            ConnectionQuality::Good
        );
        assert_eq!(
            link(0.0, 600, 5).quality(false, false),
            ConnectionQuality::Poor
        );
        assert_eq!(
            link(0.0, 20, 100).quality(false, false),
            ConnectionQuality::Poor
        );
        assert_eq!(
            link(0.0, 20, 5).quality(true, false),
            ConnectionQuality::Poor,
            "a paused video"
        );
        assert_eq!(
            link(0.0, 20, 5).quality(false, true),
            ConnectionQuality::Good,
            "videos held to lower layers because the server is behind"
        );
        assert_eq!(
            link(10.0, 20, 5).quality(false, true),
            ConnectionQuality::Poor
        );
    }

    #[test]
    fn a_connection_nothing_arrives_on_is_lost() {
        let mut l = link(0.0, 20, 5);
        l.lost = true;
        assert_eq!(l.quality(false, false), ConnectionQuality::Lost);
    }

    #[test]
    fn combined_numbers_take_each_way_from_where_it_is_measured() {
        let publisher = NetworkStats {
            loss_up: Some(4.0),
            up_kbps: 900,
            rtt_ms: Some(30),
            ..NetworkStats::default()
        };
        let subscriber = NetworkStats {
            loss_down: Some(1.0),
            down_kbps: 1200,
            estimate_kbps: Some(2000),
            rtt_ms: Some(40),
            ..NetworkStats::default()
        };
        let both = combine(publisher, subscriber);
        assert_eq!(both.loss_up, Some(4.0));
        assert_eq!(both.loss_down, Some(1.0));
        assert_eq!((both.up_kbps, both.down_kbps), (900, 1200));
        assert_eq!(both.estimate_kbps, Some(2000));
        assert_eq!(both.rtt_ms, Some(40));
    }
}
