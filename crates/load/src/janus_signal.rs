//! A participant's signaling with a Janus videoroom (Janus 1.x multistream API, over HTTP).
//!
//! One Janus session per participant. Its first handle joins the room as a publisher, which
//! is how Janus tells a participant which feeds are active (also for those who never
//! publish); it publishes the media side's offer once joined. A second handle, created when
//! the first feed appears, subscribes to every other feed (one subscriber connection, like
//! Moim's) at the simulcast substream matching the rendered height; feeds that appear later
//! are added with `subscribe`, one renegotiation at a time.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::sync::mpsc::{Receiver, Sender};

use crate::janus_api::{Events, Session, VIDEOROOM};
use crate::signal::{ToMedia, ToSignaling};

/// Janus drops sessions that are quiet for 60 s.
const KEEPALIVE: Duration = Duration::from_secs(25);

/// Where and as whom a participant joins a Janus videoroom.
pub struct JanusSignal {
    /// The Janus API's base URL, e.g. `http://127.0.0.1:8088/janus`.
    pub base: String,
    pub room: u64,
    pub display: String,
    /// Whether to subscribe to the other participants' feeds.
    pub subscribe: bool,
    /// Simulcast substream to receive (0 lowest … 2 highest).
    pub substream: u8,
}

impl JanusSignal {
    /// The substream Janus should send for video rendered `height` pixels high.
    pub fn substream_for(height: u32) -> u8 {
        match height {
            0..=180 => 0,
            181..=360 => 1,
            _ => 2,
        }
    }

    /// Joins and relays until the media side leaves.
    pub async fn run(
        self,
        to_media: Sender<ToMedia>,
        mut from_media: Receiver<ToSignaling>,
    ) -> anyhow::Result<()> {
        let session = Session::create(&self.base).await?;
        let mut events = session.events();
        let result = async {
            let publisher = session.attach(VIDEOROOM).await?;
            let mut member = Member {
                config: &self,
                session: &session,
                to_media: &to_media,
                publisher,
                feed: None,
                offer: None,
                subscriber: None,
                wanted: Vec::new(),
                feeds: HashSet::new(),
                negotiating: false,
            };
            member.join().await?;
            member.relay(&mut events, &mut from_media).await
        }
        .await;
        drop(events);
        let _ = session.destroy().await;
        result
    }
}

/// A participant's state in the room.
struct Member<'a> {
    config: &'a JanusSignal,
    session: &'a Session,
    to_media: &'a Sender<ToMedia>,
    /// The handle joined as publisher.
    publisher: u64,
    /// Our feed id, once joined.
    feed: Option<u64>,
    /// The publisher connection's offer, kept until the room is joined.
    offer: Option<String>,
    /// The subscriber handle, once created.
    subscriber: Option<u64>,
    /// Feeds to subscribe to at the next chance.
    wanted: Vec<u64>,
    /// Feeds subscribed to or wanted.
    feeds: HashSet<u64>,
    /// An offer for the subscriber connection is on its way or waiting for our answer.
    negotiating: bool,
}

impl Member<'_> {
    async fn join(&mut self) -> anyhow::Result<()> {
        let body = json!({
            "request": "join",
            "ptype": "publisher",
            "room": self.config.room,
            "display": self.config.display,
        });
        self.session.message(self.publisher, body, None).await?;
        Ok(())
    }

    /// Relays between Janus's events and the media side until the media side is done.
    async fn relay(
        &mut self,
        events: &mut Events,
        from_media: &mut Receiver<ToSignaling>,
    ) -> anyhow::Result<()> {
        let mut keepalive = tokio::time::interval(KEEPALIVE);
        keepalive.tick().await;
        loop {
            tokio::select! {
                message = from_media.recv() => match message {
                    Some(ToSignaling::Leave) | None => return Ok(()),
                    Some(message) => self.on_media_message(message).await?,
                },
                event = events.next() => {
                    if !self.on_event(event?).await? {
                        // The media side is gone: it has recorded why.
                        return Ok(());
                    }
                }
                _ = keepalive.tick() => self.session.keepalive().await?,
            }
        }
    }

    async fn on_media_message(&mut self, message: ToSignaling) -> anyhow::Result<()> {
        match message {
            ToSignaling::PublishOffer { sdp, .. } => {
                self.offer = Some(sdp);
                if self.feed.is_some() {
                    self.publish().await?;
                }
            }
            ToSignaling::SubscribeAnswer { sdp, .. } => {
                let subscriber = self
                    .subscriber
                    .context("an answer without a subscription")?;
                let body = json!({"request": "start"});
                let jsep = json!({"type": "answer", "sdp": sdp});
                self.session.message(subscriber, body, Some(jsep)).await?;
                self.negotiating = false;
                self.subscribe_wanted().await?;
            }
            // Janus players join the videoroom; they never offer.
            ToSignaling::Leave | ToSignaling::PlayOffer(_) => {}
        }
        Ok(())
    }

    /// Sends the publisher connection's offer (simulcast rids listed low to high).
    async fn publish(&mut self) -> anyhow::Result<()> {
        let Some(sdp) = self.offer.take() else {
            return Ok(());
        };
        let body = json!({"request": "publish", "display": self.config.display});
        let jsep = json!({"type": "offer", "sdp": sdp, "trickle": false, "rid_order": "lmh"});
        self.session
            .message(self.publisher, body, Some(jsep))
            .await?;
        Ok(())
    }

    /// Handles one event of the session; `false` when the media side is gone.
    async fn on_event(&mut self, event: Value) -> anyhow::Result<bool> {
        let sender = event["sender"].as_u64();
        let which = if sender == Some(self.publisher) {
            "publisher"
        } else {
            "subscriber"
        };
        match event["janus"].as_str() {
            Some("event") => {}
            Some("hangup") => bail!("Janus hung up the {which} connection: {}", event["reason"]),
            Some("detached") => bail!("Janus detached the {which} handle"),
            _ => return Ok(true),
        }
        let data = &event["plugindata"]["data"];
        if let Some(code) = data["error_code"].as_u64() {
            bail!("Janus videoroom error {code}: {}", data["error"]);
        }
        let jsep = &event["jsep"];
        let sdp = || jsep["sdp"].as_str().unwrap_or_default().to_owned();
        if sender == Some(self.publisher) {
            if data["videoroom"] == "joined" {
                self.feed = data["id"].as_u64();
                self.publish().await?;
            }
            if let Some(publishers) = data["publishers"].as_array() {
                self.want_feeds(publishers).await?;
            }
            if jsep["type"] == "answer" {
                return Ok(self
                    .to_media
                    .send(ToMedia::PublishAnswer(sdp()))
                    .await
                    .is_ok());
            }
        } else if sender.is_some() && sender == self.subscriber {
            if jsep["type"] == "offer" {
                self.negotiating = true;
                return Ok(self
                    .to_media
                    .send(ToMedia::SubscribeOffer(sdp()))
                    .await
                    .is_ok());
            }
            if data["videoroom"] == "updated" {
                // Nothing to renegotiate.
                self.negotiating = false;
                self.subscribe_wanted().await?;
            }
        }
        Ok(true)
    }

    /// Notes the active publishers' feeds we do not receive yet and subscribes if possible.
    async fn want_feeds(&mut self, publishers: &[Value]) -> anyhow::Result<()> {
        if !self.config.subscribe {
            return Ok(());
        }
        for publisher in publishers {
            let Some(feed) = publisher["id"].as_u64() else {
                continue;
            };
            if Some(feed) != self.feed && self.feeds.insert(feed) {
                self.wanted.push(feed);
            }
        }
        self.subscribe_wanted().await
    }

    /// Subscribes to the wanted feeds unless a negotiation is under way (then this runs again
    /// when it ends): the first time by joining as a subscriber, later with `subscribe`.
    async fn subscribe_wanted(&mut self) -> anyhow::Result<()> {
        if self.negotiating || self.wanted.is_empty() {
            return Ok(());
        }
        let streams: Vec<Value> = self
            .wanted
            .drain(..)
            .map(|feed| json!({"feed": feed, "substream": self.config.substream}))
            .collect();
        let (handle, body) = match self.subscriber {
            Some(handle) => (handle, json!({"request": "subscribe", "streams": streams})),
            None => {
                let handle = self.session.attach(VIDEOROOM).await?;
                self.subscriber = Some(handle);
                let body = json!({
                    "request": "join",
                    "ptype": "subscriber",
                    "room": self.config.room,
                    "streams": streams,
                });
                (handle, body)
            }
        };
        self.negotiating = true;
        self.session.message(handle, body, None).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_height_picks_the_substream() {
        assert_eq!(JanusSignal::substream_for(180), 0);
        assert_eq!(JanusSignal::substream_for(360), 1);
        assert_eq!(JanusSignal::substream_for(720), 2);
        assert_eq!(JanusSignal::substream_for(1080), 2);
    }
}
