//! A node's requests to the node a room runs on, over plain HTTP/1.1 between nodes (one
//! request per connection): the relay's WHEP offer and the end of its session, and the
//! watch page's questions about the room's broadcast.

use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long the room's node has to answer.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer read.
const MAX_RESPONSE: u64 = 256 * 1024;

/// What the room's node answered to an offer.
#[derive(Debug)]
pub struct Played {
    /// The session's resource path (`/whep/{room}/{resource}`).
    pub location: String,
    /// The SDP answer.
    pub answer: String,
}

/// What the room's node answered.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The header lines.
    pub headers: String,
    /// The body, as text.
    pub body: String,
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

/// Sends `method path` with `headers` (each line ending in CRLF) and `body` to the node
/// at `node_url`.
pub async fn request(
    node_url: &str,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> anyhow::Result<Reply> {
    let Some(host) = node_url.strip_prefix("http://") else {
        bail!("the room's node is at {node_url}; nodes reach each other over http:// only");
    };
    let host = host.trim_end_matches('/');
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Content-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    let exchange = async {
        let mut stream = TcpStream::connect(host)
            .await
            .with_context(|| format!("cannot connect to {host}"))?;
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        let mut response = Vec::new();
        stream.take(MAX_RESPONSE).read_to_end(&mut response).await?;
        anyhow::Ok(response)
    };
    let response = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .with_context(|| format!("{method} {node_url}{path}: no answer within {TIMEOUT:?}"))??;
    let text = String::from_utf8(response).context("the answer is not UTF-8")?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("the answer has no end of headers")?;
    let (status_line, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("the answer has no status")?;
    Ok(Reply {
        status,
        headers: headers.to_owned(),
        body: body.to_owned(),
    })
}

/// The value of header `name` (lower case) in `headers`.
fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then_some(value.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_found_whatever_their_case() {
        let headers = "Content-Type: application/sdp\r\nlocation: /whep/r/abc\r\n";
        assert_eq!(header(headers, "location"), Some("/whep/r/abc"));
        assert_eq!(header(headers, "content-type"), Some("application/sdp"));
        assert_eq!(header(headers, "link"), None);
    }
}
