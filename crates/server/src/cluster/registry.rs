//! The cluster's state in Redis: the live nodes and which node hosts which room.
//!
//! Keys (all under `{moim}:`, a hash tag that keeps them in one slot of a Redis Cluster,
//! as the scripts that read and write several of them at once need):
//! - `{moim}:node:ID`: the node's [`NodeInfo`] as JSON, written at every heartbeat with a
//!   lifetime of [`NODE_TTL`], so a node that stops beating is gone from Redis by itself;
//! - `{moim}:nodes`: the set of node ids ever registered (pruned of those whose key is gone);
//! - `{moim}:room:ROOM`: the id of the node hosting the room, with a lifetime of
//!   [`ROOM_TTL`] that the hosting node renews while the room runs;
//! - `{moim}:state:ROOM`: the room's lasting state (chat, polls, board, settings, bans) as
//!   JSON, written by its node when it changes and expiring with the placement, so that a
//!   node taking the room over starts it from there;
//! - `{moim}:placed`: per node id, the rooms placed on it since its latest heartbeat, which
//!   its load does not show yet (so a burst of new rooms is spread, not all sent to the
//!   node that looked least loaded at the latest heartbeat).
//!
//! Redis is one server, a Redis Cluster or the master of a set of Sentinels
//! ([`Connection`]).
//!
//! Every operation has a deadline ([`OP_TIMEOUT`]): Redis being away makes placement fail
//! with an error at once rather than hold a client.

use std::collections::HashMap;
use std::time::Duration;

use redis::{AsyncCommands, Script};

use super::connection::Connection;
use super::node::NodeInfo;

/// How long a node stays listed after its latest heartbeat.
pub const NODE_TTL: Duration = Duration::from_secs(2);
/// How long a room stays placed on its node without being renewed.
pub const ROOM_TTL: Duration = Duration::from_secs(30);
/// The longest any Redis operation may take.
pub const OP_TIMEOUT: Duration = Duration::from_millis(1_000);

const NODES: &str = "{moim}:nodes";
const NODE_PREFIX: &str = "{moim}:node:";
const ROOM_PREFIX: &str = "{moim}:room:";
const STATE_PREFIX: &str = "{moim}:state:";
const PLACED: &str = "{moim}:placed";

/// Places a room: the node already hosting it while that node is alive, else the
/// candidate. KEYS[1] the room's key, KEYS[2] the placed counts; ARGV: candidate id, node
/// key prefix, lifetime (ms).
const PLACE: &str = r"
local current = redis.call('GET', KEYS[1])
if current and redis.call('EXISTS', ARGV[2] .. current) == 1 then
  return current
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
return ARGV[1]
";

/// Renews the placement of rooms running on this node, and the lifetime of their state:
/// each key that is free or already this node's. KEYS each room's key followed by its
/// state's; ARGV: this node's id, lifetime (ms).
const HOLD: &str = r"
for i = 1, #KEYS, 2 do
  local current = redis.call('GET', KEYS[i])
  if not current or current == ARGV[1] then
    redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
    redis.call('PEXPIRE', KEYS[i + 1], ARGV[2])
  end
end
return #KEYS
";

/// Gives up the placement of rooms that are this node's. KEYS the rooms' keys; ARGV:
/// this node's id.
const RELEASE: &str = r"
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('DEL', key)
  end
end
return #KEYS
";

/// Why an operation on Redis failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("Redis did not answer within {} ms", OP_TIMEOUT.as_millis())]
    Timeout,
}

/// A connection to the cluster's Redis (reconnecting by itself) and its scripts.
pub struct Registry {
    redis: Connection,
    place: Script,
    hold: Script,
    release: Script,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Registry")
    }
}

impl Registry {
    /// Runs `op` with a deadline; when it fails, the next operation connects again.
    async fn within<T>(
        &self,
        op: impl Future<Output = Result<T, RegistryError>>,
    ) -> Result<T, RegistryError> {
        let result = tokio::time::timeout(OP_TIMEOUT, op)
            .await
            .unwrap_or(Err(RegistryError::Timeout));
        if result.is_err() {
            self.redis.failed().await;
        }
        result
    }

    /// A registry for the Redis at `url`; it connects on first use, and again after every
    /// loss, so a node starts while Redis is away.
    pub fn new(url: &str) -> Result<Registry, redis::RedisError> {
        Ok(Registry {
            redis: Connection::new(url, OP_TIMEOUT)?,
            place: Script::new(PLACE),
            hold: Script::new(HOLD),
            release: Script::new(RELEASE),
        })
    }

    /// Writes this node's heartbeat, the changed `states` (room, JSON) of its rooms, and
    /// renews the placement of its `rooms`.
    pub async fn beat(
        &self,
        node: &NodeInfo,
        rooms: &[String],
        states: &[(String, String)],
    ) -> Result<(), RegistryError> {
        let json = serde_json::to_string(node).expect("node info serializes");
        let mut pipe = redis::pipe();
        for (room, state) in states {
            pipe.cmd("SET")
                .arg(state_key(room))
                .arg(state)
                .arg("PX")
                .arg(ROOM_TTL.as_millis() as u64)
                .ignore();
        }
        self.within(async {
            let mut redis = self.redis.get().await?;
            pipe.cmd("SET")
                .arg(node_key(&node.id))
                .arg(json)
                .arg("PX")
                .arg(NODE_TTL.as_millis() as u64)
                .ignore()
                .cmd("SADD")
                .arg(NODES)
                .arg(&node.id)
                .ignore()
                .cmd("HDEL")
                .arg(PLACED)
                .arg(&node.id)
                .ignore()
                .query_async::<()>(&mut redis)
                .await?;
            if !rooms.is_empty() {
                let mut hold = self.hold.prepare_invoke();
                for room in rooms {
                    hold.key(room_key(room)).key(state_key(room));
                }
                hold.arg(&node.id)
                    .arg(ROOM_TTL.as_millis() as u64)
                    .invoke_async::<u64>(&mut redis)
                    .await?;
            }
            Ok(())
        })
        .await
    }

    /// The node hosting `room` while it is alive.
    pub async fn hosting(&self, room: &str) -> Result<Option<NodeInfo>, RegistryError> {
        self.within(async {
            let mut redis = self.redis.get().await?;
            let Some(id): Option<String> = redis.get(room_key(room)).await? else {
                return Ok(None);
            };
            let json: Option<String> = redis.get(node_key(&id)).await?;
            Ok(json.and_then(|json| serde_json::from_str(&json).ok()))
        })
        .await
    }

    /// The lasting state of `room` (JSON) as its node last wrote it, if any.
    pub async fn state(&self, room: &str) -> Result<Option<String>, RegistryError> {
        self.within(async {
            let mut redis = self.redis.get().await?;
            Ok(redis.get(state_key(room)).await?)
        })
        .await
    }

    /// Gives up the placement of those of `rooms` that are on node `id`, so that their
    /// next joins place them anew.
    pub async fn release(&self, id: &str, rooms: &[String]) -> Result<(), RegistryError> {
        if rooms.is_empty() {
            return Ok(());
        }
        self.within(async {
            let mut redis = self.redis.get().await?;
            let mut release = self.release.prepare_invoke();
            for room in rooms {
                release.key(room_key(room));
            }
            release.arg(id).invoke_async::<u64>(&mut redis).await?;
            Ok(())
        })
        .await
    }

    /// The nodes alive now (whose heartbeat has not expired), by id, each with the rooms
    /// placed on it since its heartbeat counted in.
    pub async fn live_nodes(&self) -> Result<Vec<NodeInfo>, RegistryError> {
        self.within(async {
            let mut redis = self.redis.get().await?;
            let mut ids: Vec<String> = redis.smembers(NODES).await?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            ids.sort();
            let keys: Vec<String> = ids.iter().map(|id| node_key(id)).collect();
            let (found, placed): (Vec<Option<String>>, HashMap<String, u64>) = redis::pipe()
                .cmd("MGET")
                .arg(&keys)
                .cmd("HGETALL")
                .arg(PLACED)
                .query_async(&mut redis)
                .await?;
            let gone: Vec<&String> = ids
                .iter()
                .zip(&found)
                .filter(|(_, json)| json.is_none())
                .map(|(id, _)| id)
                .collect();
            if !gone.is_empty() {
                redis.srem::<_, _, ()>(NODES, gone).await?;
            }
            Ok(found
                .into_iter()
                .flatten()
                .filter_map(|json| serde_json::from_str::<NodeInfo>(&json).ok())
                .map(|mut node| {
                    node.load.rooms += placed.get(&node.id).copied().unwrap_or(0);
                    node
                })
                .collect())
        })
        .await
    }

    /// Places `room` on `candidate` unless a live node hosts it already; returns the id of
    /// the node hosting it now.
    pub async fn place(&self, room: &str, candidate: &str) -> Result<String, RegistryError> {
        self.within(async {
            let mut redis = self.redis.get().await?;
            Ok(self
                .place
                .key(room_key(room))
                .key(PLACED)
                .arg(candidate)
                .arg(NODE_PREFIX)
                .arg(ROOM_TTL.as_millis() as u64)
                .invoke_async(&mut redis)
                .await?)
        })
        .await
    }
}

fn node_key(id: &str) -> String {
    format!("{NODE_PREFIX}{id}")
}

fn room_key(room: &str) -> String {
    format!("{ROOM_PREFIX}{room}")
}

fn state_key(room: &str) -> String {
    format!("{STATE_PREFIX}{room}")
}
