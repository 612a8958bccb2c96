//! Peers joining the simulation, moving to new addresses, and the signaling between them
//! and the routers: publishers' offers answered, subscribers' offers accepted.

use super::*;

impl Sim {
    pub fn add_publisher(&mut self, port: u16) -> usize {
        self.add_simulcast_publisher(port, &[])
    }

    pub fn add_simulcast_publisher(&mut self, port: u16, rids: &[&str]) -> usize {
        self.publish(port, rids, false)
    }

    /// A publisher whose microphone and camera are declared muted in its offer.
    pub fn add_muted_publisher(&mut self, port: u16) -> usize {
        self.publish(port, &[], true)
    }

    fn publish(&mut self, port: u16, rids: &[&str], muted: bool) -> usize {
        let mut peer = Peer::new(port, self.now, self.red);
        let (offer, sources) = peer.offer_tracks(rids, muted);
        let (tx, mut rx) = oneshot::channel();
        self.command(Command::Publish {
            room: self.room,
            participant: peer.id,
            offer,
            sources: Some(sources),
            reply: tx,
        });
        let answer = rx.try_recv().unwrap().unwrap();
        let answer = SdpAnswer::from_sdp_string(&answer.sdp).unwrap();
        let pending = peer.pending.take().unwrap();
        peer.rtc.sdp_api().accept_answer(pending, answer).unwrap();
        self.push_peer(peer)
    }

    fn push_peer(&mut self, peer: Peer) -> usize {
        if let Some(nodes) = &mut self.nodes {
            nodes.peer_nodes.push(nodes.on);
        }
        self.peers.push(peer);
        self.peers.len() - 1
    }

    pub fn add_subscriber(&mut self, port: u16) -> usize {
        self.add_receiver(port, true)
    }

    /// A participant that receives without the data grant: no data channels.
    pub fn add_viewer(&mut self, port: u16) -> usize {
        self.add_receiver(port, false)
    }

    fn add_receiver(&mut self, port: u16, data: bool) -> usize {
        self.try_add_receiver(port, data)
            .expect("a worker takes the subscriber")
    }

    /// A subscriber, unless the media plane refuses it.
    pub fn try_add_subscriber(&mut self, port: u16) -> Result<usize, MediaError> {
        self.try_add_receiver(port, true)
    }

    fn try_add_receiver(&mut self, port: u16, data: bool) -> Result<usize, MediaError> {
        let peer = Peer::new(port, self.now, self.red);
        self.try_command(Command::Subscribe {
            room: self.room,
            participant: peer.id,
            data,
        })?;
        Ok(self.push_peer(peer))
    }

    /// Moves a publisher to `port`, as a network change would: it restarts ICE with a new
    /// offer, then gathers its new address; its old address is gone.
    pub fn move_publisher(&mut self, peer: usize, port: u16) {
        let new = self.move_peer(peer, port);
        let mut api = self.peers[peer].rtc.sdp_api();
        api.ice_restart(false);
        let (offer, pending) = api.apply().unwrap();
        let id = self.peers[peer].id;
        let (tx, mut rx) = oneshot::channel();
        self.command(Command::Publish {
            room: self.room,
            participant: id,
            offer: offer.to_sdp_string(),
            sources: None,
            reply: tx,
        });
        let answer = rx.try_recv().unwrap().unwrap();
        let answer = SdpAnswer::from_sdp_string(&answer.sdp).unwrap();
        let peer = &mut self.peers[peer];
        peer.rtc.sdp_api().accept_answer(pending, answer).unwrap();
        peer.rtc
            .add_local_candidate(Candidate::host(new, "udp").unwrap());
    }

    /// Moves a subscriber to `port`: it asks the server to restart ICE, answers the new
    /// offer, then gathers its new address; its old address is gone.
    pub fn move_subscriber(&mut self, peer: usize, port: u16) {
        let new = self.move_peer(peer, port);
        let participant = self.peers[peer].id;
        self.command(Command::RestartIce { participant });
        self.handle_events();
        self.peers[peer]
            .rtc
            .add_local_candidate(Candidate::host(new, "udp").unwrap());
    }

    fn move_peer(&mut self, peer: usize, port: u16) -> SocketAddr {
        let new: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let peer = &mut self.peers[peer];
        self.gone.push(peer.addr);
        peer.addr = new;
        new
    }

    pub fn video_track_of(&self, peer: usize) -> TrackId {
        let id = self.peers[peer].id;
        self.videos.iter().find(|(p, _)| *p == id).unwrap().1
    }

    /// Answers subscriber offers the router emitted.
    pub fn handle_events(&mut self) {
        for event in self.events() {
            if let MediaEvent::TrackUnpublished { .. } = event {
                self.unpublished += 1;
            }
            if let MediaEvent::SubscriptionPaused {
                participant,
                paused,
                ..
            } = event
            {
                let peer = self.peers.iter_mut().find(|p| p.id == participant).unwrap();
                peer.paused += if paused { 1 } else { -1 };
            }
            if let MediaEvent::DataChannel { .. }
            | MediaEvent::DataReceived { .. }
            | MediaEvent::DataUndelivered { .. } = event
            {
                self.data_events.push(event);
                continue;
            }
            if let MediaEvent::TrackPublished {
                participant, track, ..
            } = &event
                && track.kind == TrackKind::Video
            {
                self.videos.push((*participant, track.id));
            }
            if let MediaEvent::SubscriberOffer {
                participant,
                sdp,
                tracks,
            } = event
            {
                self.last_offer_tracks = Some(tracks.len());
                let peer = self.peers.iter_mut().find(|p| p.id == participant).unwrap();
                peer.offered_tracks = Some(tracks.len());
                peer.offered_m_lines = sdp.matches("\nm=").count();
                peer.offered_data |= sdp.contains("m=application");
                peer.offered_from = tracks.iter().map(|(_, _, p)| *p).collect();
                let offer = SdpOffer::from_sdp_string(&sdp).unwrap();
                let answer = peer.rtc.sdp_api().accept_offer(offer).unwrap();
                let (tx, mut rx) = oneshot::channel();
                self.command(Command::SubscribeAnswer {
                    participant,
                    answer: answer.to_sdp_string(),
                    reply: tx,
                });
                rx.try_recv().unwrap().unwrap();
            }
        }
    }
}
