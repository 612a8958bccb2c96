//! The Janus API over its HTTP transport: sessions, plugin handles, plugin messages,
//! keepalives, the long poll that delivers a session's events, and the videoroom's room
//! creation and removal.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::http;

/// The videoroom plugin's package name.
pub const VIDEOROOM: &str = "janus.plugin.videoroom";
/// Janus answers a long poll after at most 30 s.
const POLL_TIMEOUT: Duration = Duration::from_secs(45);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Events fetched per long poll.
const MAX_EVENTS: u32 = 16;

/// A Janus session, addressed under the API's base URL (e.g. `http://127.0.0.1:8088/janus`).
pub struct Session {
    url: String,
}

impl Session {
    /// Creates a session.
    pub async fn create(base: &str) -> anyhow::Result<Session> {
        let base = base.trim_end_matches('/');
        let reply = call(base, json!({"janus": "create"})).await?;
        let id = reply["data"]["id"]
            .as_u64()
            .context("Janus created a session without an id")?;
        Ok(Session {
            url: format!("{base}/{id}"),
        })
    }

    /// Attaches a handle to `plugin`; returns the handle's id.
    pub async fn attach(&self, plugin: &str) -> anyhow::Result<u64> {
        let reply = call(&self.url, json!({"janus": "attach", "plugin": plugin})).await?;
        reply["data"]["id"]
            .as_u64()
            .context("Janus attached a handle without an id")
    }

    /// Sends `body` (and a JSEP offer or answer) to the plugin behind `handle`. Returns Janus's
    /// reply: an `ack` for requests answered later by an event, the plugin's data for the others.
    pub async fn message(
        &self,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut message = json!({"janus": "message", "body": body});
        if let Some(jsep) = jsep {
            message["jsep"] = jsep;
        }
        let reply = call(&format!("{}/{handle}", self.url), message).await?;
        let data = &reply["plugindata"]["data"];
        if let Some(code) = data["error_code"].as_u64() {
            bail!("Janus videoroom error {code}: {}", data["error"]);
        }
        Ok(data.clone())
    }

    /// Tells Janus the session is still in use (it times out sessions idle for 60 s).
    pub async fn keepalive(&self) -> anyhow::Result<()> {
        call(&self.url, json!({"janus": "keepalive"})).await?;
        Ok(())
    }

    /// Ends the session, its handles and their connections.
    pub async fn destroy(&self) -> anyhow::Result<()> {
        call(&self.url, json!({"janus": "destroy"})).await?;
        Ok(())
    }

    /// Starts long-polling the session's events; polling stops when the [`Events`] is dropped.
    pub fn events(&self) -> Events {
        let (tx, rx) = mpsc::channel(MAX_EVENTS as usize);
        let url = format!("{}?maxev={MAX_EVENTS}", self.url);
        let task = tokio::spawn(async move {
            loop {
                let batch = match http::get(&url, POLL_TIMEOUT).await {
                    Ok(Value::Array(batch)) => batch,
                    Ok(other) => vec![other],
                    Err(e) => {
                        let _ = tx.send(Err(e.context("the long poll failed"))).await;
                        return;
                    }
                };
                for event in batch {
                    if event["janus"] == "keepalive" {
                        continue;
                    }
                    if tx.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Events { rx, task }
    }
}

/// A session's events, as the long poll delivers them (keepalives left out).
pub struct Events {
    rx: mpsc::Receiver<anyhow::Result<Value>>,
    task: JoinHandle<()>,
}

impl Events {
    /// The next event. Cancel-safe: an event is never lost by a dropped call.
    pub async fn next(&mut self) -> anyhow::Result<Value> {
        match self.rx.recv().await {
            Some(event) => event,
            None => bail!("the long poll stopped"),
        }
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Creates a non-permanent videoroom for a run: VP8 and Opus, no bitrate cap, room for
/// `publishers` concurrent publishers. Returns the room id Janus chose.
pub async fn create_room(base: &str, description: &str, publishers: usize) -> anyhow::Result<u64> {
    let session = Session::create(base).await?;
    let created = async {
        let handle = session.attach(VIDEOROOM).await?;
        let body = json!({
            "request": "create",
            "description": description,
            "permanent": false,
            "publishers": publishers.max(1),
            "videocodec": "vp8",
            "audiocodec": "opus",
            "bitrate": 0,
        });
        let reply = session.message(handle, body, None).await?;
        reply["room"]
            .as_u64()
            .context("Janus created a room without an id")
    }
    .await;
    let _ = session.destroy().await;
    created
}

/// Destroys a videoroom, which also removes everyone still in it.
pub async fn destroy_room(base: &str, room: u64) -> anyhow::Result<()> {
    let session = Session::create(base).await?;
    let destroyed = async {
        let handle = session.attach(VIDEOROOM).await?;
        let body = json!({"request": "destroy", "room": room});
        session.message(handle, body, None).await.map(drop)
    }
    .await;
    let _ = session.destroy().await;
    destroyed
}

/// One Janus API request; Janus-level errors become `Err`.
async fn call(url: &str, mut body: Value) -> anyhow::Result<Value> {
    static TRANSACTIONS: AtomicU64 = AtomicU64::new(0);
    let transaction = TRANSACTIONS.fetch_add(1, Ordering::Relaxed);
    body["transaction"] = json!(format!("t{transaction}"));
    let reply = http::post(url, &body, REQUEST_TIMEOUT).await?;
    if reply["janus"] == "error" {
        let error = &reply["error"];
        bail!("Janus error {}: {}", error["code"], error["reason"]);
    }
    Ok(reply)
}
