//! A simulated peer: a str0m client that publishes test media or receives it, and the
//! rate-limited link that may stand in front of it.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use moim_media::ParticipantId;
use moim_media::command::DeclaredTrack;
use moim_proto::signal::TrackSource;
use str0m::change::SdpPendingOffer;
use str0m::channel::ChannelId;
use str0m::format::Codec;
use str0m::media::{
    Direction, Frequency, KeyframeRequestKind, MediaKind, MediaTime, Mid, Rid, Simulcast,
    SimulcastLayer,
};
use str0m::net::Transmit;
use str0m::{Candidate, Event, Output, Rtc};

/// A peer asks for a keyframe after a gap at most this often.
const PLI_EVERY: Duration = Duration::from_millis(500);

pub struct Peer {
    pub id: ParticipantId,
    pub rtc: Rtc,
    pub addr: SocketAddr,
    pub pending: Option<SdpPendingOffer>,
    pub mids: Vec<(Mid, MediaKind)>,
    pub video_frames: u32,
    pub keyframes: u32,
    pub audio_frames: u32,
    pub keyframe_requests: u32,
    /// Simulcast rids sent (`[None]` without simulcast) and whether each owes a keyframe.
    pub rids: Vec<Option<Rid>>,
    pub keyframe_wanted: Vec<bool>,
    pub gaps: u32,
    /// Height of the last keyframe received.
    pub last_keyframe_height: Option<u32>,
    /// Size of the interframes sent.
    pub interframe_bytes: usize,
    /// Data channels the server opened, with their labels.
    pub channels: Vec<(ChannelId, String)>,
    /// Text messages received on data channels.
    pub channel_messages: Vec<String>,
    /// Tracks in the last subscriber offer this peer answered.
    pub offered_tracks: Option<usize>,
    /// The number of m-lines in the latest offer it was sent.
    pub offered_m_lines: usize,
    /// Whether a subscriber offer to this peer carried data channels (`m=application`).
    pub offered_data: bool,
    /// The publishers of those tracks, one entry per track.
    pub offered_from: Vec<ParticipantId>,
    /// A downlink of limited rate, if set; else datagrams arrive at once.
    pub downlink: Option<Downlink>,
    /// Videos the server paused for this peer's bandwidth, less those it resumed.
    pub paused: i32,
    /// The m-lines a sender report arrived for, one entry per report.
    pub sender_reports: Vec<Mid>,
    /// When the peer last asked for a keyframe after a gap.
    last_pli: Option<Instant>,
}

/// A link of fixed rate to a peer, like a token bucket (`tc tbf`): datagrams queue while
/// it is busy, and one that would wait longer than `max_delay` is dropped.
pub struct Downlink {
    pub bps: u64,
    pub max_delay: Duration,
    busy_until: Instant,
    queue: VecDeque<(Instant, Transmit)>,
    pub dropped: u64,
    /// The longest a datagram waited on the link, since the test last cleared it.
    pub longest_wait: Duration,
}

impl Downlink {
    /// An idle link of `bps` bits a second that queues up to `max_delay`.
    pub fn new(bps: u64, max_delay: Duration, now: Instant) -> Downlink {
        Downlink {
            bps,
            max_delay,
            busy_until: now,
            queue: VecDeque::new(),
            dropped: 0,
            longest_wait: Duration::ZERO,
        }
    }

    /// What is still queued, with the time each datagram would have arrived.
    pub fn into_queued(self) -> VecDeque<(Instant, Transmit)> {
        self.queue
    }

    /// Takes a datagram sent at `now`; false when it is dropped.
    pub fn send(&mut self, now: Instant, t: Transmit) -> bool {
        let start = self.busy_until.max(now);
        if start.saturating_duration_since(now) > self.max_delay {
            self.dropped += 1;
            return false;
        }
        let bits = (t.contents.len() as u64 + 28) * 8;
        self.longest_wait = self.longest_wait.max(start.saturating_duration_since(now));
        self.busy_until = start + Duration::from_micros(bits * 1_000_000 / self.bps);
        self.queue.push_back((self.busy_until, t));
        true
    }

    /// The next datagram through by `now`.
    pub fn arrived(&mut self, now: Instant) -> Option<Transmit> {
        if self.queue.front()?.0 <= now {
            return self.queue.pop_front().map(|(_, t)| t);
        }
        None
    }
}

impl Peer {
    /// A peer at `port`; `red`: it offers RED for its sound.
    pub fn new(port: u16, now: Instant, red: bool) -> Peer {
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut rtc = Rtc::builder().enable_opus(true, red).build(now);
        rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
        Peer {
            id: ParticipantId::next(),
            rtc,
            addr,
            pending: None,
            mids: Vec::new(),
            video_frames: 0,
            keyframes: 0,
            audio_frames: 0,
            keyframe_requests: 0,
            rids: vec![None],
            keyframe_wanted: vec![true],
            gaps: 0,
            last_keyframe_height: None,
            interframe_bytes: 6,
            channels: Vec::new(),
            channel_messages: Vec::new(),
            offered_tracks: None,
            offered_m_lines: 0,
            offered_data: false,
            offered_from: Vec::new(),
            downlink: None,
            paused: 0,
            sender_reports: Vec::new(),
            last_pli: None,
        }
    }

    /// Offers one audio and one video track, the video in the given simulcast layers.
    pub fn offer_tracks(&mut self, rids: &[&str], muted: bool) -> (String, Vec<DeclaredTrack>) {
        let simulcast = (!rids.is_empty()).then(|| Simulcast {
            send: rids.iter().map(|r| SimulcastLayer::new(r)).collect(),
            recv: Vec::new(),
        });
        if !rids.is_empty() {
            self.rids = rids.iter().map(|r| Some(Rid::from(*r))).collect();
            self.keyframe_wanted = vec![true; rids.len()];
        }
        let mut api = self.rtc.sdp_api();
        let a = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        let v = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, simulcast);
        let (offer, pending) = api.apply().unwrap();
        self.pending = Some(pending);
        self.mids = vec![(a, MediaKind::Audio), (v, MediaKind::Video)];
        let declare = |mid: Mid, source| DeclaredTrack {
            mid: mid.to_string(),
            source,
            muted,
        };
        let sources = vec![
            declare(a, TrackSource::Microphone),
            declare(v, TrackSource::Camera),
        ];
        (offer.to_sdp_string(), sources)
    }

    /// Sends one audio frame and one video frame per layer (layer i is 180·2^i pixels
    /// tall); a keyframe first and then only when asked.
    pub fn send_frames(&mut self, now: Instant, start: Instant) {
        let micros = (now - start).as_micros() as u64;
        for (mid, kind) in self.mids.clone() {
            let codec = if kind == MediaKind::Audio {
                Codec::Opus
            } else {
                Codec::Vp8
            };
            let pt = {
                let Some(w) = self.rtc.writer(mid) else {
                    continue;
                };
                w.payload_params()
                    .find(|p| p.spec().codec == codec)
                    .unwrap()
                    .pt()
            };
            if kind == MediaKind::Audio {
                let time = MediaTime::from_micros(micros).rebase(Frequency::FORTY_EIGHT_KHZ);
                let w = self.rtc.writer(mid).unwrap();
                w.write(pt, now, time, vec![0xfc; 40]).unwrap();
                continue;
            }
            let time = MediaTime::from_micros(micros).rebase(Frequency::NINETY_KHZ);
            for (i, rid) in self.rids.clone().into_iter().enumerate() {
                let keyframe = std::mem::take(&mut self.keyframe_wanted[i]);
                let data = if keyframe {
                    let height = (180u16 << i).to_le_bytes();
                    let mut f = vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01];
                    f.extend_from_slice(&height);
                    f.resize(2500, 7);
                    f
                } else {
                    let mut f = vec![0x11, 0, 0, 1, 2, 3];
                    // Each layer twice the size of the one below.
                    f.resize((self.interframe_bytes << i).max(f.len()), 7);
                    f
                };
                let mut w = self.rtc.writer(mid).unwrap();
                if let Some(rid) = rid {
                    w = w.rid(rid);
                }
                w.write(pt, now, time, data).unwrap();
            }
        }
    }

    /// Drains the peer's output into `to_server`, counting what it received.
    pub fn poll(&mut self, to_server: &mut Vec<(SocketAddr, Vec<u8>)>) {
        loop {
            match self.rtc.poll_output().unwrap() {
                Output::Transmit(t) => to_server.push((t.source, t.contents.to_vec())),
                Output::Timeout(_) => return,
                Output::Event(Event::MediaData(d)) => {
                    if d.params.spec().codec == Codec::Opus {
                        self.audio_frames += 1;
                    } else {
                        self.video_frames += 1;
                        self.keyframes += u32::from(d.is_keyframe());
                        if d.is_keyframe() && d.data.len() >= 10 {
                            let h = u16::from_le_bytes([d.data[8], d.data[9]]) & 0x3fff;
                            self.last_keyframe_height = Some(u32::from(h));
                        }
                        self.gaps += u32::from(!d.contiguous);
                        // Like a browser's decoder, a gap asks for a keyframe (not
                        // more often than every half second).
                        let due = self.last_pli.is_none_or(|t| {
                            d.network_time.saturating_duration_since(t) >= PLI_EVERY
                        });
                        if !d.contiguous
                            && due
                            && let Some(mut w) = self.rtc.writer(d.mid)
                        {
                            let _ = w.request_keyframe(None, KeyframeRequestKind::Pli);
                            self.last_pli = Some(d.network_time);
                        }
                    }
                }
                Output::Event(Event::KeyframeRequest(r)) => {
                    self.keyframe_requests += 1;
                    for (i, rid) in self.rids.iter().enumerate() {
                        if r.rid.is_none() || r.rid == *rid {
                            self.keyframe_wanted[i] = true;
                        }
                    }
                }
                Output::Event(Event::SenderFeedback(f)) => self.sender_reports.push(f.mid),
                Output::Event(Event::ChannelOpen(id, label)) => self.channels.push((id, label)),
                Output::Event(Event::ChannelData(d)) => {
                    self.channel_messages
                        .push(String::from_utf8_lossy(&d.data).into_owned());
                }
                Output::Event(_) => {}
            }
        }
    }
}
