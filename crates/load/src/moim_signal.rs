//! A participant's signaling with Moim: the `/rtc` WebSocket (`docs/protocol.md`). Joins with
//! a token, sends the publisher connection's offer, relays the server's answers and offers,
//! and tells the server the rendered height of every video it starts receiving.

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use str0m::media::{MediaKind, Mid};
use tokio::net::TcpStream;
use tokio::sync::mpsc::{Receiver, Sender};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::signal::{ToMedia, ToSignaling};

/// Longest wait for the server to close the connection after `leave`.
const LEAVE_CLOSE: std::time::Duration = std::time::Duration::from_secs(2);

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Where and as whom a participant joins a Moim room.
pub struct MoimSignal {
    /// The `/rtc` WebSocket URL.
    pub url: String,
    pub token: String,
    /// Rendered height announced for every received video (picks the simulcast layer).
    pub render_height: u32,
}

impl MoimSignal {
    /// Joins and relays until the media side leaves.
    pub async fn run(
        self,
        to_media: Sender<ToMedia>,
        mut from_media: Receiver<ToSignaling>,
    ) -> anyhow::Result<()> {
        let (ws, reply, _) = join(&self.url, &self.token).await?;
        let mut link = Link {
            ws,
            render_height: self.render_height,
            offered: Vec::new(),
            announced: Vec::new(),
            placed: false,
        };
        if let Some(message) = link.on_server_message(reply)?
            && to_media.send(message).await.is_err()
        {
            return Ok(());
        }
        loop {
            tokio::select! {
                message = from_media.recv() => match message {
                    Some(ToSignaling::Leave) => {
                        link.leave().await;
                        return Ok(());
                    }
                    Some(message) => link.on_media_message(message).await?,
                    None => return Ok(()),
                },
                message = link.ws.next() => match message {
                    Some(Ok(Message::Text(text))) => {
                        if let Some(message) = link.on_server_message(serde_json::from_str(&text)?)? {
                            let placed = link.placed(&message);
                            for message in placed.into_iter().chain([message]) {
                                // The media side is gone: it has recorded why.
                                if to_media.send(message).await.is_err() {
                                    return Ok(());
                                }
                            }
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => bail!("signaling failed: {e}"),
                    None => bail!("the server closed the signaling connection"),
                },
            }
        }
    }
}

/// Joins with `token` at `url`, following `moved` to the node of a cluster that hosts the
/// room (at most three times); returns the socket, the reply to `join` there and how many
/// times the join moved.
pub async fn join(url: &str, token: &str) -> anyhow::Result<(Socket, Value, usize)> {
    let mut url = url.to_owned();
    for moves in 0..3 {
        // tungstenite zeroes its read buffer before every read (128 KiB by default).
        let config = WebSocketConfig::default().read_buffer_size(4 * 1024);
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(&url, Some(config), false)
            .await
            .with_context(|| format!("cannot open {url}"))?;
        let join = json!({"type": "join", "v": 1, "token": token});
        ws.send(Message::text(join.to_string())).await?;
        let reply: Value = loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => break serde_json::from_str(&text)?,
                Some(Ok(_)) => {}
                Some(Err(e)) => bail!("signaling failed: {e}"),
                None => bail!("the server closed the signaling connection before joining"),
            }
        };
        if reply["type"] != "moved" {
            return Ok((ws, reply, moves));
        }
        url = reply["url"].as_str().unwrap_or_default().to_owned();
    }
    bail!("the cluster sent the join to another node three times")
}

/// The open signaling connection.
struct Link {
    ws: Socket,
    render_height: u32,
    /// (mid, track sid) of the last subscribe offer.
    offered: Vec<(Mid, String)>,
    /// Video m-lines whose size was announced.
    announced: Vec<Mid>,
    /// The worker of the participant's sessions was told.
    placed: bool,
}

impl Link {
    async fn send(&mut self, message: Value) -> anyhow::Result<()> {
        self.ws.send(Message::text(message.to_string())).await?;
        Ok(())
    }

    /// Says `leave` and waits for the server to close the connection: a socket dropped
    /// at once may be reset before the server has read the `leave`, and the server then
    /// keeps the participant to resume.
    async fn leave(&mut self) {
        if self.send(json!({"type": "leave"})).await.is_err() {
            return;
        }
        let closed = async {
            while let Some(Ok(message)) = self.ws.next().await {
                if let Message::Close(_) = message {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(LEAVE_CLOSE, closed).await;
    }

    async fn on_media_message(&mut self, message: ToSignaling) -> anyhow::Result<()> {
        match message {
            ToSignaling::PublishOffer { sdp, tracks } => {
                let tracks: Vec<Value> = tracks
                    .iter()
                    .map(|(mid, kind)| {
                        let source = match kind {
                            MediaKind::Audio => "microphone",
                            MediaKind::Video => "camera",
                        };
                        json!({"mid": mid.to_string(), "source": source})
                    })
                    .collect();
                self.send(json!({"type": "publish_offer", "sdp": sdp, "tracks": tracks}))
                    .await
            }
            ToSignaling::SubscribeAnswer { sdp, video } => {
                self.send(json!({"type": "subscribe_answer", "sdp": sdp}))
                    .await?;
                self.announce_sizes(&video).await
            }
            // Players over signaling are offered to; they never offer.
            ToSignaling::Leave | ToSignaling::PlayOffer(_) => Ok(()),
        }
    }

    /// What of a server message concerns the media side.
    fn on_server_message(&mut self, message: Value) -> anyhow::Result<Option<ToMedia>> {
        let sdp = || message["sdp"].as_str().unwrap_or_default().to_owned();
        Ok(match message["type"].as_str() {
            Some("error") => bail!("server error {}: {}", message["code"], message["message"]),
            Some("joined") => {
                let others = message["participants"].as_array().map_or(&[][..], |p| p);
                Some(ToMedia::Joined {
                    participants: others.len(),
                    tracks: others
                        .iter()
                        .map(|p| p["tracks"].as_array().map_or(0, Vec::len))
                        .sum(),
                })
            }
            Some("publish_answer") => Some(ToMedia::PublishAnswer(sdp())),
            Some("subscribe_offer") => {
                self.offered = message["tracks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| Some((Mid::from(t["mid"].as_str()?), t["track"].as_str()?)))
                    .map(|(mid, track)| (mid, track.to_owned()))
                    .collect();
                Some(ToMedia::SubscribeOffer(sdp()))
            }
            _ => None,
        })
    }

    /// On the server's first SDP, the media worker its sessions live on.
    fn placed(&mut self, message: &ToMedia) -> Option<ToMedia> {
        let (ToMedia::PublishAnswer(sdp) | ToMedia::SubscribeOffer(sdp)) = message else {
            return None;
        };
        if self.placed {
            return None;
        }
        self.placed = true;
        worker_of(sdp).map(|worker| ToMedia::Placed { worker })
    }

    /// Tells the server the rendered height of every newly offered video.
    async fn announce_sizes(&mut self, video: &[Mid]) -> anyhow::Result<()> {
        let mut new = Vec::new();
        for (mid, track) in &self.offered {
            if video.contains(mid) && !self.announced.contains(mid) {
                self.announced.push(*mid);
                new.push(track.clone());
            }
        }
        let height = self.render_height;
        for track in new {
            let width = height * 16 / 9;
            self.send(
                json!({"type": "video_size", "track": track, "width": width, "height": height}),
            )
            .await?;
        }
        Ok(())
    }
}

/// The media worker a Moim session lives on: the first two hex digits of its ICE ufrag.
fn worker_of(sdp: &str) -> Option<usize> {
    let ufrag = sdp
        .lines()
        .find_map(|line| line.trim().strip_prefix("a=ice-ufrag:"))?;
    usize::from_str_radix(ufrag.get(..2)?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ufrag_names_the_worker() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:01f3a9c2\r\na=mid:0\r\n";
        assert_eq!(worker_of(sdp), Some(1));
        assert_eq!(worker_of("v=0\r\n"), None);
    }
}
