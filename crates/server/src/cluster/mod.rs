//! The cluster: which node hosts which room.
//!
//! Without `redis_url` the node is alone and hosts every room. With it, every node
//! registers itself in Redis with its load at each heartbeat ([`registry`]); a room that
//! is not running here is placed on the least-loaded live node ([`node::least_loaded`]),
//! and a client that reached another node is sent to the room's node: signaling answers
//! `join` with `moved`, HTTP (WHIP, WHEP, the room API, the watch page, HLS) with a `307`
//! redirect. A room
//! running here is served without asking Redis, so the rooms a node has go on while Redis
//! is away; only new rooms then wait for it.

pub mod connection;
pub mod load;
pub mod node;
pub mod registry;
pub mod relay;
pub mod span;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use tracing::{info, warn};

use crate::config::Config;
use crate::room::snapshot::RoomSnapshot;
use crate::state::unix_millis;
use node::{Load, NodeInfo};
use registry::{Registry, RegistryError};

/// How often a node registers itself.
pub const HEARTBEAT: Duration = Duration::from_millis(500);

/// Where a room runs, for a client that reached this node.
#[derive(Debug, Clone, PartialEq)]
pub enum Placement {
    /// On this node.
    Here,
    /// On another node, which the client is sent to.
    At(NodeInfo),
}

/// This node's place in the cluster.
#[derive(Debug)]
pub struct Cluster {
    /// This node as it registers itself (its load from the latest heartbeat).
    me: Mutex<NodeInfo>,
    /// The cluster's Redis; `None` for a node alone.
    registry: Option<Registry>,
    /// Whether the latest heartbeat reached Redis (for logging the changes).
    registered: AtomicBool,
    /// When the heartbeat reached Redis again after it had lost it (see [`REGISTERING`]).
    back_at: Mutex<Option<Instant>>,
}

/// How long after Redis comes back (restarted, or a Sentinel's failover to a replica) a
/// node places no room: long enough for every live node to register again, so that none
/// is taken for dead and its rooms placed a second time.
pub const REGISTERING: Duration = Duration::from_millis(2_500);

impl Cluster {
    /// This node, in the cluster of `config.redis_url` if set; `media` is its advertised
    /// media address.
    pub fn new(config: &Config, media: std::net::SocketAddr) -> anyhow::Result<Cluster> {
        let id = config
            .node_id
            .clone()
            .unwrap_or_else(|| format!("node-{:08x}", rand::random::<u32>()));
        let registry = match &config.redis_url {
            Some(url) => Some(
                Registry::new(url)
                    .map_err(|e| anyhow::anyhow!("redis_url \"{url}\" is not usable: {e}"))?,
            ),
            None => None,
        };
        let now = unix_millis();
        Ok(Cluster {
            me: Mutex::new(NodeInfo {
                id,
                url: config.public_url(),
                media: media.to_string(),
                region: config.region.clone(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                started: now,
                heartbeat: now,
                load: Load::default(),
                draining: false,
            }),
            registry,
            registered: AtomicBool::new(false),
            back_at: Mutex::new(None),
        })
    }

    /// Whether this node shares rooms with others through Redis.
    pub fn clustered(&self) -> bool {
        self.registry.is_some()
    }

    /// Whether this node is draining.
    pub fn draining(&self) -> bool {
        self.me.lock().unwrap_or_else(|e| e.into_inner()).draining
    }

    /// Starts draining: this node registers as draining at once (no room is placed on it
    /// from now on), writes the `states` of its rooms and gives up their placement, so
    /// that their next joins place them on other nodes, where they go on from there.
    pub async fn drain(&self, states: &[(String, RoomSnapshot)]) {
        let rooms: Vec<String> = states.iter().map(|(room, _)| room.clone()).collect();
        let me = {
            let mut me = self.me.lock().unwrap_or_else(|e| e.into_inner());
            me.draining = true;
            me.clone()
        };
        info!(node = %me.id, rooms = states.len(), "draining");
        let Some(registry) = &self.registry else {
            return;
        };
        let released = match registry.beat(&me, &[], &as_json(states)).await {
            Ok(()) => registry.release(&me.id, &rooms).await,
            Err(e) => Err(e),
        };
        if let Err(e) = released {
            warn!(node = %me.id, "could not tell the cluster this node is draining ({e}); its rooms move once its registration expires");
        }
    }

    /// This node as it registers itself now.
    pub fn me(&self) -> NodeInfo {
        self.me.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Registers this node with `load`, writes the changed `states` of its rooms and renews
    /// the placement of the `rooms` running here unless it drains (called every
    /// [`HEARTBEAT`]). False when
    /// Redis did not take it (the states are to be written again).
    pub async fn beat(
        &self,
        load: Load,
        rooms: &[String],
        states: &[(String, RoomSnapshot)],
    ) -> bool {
        let me = {
            let mut me = self.me.lock().unwrap_or_else(|e| e.into_inner());
            me.load = load;
            me.heartbeat = unix_millis();
            me.clone()
        };
        let Some(registry) = &self.registry else {
            return true;
        };
        // A draining node gave its rooms up: holding them again would send the joins that
        // move them elsewhere back here.
        let rooms = if me.draining { &[] } else { rooms };
        let result = registry.beat(&me, rooms, &as_json(states)).await;
        let done = result.is_ok();
        let was = self.registered.swap(result.is_ok(), Ordering::Relaxed);
        match result {
            Ok(()) if !was => {
                info!(node = %me.id, url = %me.url, "registered in the cluster");
                let mut back_at = self.back_at.lock().unwrap_or_else(|e| e.into_inner());
                if back_at.is_some() {
                    *back_at = Some(Instant::now());
                }
            }
            Err(e) if was => {
                // From now on, coming back is coming back after a loss.
                let mut back_at = self.back_at.lock().unwrap_or_else(|e| e.into_inner());
                back_at.get_or_insert_with(Instant::now);
                warn!(node = %me.id, "lost the cluster's Redis ({e}); rooms running here go on, new ones wait for it")
            }
            _ => {}
        }
        done
    }

    /// The live nodes: from Redis when clustered, else this one.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, ApiError> {
        match &self.registry {
            Some(registry) => registry.live_nodes().await.map_err(unavailable),
            None => Ok(vec![self.me()]),
        }
    }

    /// The other node `room` runs on, if clustered and it runs on a live one; nothing is
    /// placed (for requests without a token, which follow a room but never start one).
    pub async fn locate(&self, room: &str) -> Option<NodeInfo> {
        let registry = self.registry.as_ref()?;
        let node = registry.hosting(room).await.ok().flatten()?;
        (node.id != self.me().id).then_some(node)
    }

    /// The lasting state `room` had on the node that ran it last, if clustered and kept.
    pub async fn room_state(&self, room: &str) -> Result<Option<RoomSnapshot>, ApiError> {
        let Some(registry) = &self.registry else {
            return Ok(None);
        };
        let json = registry.state(room).await.map_err(unavailable)?;
        Ok(json.and_then(|json| match serde_json::from_str(&json) {
            Ok(snapshot) => Some(snapshot),
            Err(e) => {
                warn!(%room, "the room's state in Redis is not readable ({e}); it starts afresh");
                None
            }
        }))
    }

    /// Where `room`, which does not run on this node, is to run: placed on the
    /// least-loaded live node unless a live node hosts it already.
    pub async fn place(&self, room: &str) -> Result<Placement, ApiError> {
        let Some(registry) = &self.registry else {
            return Ok(Placement::Here);
        };
        let back_at = *self.back_at.lock().unwrap_or_else(|e| e.into_inner());
        if back_at.is_some_and(|t| t.elapsed() < REGISTERING)
            || (back_at.is_some() && !self.registered.load(Ordering::Relaxed))
        {
            return Err(ApiError::new(
                ErrorCode::ClusterUnavailable,
                "The cluster's Redis is back from an outage and the nodes are registering again; try again in a few seconds.",
            ));
        }
        let me = self.me();
        let mut live = registry.live_nodes().await.map_err(unavailable)?;
        if me.draining {
            live.retain(|n| n.id != me.id);
        }
        let candidate = node::least_loaded(&live, me.region.as_deref())
            .map_or(me.id.as_str(), |n| n.id.as_str());
        let host = registry.place(room, candidate).await.map_err(unavailable)?;
        if host == me.id {
            return Ok(Placement::Here);
        }
        match live.into_iter().find(|n| n.id == host) {
            Some(node) => Ok(Placement::At(node)),
            None => Err(ApiError::new(
                ErrorCode::ClusterUnavailable,
                format!(
                    "Room \"{room}\" was just placed on node {host}, which has not registered yet; try again."
                ),
            )),
        }
    }
}

fn as_json(states: &[(String, RoomSnapshot)]) -> Vec<(String, String)> {
    states
        .iter()
        .map(|(room, snapshot)| {
            let json = serde_json::to_string(snapshot).expect("room state serializes");
            (room.clone(), json)
        })
        .collect()
}

fn unavailable(e: RegistryError) -> ApiError {
    ApiError::new(
        ErrorCode::ClusterUnavailable,
        format!(
            "The cluster's Redis cannot be reached ({e}), so no node can take a new room now; \
             rooms already running go on. Try again shortly."
        ),
    )
}
