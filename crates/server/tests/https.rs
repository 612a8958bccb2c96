//! HTTPS and WSS on the HTTP port: with a certificate the server speaks only TLS there, the
//! app, the API and signaling answer over it, and a renewed certificate is served without
//! a restart.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::Message;

use support::Server;
use support::cluster::{scratch, self_signed};

fn certificate(file: &Path) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(file).expect("the certificate reads")
}

/// A TLS client that trusts `certs` (self-signed, as the test's server's are).
fn trusting(certs: &[&Path]) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs {
        roots.add(certificate(cert)).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

async fn connect(server: &Server, tls: &TlsConnector) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", server.http_port))
        .await
        .unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    tls.connect(name, tcp).await.expect("the TLS handshake")
}

/// The whole answer to a GET of `path` over TLS.
async fn get(server: &Server, tls: &TlsConnector, path: &str) -> String {
    let mut stream = connect(server, tls).await;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn start_with_certificate(cert: &Path, key: &Path, extra: &[(&str, &str)]) -> Server {
    let mut env = vec![
        ("MOIM_TLS_CERT", cert.to_str().unwrap()),
        ("MOIM_TLS_KEY", key.to_str().unwrap()),
    ];
    env.extend_from_slice(extra);
    Server::start_with(&env)
}

#[tokio::test]
async fn the_app_the_api_and_signaling_answer_over_tls_and_plain_http_gets_nothing() {
    let dir = scratch("https");
    let (cert, key) = self_signed(&dir);
    let redirect = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let server = start_with_certificate(&cert, &key, &[("MOIM_HTTP_REDIRECT_ADDR", &redirect)]);
    let tls = trusting(&[&cert]);

    let health = get(&server, &tls, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let app = get(&server, &tls, "/r/tls-room").await;
    assert!(
        app.starts_with("HTTP/1.1 200") && app.contains("<html"),
        "{app}"
    );

    // Signaling over WSS: a join gets `joined`.
    let stream = connect(&server, &tls).await;
    let url = format!("wss://127.0.0.1:{}/rtc", server.http_port);
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream)
        .await
        .expect("the WebSocket upgrade over TLS");
    let token = server.token("tls-room", "ada", &[]);
    let join = json!({"type": "join", "v": 1, "token": token, "id": "join"});
    ws.send(Message::text(join.to_string())).await.unwrap();
    let reply = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                break serde_json::from_str::<Value>(&text).unwrap();
            }
            Ok(Some(Ok(_))) => continue,
            other => panic!("no reply to join: {other:?}"),
        }
    };
    assert_eq!(reply["type"], "joined", "{reply}");

    // Plain HTTP on the port gets no HTTP answer: the server waits for a TLS handshake.
    let mut plain = TcpStream::connect(("127.0.0.1", server.http_port))
        .await
        .unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut answer)).await;
    assert!(
        !answer.starts_with(b"HTTP/"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // The redirect address sends plain HTTP on to the same path over HTTPS.
    let mut plain = TcpStream::connect(&redirect).await.unwrap();
    plain
        .write_all(
            b"GET /r/tls-room?name=Ada HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = String::new();
    plain.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 308"), "{answer}");
    let to = format!(
        "location: https://127.0.0.1:{}/r/tls-room?name=Ada",
        server.http_port
    );
    assert!(
        answer.to_lowercase().contains(&to.to_lowercase()),
        "{answer}"
    );
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let dir = scratch("https-renewed");
    let (cert, key) = self_signed(&dir);
    let server = start_with_certificate(&cert, &key, &[]);
    let first = certificate(&cert);

    let renewal = scratch("https-renewal");
    let (new_cert, new_key) = self_signed(&renewal);
    let renewed = certificate(&new_cert);
    assert_ne!(first, renewed);
    let tls = trusting(&[&cert, &new_cert]);
    let served =
        |stream: &TlsStream<TcpStream>| stream.get_ref().1.peer_certificates().unwrap()[0].clone();
    assert_eq!(served(&connect(&server, &tls).await), first);

    // As certbot and the like do: the key, then the certificate, replaced in place.
    std::fs::copy(&new_key, &key).unwrap();
    std::fs::copy(&new_cert, &cert).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let stream = connect(&server, &tls).await;
        if served(&stream) == renewed {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the renewed certificate is not served after 15 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let health = get(&server, &tls, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
}
