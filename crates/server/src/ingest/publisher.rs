//! An ingested stream enters its room the way every publisher does: as a WebRTC peer of
//! the SFU. A str0m peer connection in this process offers one H.264 and one Opus track,
//! joins through the same door as WHIP ([`crate::http::whip::open`]: the gate, the
//! publish grant, a participant with a resource), connects over loopback to the media
//! port, and sends the frames it is given. Subscribers, recordings and the room's stream
//! then treat it like any other publisher.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moim_media::ParticipantId;
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::token::Claims;
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::{Codec, PayloadParams};
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::http::whip::{self, Role};
use crate::state::AppState;

/// Frames waiting for the peer connection; the encoder's connection waits when full.
const QUEUE: usize = 128;

/// A frame for the room, timed on the encoder's clock in milliseconds.
#[derive(Debug)]
pub enum Outgoing {
    /// An H.264 access unit in Annex B.
    Video {
        ms: i64,
        /// The AVC profile of the stream (66 baseline, 77 main, 100 high).
        profile: u8,
        data: Vec<u8>,
    },
    /// One Opus packet.
    Audio { ms: i64, data: Vec<u8> },
}

/// A running publisher; dropping it leaves the room.
#[derive(Debug)]
pub struct Publisher {
    /// Where frames go.
    pub frames: mpsc::Sender<Outgoing>,
    state: Arc<AppState>,
    participant: ParticipantId,
    task: tokio::task::JoinHandle<()>,
}

impl Publisher {
    /// Joins `room` as the token's identity (through the gate, with the publish grant) and
    /// connects to the media port.
    pub async fn join(
        state: Arc<AppState>,
        room: &str,
        claims: Claims,
    ) -> Result<Publisher, ApiError> {
        let internal =
            |what: &str| ApiError::new(ErrorCode::Internal, format!("RTMP ingest: {what}."));
        let media = state.media.local_addr();
        let loopback = if media.ip().is_unspecified() || media.ip().is_loopback() {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), media.port())
        } else {
            media
        };
        let socket = UdpSocket::bind(SocketAddr::new(loopback.ip(), 0))
            .await
            .map_err(|_| internal("no local UDP port"))?;
        let local = socket
            .local_addr()
            .map_err(|_| internal("no local UDP port"))?;
        let mut rtc = Rtc::builder()
            .clear_codecs()
            .enable_h264(true)
            .enable_opus(true, false)
            .build(Instant::now());
        let candidate = Candidate::host(local, "udp").map_err(|_| internal("no candidate"))?;
        rtc.add_local_candidate(candidate);
        let mut api = rtc.sdp_api();
        let audio = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        let video = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
        let (offer, pending) = api.apply().ok_or_else(|| internal("no offer"))?;
        let identity = claims.sub.clone();
        let opened = whip::open(
            &state,
            room,
            "rtmp",
            claims,
            identity,
            Role::Publisher,
            offer.to_sdp_string(),
            whip::publish_offer,
        )
        .await?;
        let participant = opened.participant;
        let connected = accept(&mut rtc, pending, &opened.answer, loopback);
        if connected.is_err() {
            state.remove_participant(participant);
            return Err(internal("the media plane's answer was not understood"));
        }
        let (frames, queued) = mpsc::channel(QUEUE);
        let peer = Peer {
            rtc,
            socket,
            audio,
            video,
            epoch: None,
            video_pt: None,
            audio_pt: None,
            buf: vec![0; 2000],
        };
        let task = tokio::spawn(peer.run(queued));
        Ok(Publisher {
            frames,
            state,
            participant,
            task,
        })
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.task.abort();
        self.state.remove_participant(self.participant);
    }
}

/// Takes the SFU's answer and adds its media port on loopback as a candidate (the answer
/// names the address browsers reach, which this process may not).
fn accept(
    rtc: &mut Rtc,
    pending: SdpPendingOffer,
    answer: &str,
    media: SocketAddr,
) -> Result<(), ()> {
    let answer = SdpAnswer::from_sdp_string(answer).map_err(|_| ())?;
    rtc.sdp_api()
        .accept_answer(pending, answer)
        .map_err(|_| ())?;
    let candidate = Candidate::host(media, "udp").map_err(|_| ())?;
    rtc.add_remote_candidate(candidate);
    Ok(())
}

struct Peer {
    rtc: Rtc,
    socket: UdpSocket,
    audio: Mid,
    video: Mid,
    /// The instant the encoder's clock reads zero (set by the first frame).
    epoch: Option<Instant>,
    /// The payload types negotiated for the stream, chosen at its first frame.
    video_pt: Option<Option<Pt>>,
    audio_pt: Option<Option<Pt>>,
    buf: Vec<u8>,
}

/// The payload type on `mid` for `codec`. For H.264, the one of the stream's profile as
/// browsers offer it: baseline and main as they are, high and beyond as main (browsers
/// that receive H.264 over WebRTC offer baseline and main, some not high, and their
/// decoders play high profile streams labelled so; the label only picks the payload type).
fn choose_pt(rtc: &mut Rtc, mid: Mid, codec: Codec, profile: Option<u8>) -> Option<Pt> {
    let profile = profile.map(|p| if p == 66 { 0x42 } else { 0x4d });
    let writer = rtc.writer(mid)?;
    let params: Vec<&PayloadParams> = writer
        .payload_params()
        .filter(|p| p.spec().codec == codec)
        .filter(|p| codec != Codec::H264 || p.spec().format.packetization_mode == Some(1))
        .collect();
    let of_profile = params.iter().find(|p| {
        profile.is_some_and(|want| {
            p.spec().format.profile_level_id.map(|id| (id >> 16) as u8) == Some(want)
        })
    });
    of_profile.or(params.first()).map(|p| p.pt())
}

impl Peer {
    async fn run(mut self, mut frames: mpsc::Receiver<Outgoing>) {
        loop {
            let timeout = match self.drive() {
                Ok(t) => t,
                Err(e) => {
                    warn!("RTMP ingest's peer connection failed: {e}");
                    return;
                }
            };
            let wait = timeout.saturating_duration_since(Instant::now());
            tokio::select! {
                received = self.socket.recv_from(&mut self.buf) => {
                    let Ok((n, source)) = received else { continue };
                    let Ok(destination) = self.socket.local_addr() else { continue };
                    let Ok(contents) = self.buf[..n].try_into() else { continue };
                    let input = Input::Receive(Instant::now(), Receive {
                        proto: Protocol::Udp,
                        source,
                        destination,
                        contents,
                    });
                    if let Err(e) = self.rtc.handle_input(input) {
                        debug!("RTMP ingest's peer connection refused a datagram: {e}");
                    }
                }
                frame = frames.recv() => {
                    let Some(frame) = frame else { return };
                    self.send(frame);
                }
                () = tokio::time::sleep(wait) => {
                    let _ = self.rtc.handle_input(Input::Timeout(Instant::now()));
                }
            }
            if !self.rtc.is_alive() {
                return;
            }
        }
    }

    /// Sends what the peer connection wants sent; its next deadline.
    fn drive(&mut self) -> Result<Instant, str0m::RtcError> {
        loop {
            match self.rtc.poll_output()? {
                Output::Transmit(t) => {
                    let _ = self.socket.try_send_to(&t.contents, t.destination);
                }
                Output::Timeout(t) => return Ok(t.min(Instant::now() + Duration::from_secs(1))),
                Output::Event(Event::IceConnectionStateChange(state)) => {
                    debug!(?state, "RTMP ingest's peer connection");
                }
                Output::Event(_) => {}
            }
        }
    }

    /// Writes one frame on its track, timed on the encoder's clock.
    fn send(&mut self, frame: Outgoing) {
        let (mid, ms, data, rate, profile) = match frame {
            Outgoing::Video {
                ms, data, profile, ..
            } => (self.video, ms, data, Frequency::NINETY_KHZ, Some(profile)),
            Outgoing::Audio { ms, data } => {
                (self.audio, ms, data, Frequency::FORTY_EIGHT_KHZ, None)
            }
        };
        let now = Instant::now();
        let epoch = *self
            .epoch
            .get_or_insert_with(|| now - Duration::from_millis(ms.max(0) as u64));
        let pt = match profile {
            Some(profile) => *self
                .video_pt
                .get_or_insert_with(|| choose_pt(&mut self.rtc, mid, Codec::H264, Some(profile))),
            None => *self
                .audio_pt
                .get_or_insert_with(|| choose_pt(&mut self.rtc, mid, Codec::Opus, None)),
        };
        let (Some(pt), Some(writer)) = (pt, self.rtc.writer(mid)) else {
            return;
        };
        let at = epoch + Duration::from_millis(ms.max(0) as u64);
        let time = MediaTime::new(ms.max(0) as u64, Frequency::MILLIS).rebase(rate);
        if let Err(e) = writer.write(pt, at, time, data) {
            debug!("RTMP ingest could not send a frame: {e}");
        }
    }
}
