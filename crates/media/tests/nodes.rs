//! Two media planes in one process, as two nodes of a cluster: their gateways linked for a
//! room over a real TCP connection, sealed; str0m peers on real UDP sockets.

mod sim;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use moim_media::nodes::transport::{self, ControlChannel, End, LinkKeys};
use moim_media::{Command, Forwarding, MediaConfig, MediaEvent, MediaPlane, RoomId};
use str0m::Input;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::net::{Protocol, Receive};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use sim::Peer;

fn plane() -> (MediaPlane, mpsc::Receiver<MediaEvent>) {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    MediaPlane::start(MediaConfig {
        bind: any,
        advertise: any,
        tcp_bind: None,
        workers: 2,
        bandwidth_estimation: false,
        audio_red: false,
        forwarding: Forwarding::Frames,
    })
    .unwrap()
}

/// A peer on a socket of its own, talking to the media plane at `server`.
struct Wired {
    peer: Peer,
    socket: UdpSocket,
    server: SocketAddr,
}

impl Wired {
    fn new(server: SocketAddr) -> Wired {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let peer = Peer::new(socket.local_addr().unwrap().port(), Instant::now(), false);
        Wired {
            peer,
            socket,
            server,
        }
    }

    /// Takes what arrived, lets time pass, sends what is due (and a frame of each track).
    fn turn(&mut self, frames: Option<Instant>) {
        let mut buf = [0; 2000];
        let now = Instant::now();
        while let Ok((n, source)) = self.socket.recv_from(&mut buf) {
            let receive = Receive {
                proto: Protocol::Udp,
                source,
                destination: self.peer.addr,
                contents: (&buf[..n]).try_into().unwrap(),
            };
            let _ = self.peer.rtc.handle_input(Input::Receive(now, receive));
        }
        let _ = self.peer.rtc.handle_input(Input::Timeout(now));
        let mut out = Vec::new();
        self.peer.poll(&mut out);
        if let Some(start) = frames.filter(|_| self.peer.rtc.is_connected()) {
            self.peer.send_frames(now, start);
            let _ = self.peer.rtc.handle_input(Input::Timeout(now));
            self.peer.poll(&mut out);
        }
        for (_, datagram) in out {
            let _ = self.socket.send_to(&datagram, self.server);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publishers_media_reaches_a_subscriber_on_another_node_over_a_sealed_link() {
    str0m::crypto::from_feature_flags().install_process_default();
    let (a, mut a_events) = plane();
    let (b, mut b_events) = plane();
    let (room_a, room_b) = (RoomId::next(), RoomId::next());

    // The link: B connects to A, each sends a salt, both derive the keys.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dialed = TcpStream::connect(listener.local_addr().unwrap());
    let (dialed, accepted) = tokio::join!(dialed, listener.accept());
    let (dialer_salt, listener_salt) = (transport::salt(), transport::salt());
    let keys = |end| LinkKeys::derive(b"secret", &dialer_salt, &listener_salt, "demo", end);
    let link_a = a.nodes().open(room_a).await.unwrap();
    let link_b = b.nodes().open(room_b).await.unwrap();
    // The control planes' messages cross beside the media.
    let (a_says, a_out) = mpsc::channel(8);
    let (b_hears, mut b_in) = mpsc::channel(8);
    let (_b_says, b_out) = mpsc::channel(8);
    let (a_hears, _a_in) = mpsc::channel(8);
    let a_side = tokio::spawn(transport::carry(
        accepted.unwrap().0,
        link_a,
        ControlChannel {
            outgoing: a_out,
            incoming: a_hears,
        },
        keys(End::Listener),
    ));
    let b_side = tokio::spawn(transport::carry(
        dialed.unwrap(),
        link_b,
        ControlChannel {
            outgoing: b_out,
            incoming: b_hears,
        },
        keys(End::Dialer),
    ));
    a_says.send(b"hello".to_vec()).await.unwrap();
    assert_eq!(b_in.recv().await.unwrap(), b"hello");

    let mut alice = Wired::new(a.local_addr());
    let (offer, sources) = alice.peer.offer_tracks(&[], false);
    let (reply, answer) = oneshot::channel();
    a.send(Command::Publish {
        room: room_a,
        participant: alice.peer.id,
        offer,
        sources: Some(sources),
        reply,
    })
    .unwrap();
    let answer = answer.await.unwrap().unwrap();
    let pending = alice.peer.pending.take().unwrap();
    let answer = SdpAnswer::from_sdp_string(&answer.sdp).unwrap();
    alice
        .peer
        .rtc
        .sdp_api()
        .accept_answer(pending, answer)
        .unwrap();

    let mut bob = Wired::new(b.local_addr());
    let mut subscribed = false;

    let start = Instant::now();
    let mut next_frame = start;
    let mut offered_from = Vec::new();
    while start.elapsed() < Duration::from_secs(4) {
        let frame = (Instant::now() >= next_frame).then(|| {
            next_frame += Duration::from_millis(33);
            start
        });
        alice.turn(frame);
        // Bob comes once alice's media flows: his first keyframe has to be asked for.
        if !subscribed && start.elapsed() >= Duration::from_secs(1) {
            subscribed = true;
            b.send(Command::Subscribe {
                room: room_b,
                participant: bob.peer.id,
                data: false,
            })
            .unwrap();
        }
        bob.turn(None);
        while a_events.try_recv().is_ok() {}
        while let Ok(event) = b_events.try_recv() {
            if let MediaEvent::SubscriberOffer {
                participant,
                sdp,
                tracks,
            } = event
            {
                offered_from = tracks.iter().map(|(_, _, p)| *p).collect();
                let offer = SdpOffer::from_sdp_string(&sdp).unwrap();
                let answer = bob.peer.rtc.sdp_api().accept_offer(offer).unwrap();
                let (reply, done) = oneshot::channel();
                b.send(Command::SubscribeAnswer {
                    participant,
                    answer: answer.to_sdp_string(),
                    reply,
                })
                .unwrap();
                done.await.unwrap().unwrap();
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let bob = &bob.peer;
    assert!(bob.video_frames > 40, "video frames: {}", bob.video_frames);
    assert!(bob.audio_frames > 60, "audio frames: {}", bob.audio_frames);
    assert!(bob.keyframes >= 1);
    assert_eq!(offered_from, [alice.peer.id; 2], "under alice's own id");
    assert!(alice.peer.keyframe_requests >= 1, "bob's request crossed");
    assert_eq!(b.stats().router.mirrored_tracks, 4, "both of B's workers");
    assert_eq!(a.stats().router.frames_forwarded, 0);
    assert!(!a_side.is_finished() && !b_side.is_finished());
}
