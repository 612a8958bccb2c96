//! A link's way between two nodes: any byte stream (the control plane opens a TCP or TLS
//! connection), with every chunk sealed (ChaCha20-Poly1305) under keys both nodes derive
//! from their shared API secret and two random salts, one from each side. A chunk is a
//! `u32` length and the sealed records of `wire.rs`; its nonce is its number in its
//! direction, so a chunk replayed, dropped or reordered fails to open and ends the link.

use aws_lc_rs::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Salt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::debug;

use super::LinkHandle;
use super::wire::{Decoder, Encoder, MAX_RECORD, NodeMessage};

/// Bytes of each side's salt.
pub const SALT_BYTES: usize = 32;
/// The most plaintext one chunk carries (more records wait for the next chunk).
const CHUNK: usize = 64 * 1024;
/// The longest sealed chunk a peer may send: one record at its largest, and its tag.
const MAX_CHUNK: usize = MAX_RECORD + CHUNK + 16;
const KEY_BYTES: usize = 32;

/// Which end of the connection this node is: the one that connected, or the one that
/// accepted. Each direction has its own key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// This node connected to the other.
    Dialer,
    /// The other node connected to this one.
    Listener,
}

/// Why a link's connection ended.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The connection failed or closed.
    #[error("the connection to the other node failed: {0}")]
    Io(#[from] std::io::Error),
    /// A chunk did not open with the link's key: another secret, or bytes changed.
    #[error(
        "a chunk from the other node did not open (another API secret, or bytes changed on the way)"
    )]
    Seal,
    /// What opened was not the link's records.
    #[error("the other node sent what is not a node link: {0}")]
    Wire(#[from] super::wire::WireError),
    /// This node's media plane or control plane stopped taking the link's messages.
    #[error("this node stopped taking the link's messages")]
    Stopped,
}

/// The keys of one link's connection, one per direction.
pub struct LinkKeys {
    send: LessSafeKey,
    receive: LessSafeKey,
}

struct Bytes(usize);

impl KeyType for Bytes {
    fn len(&self) -> usize {
        self.0
    }
}

impl LinkKeys {
    /// Derives the keys from the nodes' shared `secret`, both sides' salts and what the
    /// link is for (`context`, e.g. the room's name), as `end` of the connection.
    pub fn derive(
        secret: &[u8],
        dialer_salt: &[u8; SALT_BYTES],
        listener_salt: &[u8; SALT_BYTES],
        context: &str,
        end: End,
    ) -> LinkKeys {
        let mut salt = [0; 2 * SALT_BYTES];
        salt[..SALT_BYTES].copy_from_slice(dialer_salt);
        salt[SALT_BYTES..].copy_from_slice(listener_salt);
        let prk = Salt::new(HKDF_SHA256, &salt).extract(secret);
        let key = |direction: &[u8]| {
            let info = [b"moim node link ".as_slice(), direction, context.as_bytes()];
            let mut bytes = [0; KEY_BYTES];
            prk.expand(&info, Bytes(KEY_BYTES))
                .and_then(|okm| okm.fill(&mut bytes))
                .expect("32 bytes is a valid HKDF-SHA256 output");
            let key = UnboundKey::new(&CHACHA20_POLY1305, &bytes).expect("a 32-byte key");
            LessSafeKey::new(key)
        };
        let (out, back) = (key(b"out "), key(b"back "));
        match end {
            End::Dialer => LinkKeys {
                send: out,
                receive: back,
            },
            End::Listener => LinkKeys {
                send: back,
                receive: out,
            },
        }
    }
}

/// A fresh random salt for this side of a connection.
pub fn salt() -> [u8; SALT_BYTES] {
    let mut salt = [0; SALT_BYTES];
    getrandom::fill(&mut salt).expect("the system's random source");
    salt
}

fn nonce(counter: u64) -> Nonce {
    let mut bytes = [0; 12];
    bytes[4..].copy_from_slice(&counter.to_be_bytes());
    Nonce::assume_unique_for_key(bytes)
}

/// The control planes' messages a link carries beside the media: what to send the other
/// node, and where what it sends goes.
#[derive(Debug)]
pub struct ControlChannel {
    /// Messages for the other node's control plane.
    pub outgoing: mpsc::Receiver<Vec<u8>>,
    /// Messages from the other node's control plane.
    pub incoming: mpsc::Sender<Vec<u8>>,
}

/// Carries `link` and `control` over `stream` until either side ends: the gateway's and
/// the control plane's messages out, sealed; what arrives opened, decoded and delivered.
pub async fn carry<S>(
    stream: S,
    mut link: LinkHandle,
    control: ControlChannel,
    keys: LinkKeys,
) -> Result<(), LinkError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let ControlChannel {
        outgoing: mut control_out,
        incoming: control_in,
    } = control;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let LinkKeys { send, receive } = keys;
    let deliver = link.deliverer();
    let outgoing = async {
        let mut encoder = Encoder::default();
        let mut chunk = Vec::with_capacity(CHUNK + 16);
        let mut sealed = Vec::with_capacity(CHUNK + 20);
        let mut counter = 0u64;
        loop {
            let message = tokio::select! {
                m = link.outgoing.recv() => m,
                c = control_out.recv() => c.map(NodeMessage::Control),
            };
            let Some(message) = message else {
                break;
            };
            chunk.clear();
            encode(&mut encoder, &message, &mut chunk);
            // Whatever else is queued goes in the same chunk.
            while chunk.len() < CHUNK {
                let message = match link.outgoing.try_recv() {
                    Ok(m) => m,
                    Err(_) => match control_out.try_recv() {
                        Ok(c) => NodeMessage::Control(c),
                        Err(_) => break,
                    },
                };
                encode(&mut encoder, &message, &mut chunk);
            }
            send.seal_in_place_append_tag(nonce(counter), Aad::empty(), &mut chunk)
                .map_err(|_| LinkError::Seal)?;
            counter += 1;
            sealed.clear();
            sealed.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
            sealed.extend_from_slice(&chunk);
            writer.write_all(&sealed).await?;
        }
        Ok::<(), LinkError>(())
    };
    let incoming = async {
        let mut decoder = Decoder::default();
        let mut chunk = Vec::new();
        let mut pending = Vec::new();
        let mut messages = Vec::new();
        let mut counter = 0u64;
        loop {
            let length = reader.read_u32().await? as usize;
            if length > MAX_CHUNK {
                return Err(LinkError::Seal);
            }
            chunk.resize(length, 0);
            reader.read_exact(&mut chunk).await?;
            let opened = receive
                .open_in_place(nonce(counter), Aad::empty(), &mut chunk)
                .map_err(|_| LinkError::Seal)?;
            counter += 1;
            pending.extend_from_slice(opened);
            let read = decoder.decode(&pending, |m| messages.push(m))?;
            pending.drain(..read);
            for message in messages.drain(..) {
                let delivered = match message {
                    NodeMessage::Control(bytes) => control_in.send(bytes).await.is_ok(),
                    message => deliver.deliver(message).await,
                };
                if !delivered {
                    return Err(LinkError::Stopped);
                }
            }
        }
    };
    let result = tokio::select! {
        r = outgoing => r,
        r = incoming => r,
    };
    debug!("a node link's connection ended: {result:?}");
    result
}

fn encode(encoder: &mut Encoder, message: &NodeMessage, chunk: &mut Vec<u8>) {
    if !encoder.encode(message, chunk) {
        debug!("a node link names too many codecs; a frame was left out");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_end_opens_what_the_other_sealed_and_nothing_else() {
        let (a, b) = (salt(), salt());
        let dialer = LinkKeys::derive(b"secret", &a, &b, "room", End::Dialer);
        let listener = LinkKeys::derive(b"secret", &a, &b, "room", End::Listener);
        let stranger = LinkKeys::derive(b"other", &a, &b, "room", End::Listener);
        let elsewhere = LinkKeys::derive(b"secret", &a, &b, "hall", End::Listener);
        let mut sealed = b"hello".to_vec();
        dialer
            .send
            .seal_in_place_append_tag(nonce(0), Aad::empty(), &mut sealed)
            .unwrap();
        for wrong in [&stranger, &elsewhere] {
            let mut copy = sealed.clone();
            assert!(
                wrong
                    .receive
                    .open_in_place(nonce(0), Aad::empty(), &mut copy)
                    .is_err()
            );
        }
        let mut replayed = sealed.clone();
        assert!(
            listener
                .receive
                .open_in_place(nonce(1), Aad::empty(), &mut replayed)
                .is_err(),
            "out of its place"
        );
        let opened = listener
            .receive
            .open_in_place(nonce(0), Aad::empty(), &mut sealed)
            .unwrap();
        assert_eq!(opened, b"hello");
        let mut own = b"x".to_vec();
        dialer
            .send
            .seal_in_place_append_tag(nonce(0), Aad::empty(), &mut own)
            .unwrap();
        assert!(
            dialer
                .receive
                .open_in_place(nonce(0), Aad::empty(), &mut own)
                .is_err(),
            "each direction has its own key"
        );
    }
}
