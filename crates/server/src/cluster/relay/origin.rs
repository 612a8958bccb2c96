//! A node's requests to the node a room runs on for the relay: its WHEP offer and the end
//! of its session.

use anyhow::{Context, bail};

use crate::outbound::{Reply, header, request};

/// What the room's node answered to an offer.
#[derive(Debug)]
pub struct Played {
    /// The session's resource path (`/whep/{room}/{resource}`).
    pub location: String,
    /// The SDP answer.
    pub answer: String,
}

/// Posts `offer` to `{node_url}/whep/{room}` with `token`; the answer and the resource.
pub async fn play(node_url: &str, room: &str, token: &str, offer: &str) -> anyhow::Result<Played> {
    let Reply {
        status,
        headers,
        body,
    } = request(
        node_url,
        "POST",
        &format!("/whep/{room}"),
        &format!("Authorization: Bearer {token}\r\nContent-Type: application/sdp\r\n"),
        offer,
    )
    .await?;
    if status != 201 {
        bail!("the room's node answered {status}: {body}");
    }
    let location = header(&headers, "location")
        .context("the room's node answered without a Location")?
        .to_owned();
    Ok(Played {
        location,
        answer: body,
    })
}

/// Ends the session at `location` on the node at `node_url`.
pub async fn stop(node_url: &str, location: &str) -> anyhow::Result<()> {
    request(node_url, "DELETE", location, "", "")
        .await
        .map(|_| ())
}
