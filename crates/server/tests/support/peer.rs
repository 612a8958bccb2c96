//! A participant made of str0m peer connections, run as a task: it publishes one Opus and
//! one VP8 track (of synthetic frames, or of a real encoded [`Clip`]) and counts the
//! frames it receives from others.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

use super::clip::Clip;

/// What a peer has seen so far.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub audio_frames: u64,
    pub video_frames: u64,
    pub video_keyframes: u64,
    /// The first video frame's payload, as received.
    pub first_video: Option<Vec<u8>>,
    pub messages: Vec<Value>,
}

impl Seen {
    /// The SDP of every subscriber offer received, in order.
    pub fn subscriber_offers(&self) -> Vec<String> {
        self.messages
            .iter()
            .filter(|m| m["type"] == "subscribe_offer")
            .map(|m| m["sdp"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// A running peer; dropping it stops the task (as if the process vanished).
pub struct Peer {
    pub seen: Arc<Mutex<Seen>>,
    stop: Option<oneshot::Sender<()>>,
    say: mpsc::Sender<Value>,
}

impl Peer {
    /// Joins with `token` and, if `publish`, sends audio and video.
    pub async fn join(url: &str, token: &str, publish: bool) -> Peer {
        Peer::start(url, token, publish, None).await
    }

    /// Joins with `token` and sends `clip`, looped.
    pub async fn join_sending(url: &str, token: &str, clip: Arc<Clip>) -> Peer {
        Peer::start(url, token, true, Some(clip)).await
    }

    async fn start(url: &str, token: &str, publish: bool, clip: Option<Arc<Clip>>) -> Peer {
        let (ws, reply) = joined(url, token).await;
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (stop_tx, stop_rx) = oneshot::channel();
        let (say, said) = mpsc::channel(16);
        let task = Task {
            ws,
            said,
            publisher: None,
            subscriber: None,
            pending: None,
            mids: Vec::new(),
            seen: seen.clone(),
            frame: 0,
            audio_frames: 0,
            clip,
        };
        tokio::spawn(task.run(reply, publish, stop_rx));
        Peer {
            seen,
            stop: Some(stop_tx),
            say,
        }
    }

    /// Sends a signaling message of the test's own (its replies land in `seen().messages`).
    pub async fn send(&self, message: Value) {
        self.say.send(message).await.expect("the peer runs");
    }

    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `check` holds, failing after `within`.
    pub async fn wait_for(&self, within: Duration, what: &str, check: impl Fn(&Seen) -> bool) {
        let deadline = Instant::now() + within;
        loop {
            if check(&self.seen()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {:?}",
                {
                    let s = self.seen();
                    let types: Vec<_> = s.messages.iter().map(|m| m["type"].to_string()).collect();
                    (s.audio_frames, s.video_frames, types)
                }
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the peer without saying goodbye.
    pub fn vanish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

struct Conn {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
}

impl Conn {
    async fn new() -> Conn {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let local = socket.local_addr().unwrap();
        let mut rtc = Rtc::builder().build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
        Conn { rtc, socket, local }
    }

    /// Sends what the Rtc wants sent; returns its next timeout and collects its events.
    fn poll(&mut self, events: &mut Vec<Event>) -> Instant {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Transmit(t)) => {
                    let _ = self.socket.try_send_to(&t.contents, t.destination);
                }
                Ok(Output::Timeout(t)) => return t,
                Ok(Output::Event(e)) => events.push(e),
                Err(e) => panic!("peer rtc failed: {e}"),
            }
        }
    }

    fn receive(&mut self, buf: &[u8], source: SocketAddr) {
        let Ok(contents) = buf.try_into() else { return };
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
}

struct Task {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    said: mpsc::Receiver<Value>,
    publisher: Option<Conn>,
    subscriber: Option<Conn>,
    pending: Option<SdpPendingOffer>,
    mids: Vec<(Mid, MediaKind)>,
    seen: Arc<Mutex<Seen>>,
    /// Video frames sent.
    frame: u64,
    audio_frames: u64,
    clip: Option<Arc<Clip>>,
}

impl Task {
    async fn send(&mut self, v: Value) {
        let _ = self.ws.send(Message::text(v.to_string())).await;
    }

    async fn run(mut self, reply: Value, publish: bool, mut stop: oneshot::Receiver<()>) {
        self.on_message(reply).await;
        if publish {
            let mut conn = Conn::new().await;
            let mut api = conn.rtc.sdp_api();
            let audio = api.add_media(
                MediaKind::Audio,
                Direction::SendOnly,
                Some("s".into()),
                Some("a".into()),
                None,
            );
            let video = api.add_media(
                MediaKind::Video,
                Direction::SendOnly,
                Some("s".into()),
                Some("v".into()),
                None,
            );
            let (offer, pending) = api.apply().unwrap();
            self.pending = Some(pending);
            self.mids = vec![(audio, MediaKind::Audio), (video, MediaKind::Video)];
            self.publisher = Some(conn);
            let tracks = json!([{"mid": audio.to_string(), "source": "microphone"},
                                {"mid": video.to_string(), "source": "camera"}]);
            self.send(
                json!({"type": "publish_offer", "sdp": offer.to_sdp_string(), "tracks": tracks}),
            )
            .await;
        }
        let mut buf_a = vec![0u8; 2000];
        let mut buf_b = vec![0u8; 2000];
        let start = Instant::now();
        let mut next_frame = start;
        loop {
            let mut events = Vec::new();
            let mut deadline = Instant::now() + Duration::from_millis(100);
            for conn in [&mut self.publisher, &mut self.subscriber]
                .into_iter()
                .flatten()
            {
                deadline = deadline.min(conn.poll(&mut events));
            }
            self.count(events);
            if self
                .publisher
                .as_ref()
                .is_some_and(|c| c.rtc.is_connected())
            {
                deadline = deadline.min(next_frame);
            }
            let pub_sock = self.publisher.as_ref().map(|c| &c.socket);
            let sub_sock = self.subscriber.as_ref().map(|c| &c.socket);
            tokio::select! {
                _ = &mut stop => return,
                Some(message) = self.said.recv() => {
                    let _ = self.ws.send(Message::text(message.to_string())).await;
                },
                msg = self.ws.next() => match msg {
                    Some(Ok(Message::Text(t))) => self.on_message(serde_json::from_str(&t).unwrap()).await,
                    Some(Ok(_)) => {}
                    _ => return,
                },
                r = recv(pub_sock, &mut buf_a) => if let Some((n, from)) = r {
                    self.publisher.as_mut().unwrap().receive(&buf_a[..n], from);
                },
                r = recv(sub_sock, &mut buf_b) => if let Some((n, from)) = r {
                    self.subscriber.as_mut().unwrap().receive(&buf_b[..n], from);
                },
                _ = tokio::time::sleep_until(deadline.into()) => {
                    let now = Instant::now();
                    for conn in [&mut self.publisher, &mut self.subscriber].into_iter().flatten() {
                        let _ = conn.rtc.handle_input(Input::Timeout(now));
                    }
                    if now >= next_frame && self.publisher.as_ref().is_some_and(|c| c.rtc.is_connected()) {
                        self.send_frames(start, now);
                        next_frame = now + Duration::from_millis(5);
                    }
                }
            }
        }
    }

    /// Sends the frames due by `now`: Opus every 20 ms, VP8 at 30 frames a second (a
    /// keyframe every second). Media times follow the frame rates exactly, and so do the
    /// wall-clock times given with them (which the sender reports carry).
    fn send_frames(&mut self, start: Instant, now: Instant) {
        let conn = self.publisher.as_mut().unwrap();
        let audio_at = Duration::from_millis(20 * self.audio_frames);
        let audio_due = now - start >= audio_at;
        let video_at = Duration::from_micros(33_333 * self.frame);
        let video_due = now - start >= video_at;
        for (mid, kind) in &self.mids {
            let due = if *kind == MediaKind::Video {
                video_due
            } else {
                audio_due
            };
            if !due {
                continue;
            }
            let Some(writer) = conn.rtc.writer(*mid) else {
                continue;
            };
            let codec = if *kind == MediaKind::Audio {
                Codec::Opus
            } else {
                Codec::Vp8
            };
            let Some(pt) = writer
                .payload_params()
                .find(|p| p.spec().codec == codec)
                .map(|p| p.pt())
            else {
                continue;
            };
            let clip = self.clip.as_deref();
            let (at, time, data) = if *kind == MediaKind::Audio {
                let data = clip.map_or_else(
                    || vec![0xfc; 60],
                    |c| c.audio[self.audio_frames as usize % c.audio.len()].clone(),
                );
                (
                    audio_at,
                    MediaTime::from_micros(audio_at.as_micros() as u64)
                        .rebase(str0m::media::Frequency::FORTY_EIGHT_KHZ),
                    data,
                )
            } else if let Some(c) = clip {
                (
                    video_at,
                    MediaTime::from_micros(video_at.as_micros() as u64)
                        .rebase(str0m::media::Frequency::NINETY_KHZ),
                    c.video[self.frame as usize % c.video.len()].clone(),
                )
            } else {
                let keyframe = self.frame.is_multiple_of(30);
                let mut frame = if keyframe {
                    vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00]
                } else {
                    vec![0x11, 0x02, 0x00]
                };
                frame.resize(if keyframe { 3000 } else { 800 }, 0x42);
                (
                    video_at,
                    MediaTime::from_micros(video_at.as_micros() as u64)
                        .rebase(str0m::media::Frequency::NINETY_KHZ),
                    frame,
                )
            };
            let _ = writer.write(pt, start + at, time, data);
        }
        if video_due {
            self.frame += 1;
        }
        if audio_due {
            self.audio_frames += 1;
        }
    }

    fn count(&mut self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let mut seen = self.seen.lock().unwrap();
        for e in events {
            if let Event::MediaData(d) = e {
                if d.params.spec().codec == Codec::Opus {
                    seen.audio_frames += 1;
                } else {
                    seen.video_frames += 1;
                    if seen.first_video.is_none() {
                        seen.first_video = Some(d.data.to_vec());
                    }
                    if d.is_keyframe() {
                        seen.video_keyframes += 1;
                    }
                }
            }
        }
    }

    async fn on_message(&mut self, msg: Value) {
        self.seen.lock().unwrap().messages.push(msg.clone());
        match msg["type"].as_str() {
            Some("publish_answer") => {
                let answer = SdpAnswer::from_sdp_string(msg["sdp"].as_str().unwrap()).unwrap();
                let pending = self.pending.take().unwrap();
                self.publisher
                    .as_mut()
                    .unwrap()
                    .rtc
                    .sdp_api()
                    .accept_answer(pending, answer)
                    .unwrap();
            }
            Some("subscribe_offer") => {
                if self.subscriber.is_none() {
                    self.subscriber = Some(Conn::new().await);
                }
                let offer = SdpOffer::from_sdp_string(msg["sdp"].as_str().unwrap()).unwrap();
                let conn = self.subscriber.as_mut().unwrap();
                let answer = conn.rtc.sdp_api().accept_offer(offer).unwrap();
                self.send(json!({"type": "subscribe_answer", "sdp": answer.to_sdp_string()}))
                    .await;
            }
            _ => {}
        }
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Joins with `token` at `url`, following `moved` to the node hosting the room as the
/// client library does; returns the socket and the reply to `join` there.
async fn joined(url: &str, token: &str) -> (Socket, Value) {
    let mut url = url.to_owned();
    for _ in 0..3 {
        let (mut ws, _) = tokio_tungstenite::connect_async(&url)
            .await
            .expect("ws connects");
        let join = json!({"type": "join", "v": 1, "token": token});
        ws.send(Message::text(join.to_string())).await.unwrap();
        let reply = loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => break serde_json::from_str::<Value>(&t).unwrap(),
                Some(Ok(_)) => {}
                other => panic!("no reply to join: {other:?}"),
            }
        };
        if reply["type"] != "moved" {
            return (ws, reply);
        }
        url = reply["url"].as_str().unwrap().to_owned();
    }
    panic!("moved more than three times");
}

async fn recv(socket: Option<&UdpSocket>, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
    match socket {
        Some(s) => s.recv_from(buf).await.ok(),
        None => std::future::pending().await,
    }
}
