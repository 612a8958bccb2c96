//! The HTTP/1.1 client of the requests this server makes itself: to the node a room runs
//! on (the relay's WHEP offer, the watch page's questions, a meeting's link) and to
//! webhook receivers. One request per connection, over TLS for `https://` (certificates
//! checked against the system's authorities), bounded in time and in the size of the
//! answer.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context, bail};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// How long the server asked has to answer.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer read.
const MAX_RESPONSE: u64 = 256 * 1024;

/// What the server asked answered.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The header lines.
    pub headers: String,
    /// The body, as text.
    pub body: String,
}

/// A connection to another server, plain or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A server reached by its URL: whether over TLS, and its `host[:port]`.
pub struct Reached {
    /// The connection.
    pub stream: Box<dyn Stream>,
    /// Over `https://`.
    pub tls: bool,
    /// The URL's `host[:port]`, for a `Host` header.
    pub authority: String,
}

/// Connects to the server at `url` (`http://` or `https://`, its certificate checked
/// against the system's authorities or `SSL_CERT_FILE`).
pub async fn connect(url: &str) -> anyhow::Result<Reached> {
    let (tls, authority) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        bail!("{url} is not an http:// or https:// URL");
    };
    let authority = authority.trim_end_matches('/').to_owned();
    let (host, address) = endpoint(&authority, if tls { 443 } else { 80 });
    let stream = TcpStream::connect(&address)
        .await
        .with_context(|| format!("cannot connect to {address}"))?;
    let _ = stream.set_nodelay(true);
    let stream: Box<dyn Stream> = if tls {
        let name = ServerName::try_from(host.to_owned())
            .with_context(|| format!("{host} is not a name a certificate can hold"))?;
        let stream = TlsConnector::from(client_config()?)
            .connect(name, stream)
            .await
            .with_context(|| format!("TLS with {authority}"))?;
        Box::new(stream)
    } else {
        Box::new(stream)
    };
    Ok(Reached {
        stream,
        tls,
        authority,
    })
}

/// An `http://` or `https://` URL split into its origin (`scheme://host[:port]`, as
/// [`request`] takes it) and its path and query (`/` when it has none).
pub fn split_url(url: &str) -> anyhow::Result<(String, String)> {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        bail!("it must start with http:// or https://");
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('?') => (&rest[..i], format!("/{}", &rest[i..])),
        Some(i) => (&rest[..i], rest[i..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    if authority.is_empty() || authority.contains('@') || !plain_path(&path) {
        bail!("it needs a host and a path without spaces");
    }
    let scheme = &url[..url.len() - rest.len()];
    Ok((format!("{scheme}{authority}"), path))
}

/// Whether `path` may be put in a request line as it is.
pub fn plain_path(path: &str) -> bool {
    path.starts_with('/') && !path.bytes().any(|b| b <= b' ' || b == 0x7f)
}

/// Sends `method path` with `headers` (each line ending in CRLF) and `body` to the server
/// at `origin` (`http[s]://host[:port]`, [`connect`]).
pub async fn request(
    origin: &str,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> anyhow::Result<Reply> {
    if !plain_path(path) {
        bail!("{path:?} is not a path to ask for");
    }
    let exchange = async {
        let reached = connect(origin).await?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{headers}Content-Length: {}\r\n\
             Connection: close\r\n\r\n",
            reached.authority,
            body.len()
        );
        let message = [head.as_bytes(), body.as_bytes()].concat();
        exchange(reached.stream, &message).await
    };
    let response = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .with_context(|| format!("{method} {origin}{path}: no answer within {TIMEOUT:?}"))??;
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("the answer has no end of headers")?;
    let head = std::str::from_utf8(&response[..end]).context("the answer's head is not UTF-8")?;
    let body = &response[end + 4..];
    let (status_line, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("the answer has no status")?;
    let chunked = header(headers, "transfer-encoding").is_some_and(|v| v.contains("chunked"));
    let body = if chunked {
        unchunked(body).context("the answer's chunks do not add up")?
    } else {
        let length = header(headers, "content-length").and_then(|v| v.parse::<usize>().ok());
        match length {
            Some(length) => body
                .get(..length)
                .context("the answer ended before its body")?
                .to_vec(),
            None => body.to_vec(),
        }
    };
    Ok(Reply {
        status,
        headers: headers.to_owned(),
        body: String::from_utf8(body).context("the answer's body is not UTF-8")?,
    })
}

/// Writes `message` on `stream` and reads the answer to its end.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    message: &[u8],
) -> anyhow::Result<Vec<u8>> {
    stream.write_all(message).await?;
    stream.flush().await?;
    let mut response = Vec::new();
    match stream.take(MAX_RESPONSE).read_to_end(&mut response).await {
        Ok(_) => Ok(response),
        // A TLS peer (often a proxy) that closes without saying so first: what it sent is
        // checked against its length as any answer is.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}

/// The host of `authority` (`host[:port]`, `[v6][:port]`) and the address to connect to,
/// with `default_port` where it names none.
fn endpoint(authority: &str, default_port: u16) -> (&str, String) {
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') && port.parse::<u16>().is_ok() => (host, port),
        _ => (authority, ""),
    };
    let address = if port.is_empty() {
        format!("{authority}:{default_port}")
    } else {
        authority.to_owned()
    };
    (host.trim_start_matches('[').trim_end_matches(']'), address)
}

/// A body sent in chunks (a proxy in front of the server may send it so), put together.
fn unchunked(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line = body.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&body[..line]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        let rest = &body[line + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(..size)?);
        body = rest.get(size..)?.strip_prefix(b"\r\n")?;
    }
}

/// How this server checks the certificates of servers reached over `https://`: the
/// system's authorities (or `SSL_CERT_FILE`), read once.
fn client_config() -> anyhow::Result<Arc<ClientConfig>> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    let made = CONFIG.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err(format!(
                "no certificate authority found to check other servers' certificates with ({:?})",
                found.errors
            ));
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
            .map_err(|e| e.to_string())
    });
    made.clone().map_err(|e| anyhow::anyhow!(e))
}

/// The value of header `name` (lower case) in `headers`.
pub fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
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
    fn a_url_gives_the_name_to_check_and_the_address_to_connect_to() {
        assert_eq!(
            endpoint("node1.example.org", 443),
            ("node1.example.org", "node1.example.org:443".to_owned())
        );
        assert_eq!(
            endpoint("10.0.0.1:7880", 80),
            ("10.0.0.1", "10.0.0.1:7880".to_owned())
        );
        assert_eq!(
            endpoint("[::1]:8443", 443),
            ("::1", "[::1]:8443".to_owned())
        );
        assert_eq!(endpoint("[::1]", 443), ("::1", "[::1]:443".to_owned()));
    }

    #[test]
    fn a_chunked_body_is_put_together() {
        assert_eq!(
            unchunked(b"4\r\nv=0\n\r\n6;x=y\r\no=- 1 \r\n0\r\n\r\n").as_deref(),
            Some(&b"v=0\no=- 1 "[..])
        );
        assert_eq!(unchunked(b"9\r\nshort\r\n"), None);
        // A character split between two chunks comes back whole.
        let split = [
            b"1\r\n".as_slice(),
            &[0xc3],
            b"\r\n1\r\n",
            &[0xa9],
            b"\r\n0\r\n\r\n",
        ]
        .concat();
        assert_eq!(unchunked(&split).as_deref(), Some("é".as_bytes()));
    }

    #[test]
    fn headers_are_found_whatever_their_case() {
        let headers = "Content-Type: application/sdp\r\nlocation: /whep/r/abc\r\n";
        assert_eq!(header(headers, "location"), Some("/whep/r/abc"));
        assert_eq!(header(headers, "content-type"), Some("application/sdp"));
        assert_eq!(header(headers, "link"), None);
    }
}
