//! The gateway's thread: it takes the workers' relays and the links' messages, runs the
//! [`Gateway`], and sends what it says into the workers' inboxes (`outbox.rs`) and the
//! links' queues. A link's queue is bounded like a worker's inbox: a frame or keyframe
//! request that finds it full is dropped (counted), a change of the room's tracks waits.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc::{self, error::TrySendError};
use tracing::{info, warn};

use super::wire::NodeMessage;
use super::{Gateway, LinkId, Out};
use crate::ids::RoomId;
use crate::outbox::RelayOutbox;
use crate::relay::{Relay, WorkerId};

/// Messages queued for one link's peer at most: about a second of a busy room's media.
const LINK_CAPACITY: usize = 4096;
/// Messages from the links waiting for the gateway at most (a link's reader waits).
const CONTROL_CAPACITY: usize = 4096;
/// How often links whose far end was dropped are looked for.
const SWEEP: Duration = Duration::from_secs(1);
/// How soon the gateway looks again at messages waiting for room.
const RETRY: Duration = Duration::from_millis(5);

/// What the links ask of the gateway.
#[derive(Debug)]
enum Control {
    Open {
        link: LinkId,
        room: RoomId,
        to_peer: mpsc::Sender<NodeMessage>,
    },
    Message(LinkId, NodeMessage),
    Close(LinkId),
}

/// The media plane's links to other nodes: opens one for a room.
#[derive(Debug, Clone)]
pub struct NodeLinks {
    control: mpsc::Sender<Control>,
    next: Arc<AtomicU64>,
    counts: Arc<Counts>,
}

/// What crossed the links so far.
#[derive(Debug, Default)]
struct Counts {
    frames_out: AtomicU64,
    frames_in: AtomicU64,
    open: AtomicU64,
}

/// One open link: what to send the node at its other end ([`LinkHandle::outgoing`]), and
/// the way in for what that node sends ([`LinkHandle::deliverer`]). Dropping it closes the
/// link (within a second).
#[derive(Debug)]
pub struct LinkHandle {
    id: LinkId,
    control: mpsc::Sender<Control>,
    /// The messages for the node at the other end, in order.
    pub outgoing: mpsc::Receiver<NodeMessage>,
}

impl NodeLinks {
    /// Starts the gateway of `workers` workers on a thread of its own; `inboxes` are the
    /// workers' inboxes, `relays` the gateway's own.
    pub(crate) fn start(
        workers: usize,
        inboxes: Vec<mpsc::Sender<(WorkerId, Relay)>>,
        relays: mpsc::Receiver<(WorkerId, Relay)>,
    ) -> std::io::Result<NodeLinks> {
        let (control, controls) = mpsc::channel(CONTROL_CAPACITY);
        let counts = Arc::new(Counts::default());
        let counting = counts.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("moim-media-nodes".into())
            .spawn(move || {
                runtime.block_on(run(
                    Gateway::new(workers),
                    inboxes,
                    relays,
                    controls,
                    counting,
                ));
            })?;
        Ok(NodeLinks {
            control,
            next: Arc::new(AtomicU64::new(1)),
            counts,
        })
    }

    /// Frames sent over the links so far (each link counts its own), and received.
    pub fn frames(&self) -> (u64, u64) {
        let c = &self.counts;
        (
            c.frames_out.load(Ordering::Relaxed),
            c.frames_in.load(Ordering::Relaxed),
        )
    }

    /// How many links are open.
    pub fn open_links(&self) -> u64 {
        self.counts.open.load(Ordering::Relaxed)
    }

    /// Links `room` with another node: this node's tracks of the room go out on the
    /// handle's [`LinkHandle::outgoing`], and what it delivers is mirrored here.
    pub async fn open(&self, room: RoomId) -> Option<LinkHandle> {
        let id = LinkId(self.next.fetch_add(1, Ordering::Relaxed));
        let (to_peer, outgoing) = mpsc::channel(LINK_CAPACITY);
        let open = Control::Open {
            link: id,
            room,
            to_peer,
        };
        self.control.send(open).await.ok()?;
        Some(LinkHandle {
            id,
            control: self.control.clone(),
            outgoing,
        })
    }
}

/// The way in for what the node at the other end of one link sends.
#[derive(Debug, Clone)]
pub struct Deliverer {
    id: LinkId,
    control: mpsc::Sender<Control>,
}

impl LinkHandle {
    /// The way in for what the node at the other end sends.
    pub fn deliverer(&self) -> Deliverer {
        Deliverer {
            id: self.id,
            control: self.control.clone(),
        }
    }
}

impl Deliverer {
    /// Hands a message from the node at the other end to the gateway (waiting while the
    /// gateway is behind: the link's reader then stops reading). False when the media
    /// plane is gone.
    pub async fn deliver(&self, message: NodeMessage) -> bool {
        self.control
            .send(Control::Message(self.id, message))
            .await
            .is_ok()
    }
}

impl Drop for LinkHandle {
    fn drop(&mut self) {
        // If the gateway's queue is full, its sweep notices the closed queue instead.
        let _ = self.control.try_send(Control::Close(self.id));
    }
}

/// A link's queue and the changes waiting for room in it.
struct Peer {
    queue: mpsc::Sender<NodeMessage>,
    waiting: VecDeque<NodeMessage>,
}

async fn run(
    mut gateway: Gateway,
    inboxes: Vec<mpsc::Sender<(WorkerId, Relay)>>,
    mut relays: mpsc::Receiver<(WorkerId, Relay)>,
    mut controls: mpsc::Receiver<Control>,
    counts: Arc<Counts>,
) {
    let mut workers = RelayOutbox::new(gateway.id(), inboxes);
    let mut peers: HashMap<LinkId, Peer> = HashMap::new();
    let mut out = Vec::new();
    let mut dropped = 0u64;
    let mut sweep = tokio::time::interval(SWEEP);
    loop {
        let waiting = workers.has_waiting() || peers.values().any(|p| !p.waiting.is_empty());
        let retry = async {
            if waiting {
                tokio::time::sleep(RETRY).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            relay = relays.recv() => match relay {
                Some((from, relay)) => gateway.from_worker(from, relay, &mut out),
                None => break,
            },
            control = controls.recv() => match control {
                Some(Control::Open { link, room, to_peer }) => {
                    info!(link = link.0, %room, "a node link opened");
                    peers.insert(link, Peer { queue: to_peer, waiting: VecDeque::new() });
                    gateway.open(link, room, &mut out);
                }
                Some(Control::Message(link, message)) => {
                    if matches!(message, NodeMessage::Frame { .. }) {
                        counts.frames_in.fetch_add(1, Ordering::Relaxed);
                    }
                    gateway.from_link(link, message, &mut out);
                }
                Some(Control::Close(link)) => {
                    if peers.remove(&link).is_some() {
                        info!(link = link.0, "a node link closed");
                    }
                    gateway.close(link, &mut out);
                }
                None => break,
            },
            _ = sweep.tick() => {
                let gone: Vec<LinkId> = peers
                    .iter()
                    .filter(|(_, p)| p.queue.is_closed())
                    .map(|(l, _)| *l)
                    .collect();
                for link in gone {
                    peers.remove(&link);
                    gateway.close(link, &mut out);
                }
            }
            () = retry => {}
        }
        counts.open.store(peers.len() as u64, Ordering::Relaxed);
        workers.retry();
        for peer in peers.values_mut() {
            while let Some(message) = peer.waiting.pop_front() {
                match peer.queue.try_send(message) {
                    Ok(()) => {}
                    Err(TrySendError::Full(message)) => {
                        peer.waiting.push_front(message);
                        break;
                    }
                    Err(TrySendError::Closed(_)) => peer.waiting.clear(),
                }
            }
        }
        for o in out.drain(..) {
            match o {
                Out::Worker(worker, relay) => {
                    workers.send(worker, relay);
                }
                Out::Link(link, message) => {
                    let Some(peer) = peers.get_mut(&link) else {
                        continue;
                    };
                    if matches!(message, NodeMessage::Frame { .. }) {
                        counts.frames_out.fetch_add(1, Ordering::Relaxed);
                    }
                    if !send(peer, message) {
                        dropped += 1;
                        if dropped.is_power_of_two() {
                            warn!(
                                link = link.0,
                                dropped, "a node link is not keeping up; media dropped"
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Queues `message` for a link: false when it was media that found the queue full.
fn send(peer: &mut Peer, message: NodeMessage) -> bool {
    let state = !matches!(
        message,
        NodeMessage::Frame { .. } | NodeMessage::KeyframeRequest { .. }
    );
    if !peer.waiting.is_empty() {
        if state {
            peer.waiting.push_back(message);
        }
        return state;
    }
    match peer.queue.try_send(message) {
        Ok(()) => true,
        Err(TrySendError::Full(message)) if state => {
            peer.waiting.push_back(message);
            true
        }
        Err(_) => false,
    }
}
