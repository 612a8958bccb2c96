//! How a node reaches the cluster's Redis, by the form of `redis_url`:
//!
//! - `redis://[user:password@]host[:port][/db]`: one Redis server;
//! - `redis+cluster://[user:password@]host:port[,host:port…]`: a Redis Cluster, through any
//!   of the nodes listed (the others are found from them);
//! - `redis+sentinel://[user:password@]host[:port][,host[:port]…]/service[/db]`: the master
//!   that the Sentinels listed (port 26379 by default) name for `service`, found again
//!   after a failover; the user and password are the master's.
//!
//! `rediss` in place of `redis` (`rediss://`, `rediss+cluster://`, `rediss+sentinel://`)
//! speaks TLS to every server, checking their certificates against the system's
//! certificate authorities (or those of the file `SSL_CERT_FILE` names).
//!
//! Every connection is made when it is first needed and again after it failed, so a node
//! starts while Redis is away.

use std::time::Duration;

use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionAddr, Pipeline, RedisError, RedisFuture, TlsMode, Value,
};
use tokio::sync::Mutex;

/// The Sentinels' port when a `redis+sentinel://` URL names none.
const SENTINEL_PORT: u16 = 26379;

/// The way to the cluster's Redis.
pub enum Connection {
    /// One server, through a connection that reconnects by itself.
    Single(ConnectionManager),
    /// A Redis Cluster; its connection follows the cluster's slots and nodes.
    Cluster {
        client: ClusterClient,
        connected: Mutex<Option<ClusterConnection>>,
    },
    /// The master the Sentinels name; asked again whenever the connection failed.
    Sentinel {
        client: Mutex<SentinelClient>,
        config: AsyncConnectionConfig,
        connected: Mutex<Option<MultiplexedConnection>>,
    },
}

/// A connection to send commands on (cheap to clone).
#[derive(Clone)]
pub enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel(MultiplexedConnection),
}

impl Connection {
    /// The way to the Redis of `url`; each operation on it takes at most `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Result<Connection, RedisError> {
        let tls = url.starts_with("rediss");
        let cluster = url
            .strip_prefix("redis+cluster://")
            .or_else(|| url.strip_prefix("rediss+cluster://"));
        if let Some(rest) = cluster {
            let (auth, hosts) = split_auth(rest);
            let scheme = if tls { "rediss" } else { "redis" };
            let nodes: Vec<String> = hosts
                .split(',')
                .map(|host| format!("{scheme}://{auth}{}", host.trim_end_matches('/')))
                .collect();
            let client = ClusterClient::builder(nodes)
                .connection_timeout(timeout)
                .response_timeout(timeout)
                .retries(1)
                .build()?;
            return Ok(Connection::Cluster {
                client,
                connected: Mutex::new(None),
            });
        }
        let sentinels = url
            .strip_prefix("redis+sentinel://")
            .or_else(|| url.strip_prefix("rediss+sentinel://"));
        if let Some(rest) = sentinels {
            return sentinel(rest, tls, timeout);
        }
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        Ok(Connection::Single(ConnectionManager::new_lazy_with_config(
            client, config,
        )?))
    }

    /// A connection, made now if there is none.
    pub async fn get(&self) -> Result<Conn, RedisError> {
        match self {
            Connection::Single(manager) => Ok(Conn::Single(manager.clone())),
            Connection::Cluster { client, connected } => {
                let mut connected = connected.lock().await;
                if let Some(conn) = &*connected {
                    return Ok(Conn::Cluster(conn.clone()));
                }
                let conn = client.get_async_connection().await?;
                *connected = Some(conn.clone());
                Ok(Conn::Cluster(conn))
            }
            Connection::Sentinel {
                client,
                config,
                connected,
            } => {
                let mut connected = connected.lock().await;
                if let Some(conn) = &*connected {
                    return Ok(Conn::Sentinel(conn.clone()));
                }
                let conn = client
                    .lock()
                    .await
                    .get_async_connection_with_config(config)
                    .await?;
                *connected = Some(conn.clone());
                Ok(Conn::Sentinel(conn))
            }
        }
    }

    /// An operation failed: the next one connects again (to the master the Sentinels
    /// name then, or the cluster's nodes as they are then).
    pub async fn failed(&self) {
        match self {
            Connection::Single(_) => {}
            Connection::Cluster { connected, .. } => *connected.lock().await = None,
            Connection::Sentinel { connected, .. } => *connected.lock().await = None,
        }
    }
}

/// A `redis+sentinel://` URL's way to its master (over TLS to the Sentinels and the master
/// with `tls`).
fn sentinel(rest: &str, tls: bool, timeout: Duration) -> Result<Connection, RedisError> {
    let invalid = |what: &str| {
        RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "redis+sentinel:// URL",
            what.to_owned(),
        ))
    };
    let (auth, rest) = split_auth(rest);
    let (hosts, path) = rest
        .split_once('/')
        .ok_or_else(|| invalid("it names no service: redis+sentinel://HOST:PORT/SERVICE"))?;
    let (service, db) = match path.split_once('/') {
        Some((service, db)) => (service, Some(db)),
        None => (path, None),
    };
    if service.is_empty() {
        return Err(invalid("it names no service"));
    }
    let sentinels = hosts
        .split(',')
        .map(|host| {
            let (name, port) = match host.rsplit_once(':') {
                Some((name, port)) => (
                    name,
                    port.parse()
                        .map_err(|_| invalid("a port is not a number"))?,
                ),
                None => (host, SENTINEL_PORT),
            };
            Ok(if tls {
                ConnectionAddr::TcpTls {
                    host: name.to_owned(),
                    port,
                    insecure: false,
                    tls_params: None,
                }
            } else {
                ConnectionAddr::Tcp(name.to_owned(), port)
            })
        })
        .collect::<Result<Vec<_>, RedisError>>()?;
    let mut builder = SentinelClientBuilder::new(sentinels, service, SentinelServerType::Master)?;
    if tls {
        builder = builder
            .set_client_to_sentinel_tls_mode(TlsMode::Secure)
            .set_client_to_redis_tls_mode(TlsMode::Secure);
    }
    let auth = auth.trim_end_matches('@');
    if !auth.is_empty() {
        let (user, password) = auth.split_once(':').unwrap_or(("", auth));
        if !user.is_empty() {
            builder = builder.set_client_to_redis_username(user);
        }
        builder = builder.set_client_to_redis_password(password);
    }
    if let Some(db) = db.filter(|db| !db.is_empty()) {
        builder = builder
            .set_client_to_redis_db(db.parse().map_err(|_| invalid("the db is not a number"))?);
    }
    Ok(Connection::Sentinel {
        client: Mutex::new(builder.build()?),
        config: AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout)),
        connected: Mutex::new(None),
    })
}

/// `user:password@rest` → (`user:password@`, `rest`); (``, `rest`) without credentials.
fn split_auth(rest: &str) -> (&str, &str) {
    match rest.rfind('@') {
        Some(at) => rest.split_at(at + 1),
        None => ("", rest),
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
            Conn::Sentinel(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Sentinel(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
            Conn::Sentinel(c) => c.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_url_says_how_redis_is_reached() {
        let timeout = Duration::from_secs(1);
        let kind = |url: &str| match Connection::new(url, timeout) {
            Ok(Connection::Single(_)) => "single",
            Ok(Connection::Cluster { .. }) => "cluster",
            Ok(Connection::Sentinel { .. }) => "sentinel",
            Err(_) => "refused",
        };
        assert_eq!(kind("redis://127.0.0.1:6379"), "single");
        assert_eq!(
            kind("redis+cluster://10.0.0.1:7000,10.0.0.2:7000"),
            "cluster"
        );
        assert_eq!(kind("redis+cluster://:pw@10.0.0.1:7000"), "cluster");
        assert_eq!(
            kind("redis+sentinel://10.0.0.1,10.0.0.2:26380/moim"),
            "sentinel"
        );
        assert_eq!(kind("redis+sentinel://user:pw@10.0.0.1/moim/2"), "sentinel");
        assert_eq!(kind("redis+sentinel://10.0.0.1:26379"), "refused");
        assert_eq!(kind("redis+sentinel://10.0.0.1:x/moim"), "refused");
        assert_eq!(kind("http://10.0.0.1"), "refused");
        assert_eq!(kind("rediss://10.0.0.1"), "single");
        assert_eq!(kind("rediss+cluster://10.0.0.1:7000"), "cluster");
        assert_eq!(kind("rediss+sentinel://10.0.0.1/moim"), "sentinel");
        assert_eq!(split_auth("a:b@h:1,h:2"), ("a:b@", "h:1,h:2"));
        assert_eq!(split_auth("h:1"), ("", "h:1"));
    }
}
