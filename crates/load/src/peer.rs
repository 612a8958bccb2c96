//! One simulated participant's media: a publisher connection sending the looped clips
//! (str0m packetizes) and a subscriber connection in RTP mode that counts packets without
//! depacketizing or decoding. Offers and answers go through the participant's signaling
//! (`signal.rs`), which runs next to it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Rid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::rtp::RtpPacket;
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::sync::mpsc::{self, Receiver, Sender};
use tokio::sync::oneshot;

use crate::clips::Clips;
use crate::metrics::{Shared, StreamReceive};
use crate::signal::{CHANNEL, Signaling, ToMedia, ToSignaling};
use crate::source::Source;
use crate::udp::{Arrival, ClientSocket, RECV_BUFFER};

/// What a participant does.
#[derive(Debug, Clone, Copy)]
pub struct Role {
    pub video: bool,
    pub audio: bool,
    pub subscribe: bool,
    /// Rendered height announced for every received video (picks the simulcast layer).
    pub render_height: u32,
}

/// A peer connection and its socket.
struct Conn {
    rtc: Rtc,
    socket: ClientSocket,
    local: SocketAddr,
    /// How long the datagrams of the last read waited in the socket.
    lag: Duration,
}

impl Conn {
    async fn new(ip: IpAddr, rtp_mode: bool) -> anyhow::Result<Conn> {
        let socket = ClientSocket::bind(ip).await?;
        let local = socket.local_addr()?;
        let mut rtc = Rtc::builder().set_rtp_mode(rtp_mode).build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp")?);
        Ok(Conn {
            rtc,
            socket,
            local,
            lag: Duration::ZERO,
        })
    }

    /// Hands the datagrams of one read to the connection, collecting its events.
    fn receive(&mut self, buf: &[u8], arrival: Arrival, events: &mut Vec<Event>) {
        self.lag = arrival.lag;
        let now = Instant::now();
        for datagram in buf[..arrival.len].chunks(arrival.stride) {
            let Ok(contents) = datagram.try_into() else {
                continue;
            };
            let input = Input::Receive(
                now,
                Receive {
                    proto: Protocol::Udp,
                    source: arrival.source,
                    destination: self.local,
                    contents,
                },
            );
            // In RTP mode the connection holds one received packet until it is polled, so
            // each datagram of a batch is polled before the next goes in.
            if self.rtc.handle_input(input).is_ok() {
                let _ = self.poll(events);
            }
        }
    }

    /// Sends what is due, collects events, returns the next timeout.
    fn poll(&mut self, events: &mut Vec<Event>) -> anyhow::Result<Instant> {
        loop {
            match self.rtc.poll_output()? {
                Output::Transmit(t) => self.socket.send_to(&t.contents, t.destination),
                Output::Timeout(t) => return Ok(t),
                Output::Event(e) => events.push(e),
            }
        }
    }
}

/// Receive state of the subscriber connection.
#[derive(Default)]
struct Received {
    streams: HashMap<u32, StreamReceive>,
    /// RTP clock rate by payload type, from the negotiated codecs.
    clocks: HashMap<u8, f64>,
    connected: bool,
    /// A media packet has arrived.
    got_media: bool,
}

/// Runs one participant until `stop_at`; failures are recorded in the metrics. `joined`
/// fires when the server lets it in.
pub async fn run(
    signaling: Signaling,
    local_ip: IpAddr,
    role: Role,
    clips: Arc<Clips>,
    metrics: Shared,
    stop_at: Instant,
    joined: oneshot::Sender<()>,
) {
    let (to_media, from_signaling) = mpsc::channel(CHANNEL);
    let (to_signaling, from_media) = mpsc::channel(CHANNEL);
    let mut peer = Participant::new(local_ip, role, clips, metrics.clone(), to_signaling);
    peer.joined = Some(joined);
    // The signaling is a task of its own, so that it is polled only when its socket or
    // channel wakes it, not on every datagram of the media.
    let signaling = tokio::spawn(signaling.run(to_media, from_media));
    let media = peer.run(from_signaling, stop_at).await;
    let signaling = signaling
        .await
        .unwrap_or_else(|e| Err(anyhow::anyhow!("the signaling task ended: {e}")));
    // Either side stops when the other does; the signaling's error, if any, is the cause.
    if let Err(e) = signaling.and(media) {
        metrics.lock().unwrap().failures.push(format!("{e:#}"));
    }
}

struct Participant {
    /// Address of the connections' sockets.
    local_ip: IpAddr,
    role: Role,
    metrics: Shared,
    signaling: Sender<ToSignaling>,
    publisher: Option<Conn>,
    /// The publisher connection is up.
    publishing: bool,
    pending: Option<SdpPendingOffer>,
    mids: Vec<(Mid, MediaKind)>,
    source: Option<Source>,
    subscriber: Option<Conn>,
    received: Received,
    start: Instant,
    /// Told when the server lets the participant in.
    joined: Option<oneshot::Sender<()>>,
}

impl Participant {
    fn new(
        local_ip: IpAddr,
        role: Role,
        clips: Arc<Clips>,
        metrics: Shared,
        signaling: Sender<ToSignaling>,
    ) -> Participant {
        let start = Instant::now();
        Participant {
            local_ip,
            role,
            metrics,
            signaling,
            publisher: None,
            publishing: false,
            pending: None,
            mids: Vec::new(),
            source: (role.video || role.audio).then(|| Source::new(clips, start)),
            subscriber: None,
            received: Received::default(),
            start,
            joined: None,
        }
    }

    async fn send(&mut self, message: ToSignaling) -> anyhow::Result<()> {
        self.signaling
            .send(message)
            .await
            .context("the signaling stopped")
    }

    async fn offer_publish(&mut self) -> anyhow::Result<()> {
        let mut conn = Conn::new(self.local_ip, false).await?;
        let mut api = conn.rtc.sdp_api();
        let mut mids = Vec::new();
        if self.role.audio {
            let mid = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
            mids.push((mid, MediaKind::Audio));
        }
        if self.role.video {
            let simulcast = Simulcast {
                send: ["q", "h", "f"]
                    .iter()
                    .map(|r| SimulcastLayer::new(r))
                    .collect(),
                recv: Vec::new(),
            };
            let mid = api.add_media(
                MediaKind::Video,
                Direction::SendOnly,
                None,
                None,
                Some(simulcast),
            );
            mids.push((mid, MediaKind::Video));
        }
        let (offer, pending) = api.apply().context("nothing to offer")?;
        self.pending = Some(pending);
        self.mids = mids.clone();
        self.publisher = Some(conn);
        self.send(ToSignaling::PublishOffer {
            sdp: offer.to_sdp_string(),
            tracks: mids,
        })
        .await
    }

    /// Runs the connections until `stop_at`, or until the signaling stops.
    async fn run(mut self, mut signals: Receiver<ToMedia>, stop_at: Instant) -> anyhow::Result<()> {
        if self.role.video || self.role.audio {
            self.offer_publish().await?;
        }
        let mut pub_buf = vec![0u8; RECV_BUFFER];
        let mut sub_buf = vec![0u8; RECV_BUFFER];
        let mut events = Vec::new();
        loop {
            let now = Instant::now();
            if now >= stop_at {
                let _ = self.signaling.send(ToSignaling::Leave).await;
                return Ok(());
            }
            let mut deadline = stop_at;
            if let Some(conn) = &mut self.publisher {
                deadline = deadline.min(conn.poll(&mut events)?);
                if conn.rtc.is_connected()
                    && let Some(source) = &self.source
                {
                    if self.role.video {
                        deadline = deadline.min(source.next_video);
                    }
                    if self.role.audio {
                        deadline = deadline.min(source.next_audio);
                    }
                }
            }
            self.on_publisher_events(&mut events);
            if let Some(conn) = &mut self.subscriber {
                deadline = deadline.min(conn.poll(&mut events)?);
            }
            self.on_subscriber_events(&mut events);

            let pub_socket = self.publisher.as_ref().map(|c| &c.socket);
            let sub_socket = self.subscriber.as_ref().map(|c| &c.socket);
            tokio::select! {
                signal = signals.recv() => match signal {
                    Some(signal) => self.on_signal(signal).await?,
                    // The signaling failed (and says why) or left.
                    None => return Ok(()),
                },
                r = recv(pub_socket, &mut pub_buf) => if let Some(arrival) = r {
                    let conn = self.publisher.as_mut().expect("socket exists");
                    conn.receive(&pub_buf, arrival, &mut events);
                    self.on_publisher_events(&mut events);
                },
                r = recv(sub_socket, &mut sub_buf) => if let Some(arrival) = r {
                    let conn = self.subscriber.as_mut().expect("socket exists");
                    conn.receive(&sub_buf, arrival, &mut events);
                    self.on_subscriber_events(&mut events);
                },
                _ = tokio::time::sleep_until(deadline.into()) => self.on_timeout(),
            }
        }
    }

    fn on_timeout(&mut self) {
        let now = Instant::now();
        for conn in [&mut self.publisher, &mut self.subscriber]
            .into_iter()
            .flatten()
        {
            let _ = conn.rtc.handle_input(Input::Timeout(now));
        }
        let (Some(conn), Some(source)) = (&mut self.publisher, &mut self.source) else {
            return;
        };
        if !conn.rtc.is_connected() {
            return;
        }
        let metrics = &self.metrics;
        for (mid, kind) in &self.mids {
            let due = match kind {
                MediaKind::Video => source.next_video <= now,
                MediaKind::Audio => source.next_audio <= now,
            };
            if !due {
                continue;
            }
            let codec = if *kind == MediaKind::Video {
                Codec::Vp8
            } else {
                Codec::Opus
            };
            let Some(pt) = conn.rtc.writer(*mid).and_then(|w| {
                w.payload_params()
                    .find(|p| p.spec().codec == codec)
                    .map(|p| p.pt())
            }) else {
                continue;
            };
            let mut write = |frame: crate::source::Frame<'_>| {
                let stamp = metrics.lock().unwrap().frame_sent(now);
                let mut data = Vec::with_capacity(frame.data.len() + 8);
                data.extend_from_slice(frame.data);
                data.extend_from_slice(&stamp.to_le_bytes());
                let Some(mut writer) = conn.rtc.writer(*mid) else {
                    return;
                };
                if let Some(rid) = frame.rid {
                    writer = writer.rid(Rid::from(rid));
                }
                let _ = writer.write(pt, now, frame.time, data);
            };
            match kind {
                MediaKind::Video => source.video(&mut write),
                MediaKind::Audio => source.audio(&mut write),
            }
        }
    }

    fn on_publisher_events(&mut self, events: &mut Vec<Event>) {
        for event in events.drain(..) {
            match event {
                Event::KeyframeRequest(_) => {
                    if let Some(source) = &mut self.source {
                        source.request_keyframe();
                    }
                    self.metrics.lock().unwrap().keyframe_requested();
                }
                Event::Connected => {
                    self.publishing = true;
                    let mut metrics = self.metrics.lock().unwrap();
                    metrics.publishers_connected += 1;
                    if self.all_connected() {
                        metrics.joins.connected.push(ms_since(self.start));
                    }
                    drop(metrics);
                    if let Some(source) = &mut self.source {
                        source.restart_at(Instant::now());
                    }
                }
                _ => {}
            }
        }
    }

    fn on_subscriber_events(&mut self, events: &mut Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let mut metrics = self.metrics.lock().unwrap();
        for event in events.drain(..) {
            match event {
                Event::RtpPacket(packet) => {
                    if !self.received.got_media {
                        self.received.got_media = true;
                        metrics.joins.first_media.push(ms_since(self.start));
                    }
                    let lag = self.subscriber.as_ref().map_or(Duration::ZERO, |c| c.lag);
                    self.received
                        .on_packet(&packet, self.start, lag, &mut metrics);
                }
                Event::Connected if !self.received.connected => {
                    self.received.connected = true;
                    metrics.subscribers_connected += 1;
                    if self.all_connected() {
                        metrics.joins.connected.push(ms_since(self.start));
                    }
                }
                _ => {}
            }
        }
    }

    /// Every connection the role opens is up (never, for a role without media).
    fn all_connected(&self) -> bool {
        let publishes = self.role.video || self.role.audio;
        (publishes || self.role.subscribe)
            && (self.publishing || !publishes)
            && (self.received.connected || !self.role.subscribe)
    }

    async fn on_signal(&mut self, signal: ToMedia) -> anyhow::Result<()> {
        match signal {
            ToMedia::Joined {
                participants,
                tracks,
            } => {
                if let Some(joined) = self.joined.take() {
                    let _ = joined.send(());
                }
                let mut metrics = self.metrics.lock().unwrap();
                metrics.joins.joined.push(ms_since(self.start));
                metrics.joins.room = Some((participants, tracks));
            }
            ToMedia::Placed { worker } => {
                if self.role.video || self.role.audio || self.role.subscribe {
                    *self
                        .metrics
                        .lock()
                        .unwrap()
                        .joins
                        .workers
                        .entry(worker)
                        .or_default() += 1;
                }
            }
            ToMedia::PublishAnswer(sdp) => {
                let answer = SdpAnswer::from_sdp_string(&sdp)?;
                let pending = self.pending.take().context("an answer without an offer")?;
                let conn = self.publisher.as_mut().context("no publisher connection")?;
                conn.rtc.sdp_api().accept_answer(pending, answer)?;
            }
            ToMedia::SubscribeOffer(sdp) if self.role.subscribe => {
                if self.subscriber.is_none() {
                    self.subscriber = Some(Conn::new(self.local_ip, true).await?);
                }
                let offer = SdpOffer::from_sdp_string(&sdp)?;
                let conn = self.subscriber.as_mut().expect("created above");
                let answer = conn.rtc.sdp_api().accept_offer(offer)?;
                for params in conn.rtc.codec_config().params() {
                    let clock = f64::from(params.spec().clock_rate.get());
                    self.received.clocks.insert(*params.pt(), clock);
                }
                let video = mids(&sdp)
                    .filter(|mid| {
                        conn.rtc
                            .media(*mid)
                            .is_some_and(|m| m.kind() == MediaKind::Video)
                    })
                    .collect();
                self.send(ToSignaling::SubscribeAnswer {
                    sdp: answer.to_sdp_string(),
                    video,
                })
                .await?;
            }
            ToMedia::SubscribeOffer(_) => {}
            ToMedia::OfferToPlay => {
                let mut conn = Conn::new(self.local_ip, true).await?;
                let mut api = conn.rtc.sdp_api();
                api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
                api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
                let (offer, pending) = api.apply().context("nothing to offer")?;
                self.pending = Some(pending);
                self.subscriber = Some(conn);
                self.send(ToSignaling::PlayOffer(offer.to_sdp_string()))
                    .await?;
            }
            ToMedia::PlayAnswer(sdp) => {
                let answer = SdpAnswer::from_sdp_string(&sdp)?;
                let pending = self.pending.take().context("an answer without an offer")?;
                let conn = self.subscriber.as_mut().context("no player connection")?;
                conn.rtc.sdp_api().accept_answer(pending, answer)?;
                for params in conn.rtc.codec_config().params() {
                    let clock = f64::from(params.spec().clock_rate.get());
                    self.received.clocks.insert(*params.pt(), clock);
                }
            }
        }
        Ok(())
    }
}

/// Milliseconds since `start`.
fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

/// The mids of an SDP's m-lines, in order (str0m does not list a session's media).
fn mids(sdp: &str) -> impl Iterator<Item = Mid> + '_ {
    sdp.lines()
        .filter_map(|line| line.strip_prefix("a=mid:"))
        .map(|mid| Mid::from(mid.trim()))
}

impl Received {
    /// Counts `packet`, whose datagram waited `lag` in the socket before it was handled.
    fn on_packet(
        &mut self,
        packet: &RtpPacket,
        start: Instant,
        lag: Duration,
        metrics: &mut crate::metrics::Metrics,
    ) {
        let Some(&clock) = self.clocks.get(&*packet.header.payload_type) else {
            return;
        };
        let stream = self.streams.entry(*packet.header.ssrc).or_default();
        let arrival = packet
            .timestamp
            .saturating_duration_since(start)
            .as_secs_f64();
        let newly_expected = stream.on_packet(
            *packet.seq_no,
            u64::from(packet.header.timestamp),
            clock,
            arrival,
        );
        // Audio packets are whole frames; a video frame ends with the marker bit.
        let last_of_frame = packet.header.marker || clock != 90_000.0;
        let stamp = (last_of_frame && packet.payload.len() >= 8).then(|| {
            let tail = &packet.payload[packet.payload.len() - 8..];
            u64::from_le_bytes(tail.try_into().expect("8 bytes"))
        });
        // The delay counts to the datagram's arrival at the socket; the lag after it is the
        // tester's.
        let at_socket = packet
            .timestamp
            .checked_sub(lag)
            .unwrap_or(packet.timestamp);
        metrics.packet_received(
            packet.payload.len() + 12,
            newly_expected,
            stamp,
            at_socket,
            lag,
        );
        if newly_expected > 0 && (*packet.seq_no).is_multiple_of(50) {
            metrics.jitter_sample(stream.jitter_ms());
        }
    }
}

async fn recv(socket: Option<&ClientSocket>, buf: &mut [u8]) -> Option<Arrival> {
    match socket {
        Some(s) => s.recv(buf).await.ok(),
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_the_mids_of_an_sdp() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:a0\r\n\
                   m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:v1\r\n";
        let mids: Vec<Mid> = mids(sdp).collect();
        assert_eq!(mids, vec![Mid::from("a0"), Mid::from("v1")]);
    }
}
