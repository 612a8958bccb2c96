//! A viewer that plays a Moim room's stream over WHEP (`POST /whep/{room}`, RFC 9725)
//! instead of joining over signaling: the client offers, the node answers; a `307` from a
//! cluster node that sends the player to the room's node is followed. The session's
//! resource is deleted when the viewer leaves.

use std::time::Duration;

use anyhow::{Context, bail};
use tokio::sync::mpsc::{Receiver, Sender};

use crate::http;
use crate::signal::{ToMedia, ToSignaling};

/// How long a node has to answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Redirects followed at most.
const MAX_REDIRECTS: usize = 3;

/// Where and as whom a viewer plays.
pub struct WhepSignal {
    /// The HTTP base URL of the node the viewer reaches.
    pub url: String,
    pub room: String,
    pub token: String,
}

impl WhepSignal {
    /// Posts the media side's offer, hands back the answer, and ends the session when the
    /// media side leaves.
    pub async fn run(
        self,
        to_media: Sender<ToMedia>,
        mut from_media: Receiver<ToSignaling>,
    ) -> anyhow::Result<()> {
        if to_media.send(ToMedia::OfferToPlay).await.is_err() {
            return Ok(());
        }
        let mut resource = None;
        loop {
            match from_media.recv().await {
                Some(ToSignaling::PlayOffer(sdp)) => {
                    let (answer, location) = self.play(&sdp).await?;
                    resource = Some(location);
                    let joined = ToMedia::Joined {
                        participants: 0,
                        tracks: 0,
                    };
                    if to_media.send(joined).await.is_err()
                        || to_media.send(ToMedia::PlayAnswer(answer)).await.is_err()
                    {
                        break;
                    }
                }
                Some(ToSignaling::Leave) | None => break,
                Some(_) => {}
            }
        }
        if let Some(resource) = resource {
            let _ = http::send("DELETE", &resource, &[], &[], TIMEOUT).await;
        }
        Ok(())
    }

    /// The answer to `offer` and the session's resource URL.
    async fn play(&self, offer: &str) -> anyhow::Result<(String, String)> {
        let auth = format!("Bearer {}", self.token);
        let headers = [
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/sdp"),
        ];
        let mut url = format!("{}/whep/{}", self.url.trim_end_matches('/'), self.room);
        for _ in 0..=MAX_REDIRECTS {
            let response = http::send("POST", &url, &headers, offer.as_bytes(), TIMEOUT).await?;
            let location = response.header("Location").map(|l| absolute(&url, l));
            match (response.status, location) {
                (307, Some(next)) => url = next,
                (201, Some(resource)) => {
                    let answer =
                        String::from_utf8(response.body).context("the answer is not text")?;
                    return Ok((answer, resource));
                }
                (status, _) => bail!(
                    "WHEP {url}: {status} {}",
                    String::from_utf8_lossy(&response.body)
                ),
            }
        }
        bail!("WHEP {url}: more than {MAX_REDIRECTS} redirects")
    }
}

/// `location` as an absolute URL, against the URL of the request it answered.
fn absolute(request: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_owned();
    }
    let origin_end = request
        .find("://")
        .and_then(|i| request[i + 3..].find('/').map(|j| i + 3 + j))
        .unwrap_or(request.len());
    format!("{}{location}", &request[..origin_end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_made_absolute_against_the_request() {
        let request = "http://127.0.0.1:7880/whep/show";
        assert_eq!(
            absolute(request, "/whep/show/abc"),
            "http://127.0.0.1:7880/whep/show/abc"
        );
        assert_eq!(
            absolute(request, "http://10.0.0.2:7880/whep/show"),
            "http://10.0.0.2:7880/whep/show"
        );
    }
}
