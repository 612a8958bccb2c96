//! One leg of a relay: a str0m peer connection of this process on its own UDP socket,
//! offering and driving, as a browser would.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind, Mid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcError};
use tokio::net::UdpSocket;

/// The longest a leg sleeps without looking at its peer connection.
const MAX_WAIT: Duration = Duration::from_secs(1);
/// How often a watched leg checks that its peer answers.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The rids of the layers a relay carries, smallest first.
pub const LAYERS: [&str; 3] = ["q", "h", "f"];

/// A peer connection and its socket, with one audio m-line and the video's.
pub struct Leg {
    pub rtc: Rtc,
    pub socket: UdpSocket,
    local: SocketAddr,
    pub audio: Mid,
    /// Receiving: an m-line per layer of [`LAYERS`]; sending: one, with those layers as
    /// simulcast.
    pub video: Vec<Mid>,
}

impl Leg {
    /// A leg on `socket` (bound to the address its peer reaches it at) with one audio
    /// m-line in `direction` and the video's (receiving: one per layer, so that the peer
    /// sends each layer on its own; sending: one with every layer), and its offer.
    /// `watched`: the peer is checked every second (STUN), so that a peer gone is noticed
    /// within a few.
    pub fn offer(
        socket: UdpSocket,
        direction: Direction,
        watched: bool,
    ) -> anyhow::Result<(Leg, SdpOffer, SdpPendingOffer)> {
        let local = socket.local_addr()?;
        let mut config = Rtc::builder();
        if watched {
            config.set_max_stun_rto(CHECK_EVERY);
        }
        let mut rtc = config.build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp")?);
        let mut api = rtc.sdp_api();
        let audio = api.add_media(MediaKind::Audio, direction, None, None, None);
        let video = if direction == Direction::SendOnly {
            let simulcast = Simulcast {
                send: LAYERS.iter().map(|rid| SimulcastLayer::new(rid)).collect(),
                recv: Vec::new(),
            };
            vec![api.add_media(MediaKind::Video, direction, None, None, Some(simulcast))]
        } else {
            LAYERS
                .iter()
                .map(|_| api.add_media(MediaKind::Video, direction, None, None, None))
                .collect()
        };
        let (offer, pending) = api
            .apply()
            .ok_or_else(|| anyhow::anyhow!("no offer to make"))?;
        let leg = Leg {
            rtc,
            socket,
            local,
            audio,
            video,
        };
        Ok((leg, offer, pending))
    }

    /// Takes the answer; `media` is where the peer's media port is reached from here, when
    /// that is not the address its answer names.
    pub fn accept(
        &mut self,
        pending: SdpPendingOffer,
        answer: &str,
        media: Option<SocketAddr>,
    ) -> anyhow::Result<()> {
        let answer = SdpAnswer::from_sdp_string(answer)?;
        self.rtc.sdp_api().accept_answer(pending, answer)?;
        if let Some(media) = media {
            self.rtc
                .add_remote_candidate(Candidate::host(media, "udp")?);
        }
        Ok(())
    }

    /// Feeds a datagram from `source` to the peer connection.
    pub fn receive(&mut self, datagram: &[u8], source: SocketAddr) {
        let Ok(contents) = datagram.try_into() else {
            return;
        };
        let input = Input::Receive(
            Instant::now(),
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.local,
                contents,
            },
        );
        let _ = self.rtc.handle_input(input);
    }

    /// Lets the peer connection's timers run.
    pub fn tick(&mut self, now: Instant) {
        let _ = self.rtc.handle_input(Input::Timeout(now));
    }

    /// Sends what is due and collects the events; the next deadline.
    pub fn drive(&mut self, events: &mut Vec<Event>) -> Result<Instant, RtcError> {
        loop {
            match self.rtc.poll_output()? {
                Output::Transmit(t) => {
                    let _ = self.socket.try_send_to(&t.contents, t.destination);
                }
                Output::Timeout(t) => return Ok(t.min(Instant::now() + MAX_WAIT)),
                Output::Event(e) => events.push(e),
            }
        }
    }
}
