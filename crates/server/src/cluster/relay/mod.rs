//! Rooms and broadcasts spanning nodes: node-to-node media relay.
//!
//! A WHEP player (`POST /whep/{room}`) that reaches a node where its room does not run
//! stays there: the node mirrors the room ([`crate::room::Rooms::mirror`]) and runs one
//! relay for it, however many players it has. The relay plays the room's stream from the
//! room's node as a WHEP client of it (a str0m peer connection, DTLS-SRTP between the
//! nodes' media ports) and publishes what it receives into the mirror as a local WHIP
//! publisher would (over loopback), so the players here follow it like any room's stream.
//! The room's node sends each track once per node that mirrors it, not once per player.
//!
//! The relay takes each simulcast layer of the video on its own m-line (the room's node
//! gives a player with several video m-lines one layer on each) and publishes them into
//! the mirror as one simulcast video, so the players here get the layer their own
//! bandwidth carries, chosen here as on the room's node. Keyframe requests of the
//! players go up as the relay's own for their layer, coalesced on the way by both nodes'
//! media planes. The relay ends when its last player has been gone for [`LINGER`], when the
//! room comes to run here, or when the room's node stops answering (for [`LOST_AFTER`]);
//! in that last case its players end too, and join again (WHEP clients retry), which
//! places the room anew. A player waits for a new relay's connection to the room's node;
//! when there is none (the node unreachable, its certificate not trusted, or its media
//! not coming through), the player and those after it are sent to the room's node (`307`)
//! for [`UNRELAYABLE_FOR`].

mod leg;
pub mod origin;
pub mod watch;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moim_media::ParticipantId;
use moim_proto::error::ApiError;
use moim_proto::token::{Claims, GrantPreset, Grants};
use str0m::Event;
use str0m::media::{Direction, KeyframeRequestKind, MediaData, Mid, Pt, Rid};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::cluster::node::NodeInfo;
use crate::http::whip::{self, Role};
use crate::state::{AppState, unix_now};
use leg::{LAYERS, Leg};

/// The identity a relay has on both nodes (players of a room see no one by it: a relay
/// plays hidden on the room's node and publishes only into a mirror).
pub const RELAY_IDENTITY: &str = "moim-relay";
/// How long a relay outlives its last player (a reload comes back to it).
pub const LINGER: Duration = Duration::from_secs(10);
/// How long the room's node may stay silent (it answers the relay's checks every
/// second, media or not) before the relay gives up.
const LOST_AFTER: Duration = Duration::from_secs(4);
/// How often a relay looks at its mirror.
const CHECK: Duration = Duration::from_secs(1);
/// Seconds the token a relay shows the room's node stays valid (it is shown once).
const TOKEN_SECONDS: u64 = 60;
/// How long after a relay ended its mirror is looked at again for players let in as it
/// ended (a player's offer is checked between its admission and its joining).
const LATE_PLAYERS: Duration = Duration::from_secs(2);
/// How long players of a room whose node could not be relayed from are sent there instead.
const UNRELAYABLE_FOR: Duration = Duration::from_secs(30);

/// The relays this node runs, one per mirrored room.
#[derive(Debug, Default)]
pub struct Relays {
    running: Mutex<HashMap<String, Running>>,
    /// Rooms whose node could not be relayed from, and since when.
    unrelayable: Mutex<HashMap<String, Instant>>,
    /// The watch page's viewers of rooms of other nodes, and of this node's rooms elsewhere.
    pub watch: watch::Watch,
}

/// A relay's task, and whether it reached the room's node (`None` while it tries).
#[derive(Debug)]
struct Running {
    task: JoinHandle<()>,
    opened: tokio::sync::watch::Receiver<Option<bool>>,
}

/// Where a player of a room running on another node is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// In this node's mirror of the room, fed by its relay.
    Mirrored,
    /// Here: the room runs on this node after all.
    Here,
    /// On the room's node: this node could not relay from it (lately).
    Elsewhere,
}

impl Relays {
    /// Mirrors room `name`, which runs on `node`, for a player about to join it here, with
    /// the room's door as its node last wrote it to Redis (so the lock, the waiting room
    /// and bans hold here too): starts its relay unless one runs, and waits until its
    /// connection to the room's node is up (at most [`LOST_AFTER`]).
    pub async fn admit(
        &self,
        state: &Arc<AppState>,
        name: &str,
        node: NodeInfo,
    ) -> Result<Admission, ApiError> {
        if self.unrelayable(name) {
            return Ok(Admission::Elsewhere);
        }
        let door = state.cluster.room_state(name).await?;
        let Some(mut opened) = self.ensure(state, name, node) else {
            return Ok(Admission::Here);
        };
        if let Some(door) = door {
            state.rooms().mirror_door(name, &door);
        }
        let reached = opened
            .wait_for(Option::is_some)
            .await
            .is_ok_and(|o| *o == Some(true));
        Ok(if reached {
            Admission::Mirrored
        } else {
            Admission::Elsewhere
        })
    }

    /// Whether room `name`'s node could not be relayed from within [`UNRELAYABLE_FOR`]:
    /// its players go there.
    pub fn unrelayable(&self, name: &str) -> bool {
        let mut failed = self.unrelayable.lock().unwrap_or_else(|e| e.into_inner());
        failed.retain(|_, at| at.elapsed() < UNRELAYABLE_FOR);
        failed.contains_key(name)
    }

    /// Mirrors room `name`, which runs on `node`: starts its relay unless one runs; how
    /// its opening goes. `None` when the room runs here after all.
    fn ensure(
        &self,
        state: &Arc<AppState>,
        name: &str,
        node: NodeInfo,
    ) -> Option<tokio::sync::watch::Receiver<Option<bool>>> {
        if !state.rooms().mirror(name) {
            return None;
        }
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(relay) = running.get(name).filter(|r| !r.task.is_finished()) {
            return Some(relay.opened.clone());
        }
        info!(room = name, node = %node.id, "relaying the room from its node");
        let (tell, opened) = tokio::sync::watch::channel(None);
        let task = tokio::spawn(relay(state.clone(), name.to_owned(), node, tell));
        running.insert(
            name.to_owned(),
            Running {
                task,
                opened: opened.clone(),
            },
        );
        Some(opened)
    }

    /// Notes that room `name`'s node cannot be relayed from, and tells those waiting.
    fn give_up(&self, name: &str, opened: &tokio::sync::watch::Sender<Option<bool>>) {
        let mut failed = self.unrelayable.lock().unwrap_or_else(|e| e.into_inner());
        failed.insert(name.to_owned(), Instant::now());
        drop(failed);
        opened.send_replace(Some(false));
    }

    /// Forgets room `name`'s relay, which is ending: the next player starts another.
    fn forget(&self, name: &str) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.remove(name);
    }

    /// How many rooms this node mirrors from other nodes now.
    pub fn count(&self) -> usize {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.retain(|_, relay| !relay.task.is_finished());
        running.len()
    }
}

/// Why a relay ended.
#[derive(Debug, PartialEq)]
enum End {
    /// Its last player left, or the room came to run here.
    Unneeded,
    /// The room's node could not be reached or stopped answering.
    Lost,
}

async fn relay(
    state: Arc<AppState>,
    room: String,
    node: NodeInfo,
    opened: tokio::sync::watch::Sender<Option<bool>>,
) {
    let mut link = match Link::open(&state, &room, &node).await {
        Ok(link) => link,
        Err(e) => {
            warn!(room, node = %node.id, "cannot relay the room from its node, so its players are sent there for {UNRELAYABLE_FOR:?}: {e:#}");
            state.relays.give_up(&room, &opened);
            end_players(&state, &room);
            return;
        }
    };
    let end = link.run(&state, &room, &opened).await;
    // Players from now on get a relay of their own, not this one.
    state.relays.forget(&room);
    if end == End::Lost && opened.borrow().is_none() {
        warn!(room, node = %node.id, "the room's node answered but its media never came through, so its players are sent there for {UNRELAYABLE_FOR:?}");
        state.relays.give_up(&room, &opened);
    }
    state.remove_participant(link.publisher);
    if let Err(e) = origin::stop(&node.url, &link.location).await {
        debug!(
            room,
            "could not end the relay's session on the room's node: {e:#}"
        );
    }
    info!(room, node = %node.id, ?end, "relay ended");
    if end == End::Lost {
        end_players(&state, &room);
        return;
    }
    // A player let in just as the relay ended is in the mirror without a stream: it gets
    // a new relay.
    tokio::time::sleep(LATE_PLAYERS).await;
    if players(&state, &room).is_some_and(|n| n > 0) {
        state.relays.ensure(&state, &room, node);
    }
}

/// Ends the players of mirror `room`: their stream is gone.
fn end_players(state: &AppState, room: &str) {
    let players: Vec<ParticipantId> = state
        .rooms()
        .room(room)
        .filter(|r| r.is_mirror())
        .map(|r| r.roster().iter().map(|p| p.id).collect())
        .unwrap_or_default();
    for player in players {
        state.remove_participant(player);
    }
}

/// A running relay: the leg to the room's node and the leg into the mirror.
struct Link {
    up: Leg,
    down: Leg,
    /// The relay's session on the room's node.
    location: String,
    /// The relay as a participant of the mirror.
    publisher: ParticipantId,
    /// The mirror's payload type for each (up m-line, up payload type).
    pts: HashMap<(Mid, Pt), Option<Pt>>,
}

impl Link {
    async fn open(state: &Arc<AppState>, room: &str, node: &NodeInfo) -> anyhow::Result<Link> {
        let origin: SocketAddr = node
            .media
            .parse()
            .map_err(|_| anyhow::anyhow!("the room's node has no media address"))?;
        // The address this node reaches the room's node from.
        let socket = std::net::UdpSocket::bind(SocketAddr::new(unspecified(origin.ip()), 0))?;
        socket.connect(origin)?;
        let local = SocketAddr::new(socket.local_addr()?.ip(), 0);
        let socket = UdpSocket::bind(local).await?;
        let (mut up, offer, pending) = Leg::offer(socket, Direction::RecvOnly, true)?;
        let token = relay_claims(state, room, GrantPreset::Viewer).sign(&state.config.api_secret);
        let played = origin::play(&node.url, room, &token, &offer.to_sdp_string()).await?;
        up.accept(pending, &played.answer, None)?;

        let media = state.media.local_addr();
        let loopback = if media.ip().is_unspecified() || media.ip().is_loopback() {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), media.port())
        } else {
            media
        };
        let socket = UdpSocket::bind(SocketAddr::new(loopback.ip(), 0)).await?;
        let (mut down, offer, pending) = Leg::offer(socket, Direction::SendOnly, false)?;
        let claims = relay_claims(state, room, GrantPreset::Guest);
        let opened = whip::open(
            state,
            room,
            "relay",
            claims,
            RELAY_IDENTITY.to_owned(),
            Role::Publisher,
            offer.to_sdp_string(),
            whip::publish_offer,
        )
        .await;
        let opened = match opened {
            Ok(opened) => opened,
            Err(e) => {
                let _ = origin::stop(&node.url, &played.location).await;
                anyhow::bail!("the mirror refused the relay: {}", e.message);
            }
        };
        if let Err(e) = down.accept(pending, &opened.answer, Some(loopback)) {
            state.remove_participant(opened.participant);
            let _ = origin::stop(&node.url, &played.location).await;
            return Err(e);
        }
        Ok(Link {
            up,
            down,
            location: played.location,
            publisher: opened.participant,
            pts: HashMap::new(),
        })
    }

    /// Carries media down and keyframe requests up until the relay is not needed or the
    /// room's node is lost; tells `opened` once the connection to the room's node is up.
    async fn run(
        &mut self,
        state: &AppState,
        room: &str,
        opened: &tokio::sync::watch::Sender<Option<bool>>,
    ) -> End {
        let mut events = Vec::new();
        let (mut up_buf, mut down_buf) = (vec![0; 2000], vec![0; 2000]);
        let mut next_check = Instant::now() + CHECK;
        let mut unwatched_since: Option<Instant> = None;
        let mut heard = Instant::now();
        loop {
            let up_deadline = match self.up.drive(&mut events) {
                Ok(t) => t,
                Err(e) => {
                    warn!(room, "the relay's link to the room's node failed: {e}");
                    return End::Lost;
                }
            };
            for event in events.drain(..) {
                if let Event::MediaData(data) = event {
                    self.forward(data);
                }
            }
            if opened.borrow().is_none() && self.up.rtc.is_connected() {
                opened.send_replace(Some(true));
            }
            let down_deadline = match self.down.drive(&mut events) {
                Ok(t) => t,
                Err(e) => {
                    warn!(room, "the relay's link into the mirror failed: {e}");
                    return End::Lost;
                }
            };
            for event in events.drain(..) {
                if let Event::KeyframeRequest(request) = event {
                    self.ask_keyframe(request.rid, request.kind);
                }
            }
            let wake = up_deadline.min(down_deadline).min(next_check);
            tokio::select! {
                received = self.up.socket.recv_from(&mut up_buf) => {
                    if let Ok((n, source)) = received {
                        heard = Instant::now();
                        self.up.receive(&up_buf[..n], source);
                    }
                }
                received = self.down.socket.recv_from(&mut down_buf) => {
                    if let Ok((n, source)) = received {
                        self.down.receive(&down_buf[..n], source);
                    }
                }
                () = tokio::time::sleep_until(wake.into()) => {
                    let now = Instant::now();
                    self.up.tick(now);
                    self.down.tick(now);
                }
            }
            let now = Instant::now();
            if now < next_check {
                continue;
            }
            next_check = now + CHECK;
            if !self.up.rtc.is_alive() || now.duration_since(heard) >= LOST_AFTER {
                return End::Lost;
            }
            match players(state, room) {
                None => return End::Unneeded,
                Some(0) => {
                    let since = *unwatched_since.get_or_insert(now);
                    if now.duration_since(since) >= LINGER {
                        return End::Unneeded;
                    }
                }
                Some(_) => unwatched_since = None,
            }
        }
    }

    /// Writes a frame from the room's node into the mirror, on the m-line of its kind
    /// (a video's as the layer its m-line carries).
    fn forward(&mut self, data: MediaData) {
        let (down, rid) = if data.mid == self.up.audio {
            (self.down.audio, None)
        } else if let Some(layer) = self.up.video.iter().position(|m| *m == data.mid) {
            (self.down.video[0], Some(Rid::from(LAYERS[layer])))
        } else {
            return;
        };
        let Some(mut writer) = self.down.rtc.writer(down) else {
            return;
        };
        if let Some(rid) = rid {
            writer = writer.rid(rid);
        }
        let pt = *self
            .pts
            .entry((data.mid, data.pt))
            .or_insert_with(|| writer.match_params(data.params));
        let Some(pt) = pt else {
            return;
        };
        if let Err(e) = writer.write(pt, data.network_time, data.time, data.data) {
            debug!("the relay could not pass on a frame: {e}");
        }
    }

    /// Asks the room's node for a keyframe of layer `rid` of the video (of every layer
    /// without one), which players here asked the relay for.
    fn ask_keyframe(&mut self, rid: Option<Rid>, kind: KeyframeRequestKind) {
        for (layer, mid) in self.up.video.iter().enumerate() {
            if rid.is_some_and(|rid| *rid != *LAYERS[layer]) {
                continue;
            }
            if let Some(mut writer) = self.up.rtc.writer(*mid) {
                let _ = writer.request_keyframe(None, kind);
            }
        }
    }
}

/// The players of mirror `room` now; `None` when it is not a mirror (any more).
fn players(state: &AppState, room: &str) -> Option<usize> {
    let rooms = state.rooms();
    let mirror = rooms.room(room).filter(|r| r.is_mirror())?;
    Some(mirror.roster().iter().filter(|p| p.hidden).count())
}

/// The claims a relay shows for `room`: on the room's node a viewer's, past its door (a
/// waiting room or a lock keeps people out, not the room's own nodes); in the mirror a
/// publisher's.
pub(crate) fn relay_claims(state: &AppState, room: &str, preset: GrantPreset) -> Claims {
    let mut video = Grants::preset(room, preset);
    video.room_admin = preset == GrantPreset::Viewer;
    Claims {
        iss: state.config.api_key.clone(),
        sub: RELAY_IDENTITY.to_owned(),
        name: Some(format!("Relay to {}", state.cluster.me().id)),
        nbf: 0,
        exp: unix_now() + TOKEN_SECONDS,
        video,
    }
}

/// The unspecified address of `ip`'s family.
fn unspecified(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}
