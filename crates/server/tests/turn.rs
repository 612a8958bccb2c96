//! TURN through signaling and WHIP: a participant's `joined` names the embedded TURN
//! server with credentials it accepts, relaying to Moim's media port and nowhere else; a
//! WHIP answer names the same servers in `Link` headers (RFC 9725).

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use moim_turn::credentials::long_term_key;
use moim_turn::message::{Class, Message, Method, Writer, attr};
use moim_turn::server::REALM;
use serde_json::Value;
use str0m::media::{Direction, MediaKind};
use support::{Server, joined};

/// A TURN client over UDP with the credentials from `joined`.
struct Client {
    socket: UdpSocket,
    server: SocketAddr,
    username: String,
    key: [u8; 16],
    nonce: Vec<u8>,
    next: u8,
}

impl Client {
    fn request(&mut self, method: Method, build: impl FnOnce(&mut Writer)) -> Vec<u8> {
        self.next += 1;
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out, method, Class::Request, [self.next; 12]);
        build(&mut w);
        if !self.nonce.is_empty() {
            w.sign(&self.username, REALM.as_bytes(), &self.nonce, &self.key);
        }
        self.socket.send_to(&out, self.server).unwrap();
        let mut buf = vec![0; 1500];
        let n = self.socket.recv(&mut buf).expect("a TURN response");
        buf.truncate(n);
        buf
    }

    /// The response's class and error code.
    fn outcome(reply: &[u8]) -> (Class, Option<u16>) {
        let m = Message::parse(reply).unwrap();
        let code = m
            .attribute(attr::ERROR_CODE)
            .map(|v| u16::from(v[2]) * 100 + u16::from(v[3]));
        (m.class, code)
    }
}

fn udp_url(ice_servers: &Value) -> (SocketAddr, String, String) {
    let server = &ice_servers[0];
    let urls: Vec<&str> = server["urls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    assert!(
        urls.iter().any(|u| u.ends_with("?transport=tcp")),
        "{urls:?}"
    );
    let udp = urls
        .iter()
        .find_map(|u| u.strip_prefix("turn:")?.strip_suffix("?transport=udp"))
        .expect("a turn: URL over UDP");
    (
        udp.parse().unwrap(),
        server["username"].as_str().unwrap().to_owned(),
        server["credential"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joined_hands_out_turn_credentials_the_server_accepts_for_its_media_port_only() {
    let server = Server::start_with(&[("MOIM_TURN", "1")]);
    let (_signal, reply) = joined(&server, "t1", "ada", &[]).await;
    let (turn, username, credential) = udp_url(&reply["ice_servers"]);
    assert!(username.ends_with(":ada"), "{username}");
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut client = Client {
        socket,
        server: turn,
        key: long_term_key(&username, REALM, &credential),
        username,
        nonce: Vec::new(),
        next: 0,
    };
    let transport = |w: &mut Writer| {
        w.attribute(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
    };
    let challenge = client.request(Method::Allocate, transport);
    assert_eq!(Client::outcome(&challenge), (Class::Error, Some(401)));
    client.nonce = Message::parse(&challenge)
        .unwrap()
        .attribute(attr::NONCE)
        .unwrap()
        .to_vec();
    let allocated = client.request(Method::Allocate, transport);
    assert_eq!(Client::outcome(&allocated), (Class::Success, None));

    let media: SocketAddr = format!("127.0.0.1:{}", server.udp_port).parse().unwrap();
    let permit = |peer: SocketAddr| {
        move |w: &mut Writer| {
            w.xor_address(attr::XOR_PEER_ADDRESS, peer);
        }
    };
    let ok = client.request(Method::CreatePermission, permit(media));
    assert_eq!(Client::outcome(&ok), (Class::Success, None));
    let elsewhere = client.request(
        Method::CreatePermission,
        permit("192.0.2.1:53".parse().unwrap()),
    );
    assert_eq!(Client::outcome(&elsewhere), (Class::Error, Some(403)));

    // Someone else's password is not accepted.
    client.key = long_term_key(&client.username, REALM, "guess");
    let wrong = client.request(Method::Refresh, |_| {});
    assert_eq!(Client::outcome(&wrong), (Class::Error, Some(401)));
}

#[test]
fn a_whip_answer_names_the_turn_servers_in_link_headers() {
    let server = Server::start_with(&[("MOIM_TURN", "1")]);
    let mut rtc = str0m::Rtc::new(std::time::Instant::now());
    let mut change = rtc.sdp_api();
    change.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let (offer, _) = change.apply().unwrap();
    let token = server.token("t2", "studio", &[]);
    let (status, response) = server.http(
        "POST",
        "/whip/t2",
        &[
            ("Authorization", &format!("Bearer {token}")),
            ("Content-Type", "application/sdp"),
        ],
        &offer.to_sdp_string(),
    );
    assert_eq!(status, 201, "{response}");
    let links: Vec<&str> = response
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("link:"))
        .collect();
    assert!(
        links
            .iter()
            .any(|l| l.contains("<turn:127.0.0.1:") && l.contains("?transport=udp>")),
        "{links:?}"
    );
    for link in &links {
        assert!(link.contains("rel=\"ice-server\""), "{link}");
        assert!(link.contains(":studio\""), "{link}");
        assert!(link.contains("credential-type=\"password\""), "{link}");
    }
}
