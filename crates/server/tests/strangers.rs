//! Strangers cannot hold the server's resources: a connection that never finishes its
//! request is closed, one address holds a bounded number of connections, and a WebSocket
//! that never joins is closed.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{Server, Signal};

/// Whether the server closes `stream` within `within` (reads hit the end).
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
    false
}

#[test]
fn half_sent_requests_are_closed_and_an_address_holds_few_connections() {
    let server = Server::start_with(&[
        ("MOIM_HEADER_TIMEOUT", "1"),
        ("MOIM_MAX_CONNECTIONS_PER_IP", "3"),
    ]);
    let connect = || TcpStream::connect(("127.0.0.1", server.http_port)).unwrap();
    let mut idle = connect();
    let mut half = connect();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: loc")
        .unwrap();
    let mut third = connect();
    let mut fourth = connect();
    // The fourth is refused at once; or the third, when the connection that found the
    // server listening still held its slot as the third came (it goes as the server
    // reads its end), and then the fourth takes that slot.
    let fourth_refused = closed_within(&mut fourth, Duration::from_millis(300));
    let mut kept = if fourth_refused {
        third
    } else {
        assert!(
            closed_within(&mut third, Duration::from_millis(1)),
            "a fourth connection from one address is refused at once"
        );
        fourth
    };
    assert!(
        closed_within(&mut half, Duration::from_secs(3)),
        "half a request"
    );
    assert!(
        closed_within(&mut idle, Duration::from_secs(3)),
        "nothing sent"
    );
    assert!(closed_within(&mut kept, Duration::from_secs(3)));
    // Their slots are free again: a whole request is answered.
    let (status, _) = server.http("GET", "/healthz", &[], "");
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_that_never_joins_is_closed() {
    let server = Server::start();
    let mut lurker = Signal::connect(&server.ws_url()).await;
    let started = Instant::now();
    let reply = lurker
        .recv_within(Duration::from_secs(20))
        .await
        .flatten()
        .expect("told why before closing");
    assert_eq!(reply["code"], "not_joined", "{reply}");
    assert!(lurker.recv_closed().await);
    assert!(started.elapsed() < Duration::from_secs(20));
}
