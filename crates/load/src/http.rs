//! A minimal HTTP/1.1 client on loopback: one request per connection (`Connection:
//! close`), plain `http://` only. Enough for Janus's REST API and its long poll, and for
//! WHEP, without pulling in an HTTP stack.

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `POST`s `body` as JSON to `url` and returns the JSON reply.
pub async fn post(url: &str, body: &Value, timeout: Duration) -> anyhow::Result<Value> {
    request("POST", url, Some(body), timeout).await
}

/// `GET`s `url` and returns the JSON reply.
pub async fn get(url: &str, timeout: Duration) -> anyhow::Result<Value> {
    request("GET", url, None, timeout).await
}

async fn request(
    method: &str,
    url: &str,
    body: Option<&Value>,
    timeout: Duration,
) -> anyhow::Result<Value> {
    let body = body.map(Value::to_string).unwrap_or_default();
    let response = send(
        method,
        url,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
        timeout,
    )
    .await?;
    if response.status != 200 {
        bail!("{method} {url}: {}", response.status_line);
    }
    serde_json::from_slice(&response.body)
        .with_context(|| format!("{method} {url}: the reply is not JSON"))
}

/// A complete response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    status_line: String,
    head: String,
    pub body: Vec<u8>,
}

impl Response {
    /// The value of header `name`, whatever its case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then_some(value.trim())
        })
    }
}

/// Sends one request with `headers` and `body` and reads the whole response.
pub async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> anyhow::Result<Response> {
    let (host, path) = split_url(url)?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let exchange = async {
        let mut stream = TcpStream::connect(host)
            .await
            .with_context(|| format!("cannot connect to {host}"))?;
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        anyhow::Ok(response)
    };
    let response = tokio::time::timeout(timeout, exchange)
        .await
        .with_context(|| format!("{method} {url}: no reply within {timeout:?}"))??;
    parse_response(&response).with_context(|| format!("{method} {url}"))
}

/// `http://host:port/path?query` → (`host:port`, `/path?query`).
fn split_url(url: &str) -> anyhow::Result<(&str, &str)> {
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("{url}: only http:// URLs are supported");
    };
    Ok(match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    })
}

/// A complete response: its status and headers, and its body, de-chunked.
fn parse_response(response: &[u8]) -> anyhow::Result<Response> {
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("the connection closed before the headers ended")?;
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let body = &response[split + 4..];
    let status_line = head.lines().next().unwrap_or_default().to_owned();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no status")?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Ok(Response {
        status,
        status_line,
        head,
        body,
    })
}

/// Decodes a `Transfer-Encoding: chunked` body.
fn dechunk(mut body: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("truncated chunk header")?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).context("bad chunk size")?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size + 2 {
            bail!("truncated chunk");
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_urls() {
        assert_eq!(
            split_url("http://127.0.0.1:8088/janus/12?maxev=5").unwrap(),
            ("127.0.0.1:8088", "/janus/12?maxev=5")
        );
        assert_eq!(
            split_url("http://localhost:80").unwrap(),
            ("localhost:80", "/")
        );
        assert!(split_url("https://example.org/").is_err());
    }

    #[test]
    fn reads_plain_and_chunked_bodies() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(parse_response(plain).unwrap().body, b"{}");
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap().body, b"{\"a\":1}");
        let created = b"HTTP/1.1 201 Created\r\nlocation: /whep/r/1\r\n\r\nv=0";
        let created = parse_response(created).unwrap();
        assert_eq!(created.status, 201);
        assert_eq!(created.header("Location"), Some("/whep/r/1"));
        assert!(parse_response(b"HTTP/1.1 404 Not Found").is_err());
    }
}
