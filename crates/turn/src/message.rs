//! STUN messages (RFC 8489) as TURN (RFC 8656) uses them: reading a request's attributes
//! and checking its MESSAGE-INTEGRITY, writing responses and indications, and the
//! ChannelData framing (RFC 8656 §12.4) that carries relayed media without STUN's header.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Bytes in a STUN header.
pub const HEADER: usize = 20;
const MAGIC: u32 = 0x2112_a442;
const INTEGRITY_LEN: usize = 20;

/// Attribute types (RFC 8489 §18.3, RFC 8656 §18).
pub mod attr {
    /// USERNAME.
    pub const USERNAME: u16 = 0x0006;
    /// MESSAGE-INTEGRITY.
    pub const MESSAGE_INTEGRITY: u16 = 0x0008;
    /// ERROR-CODE.
    pub const ERROR_CODE: u16 = 0x0009;
    /// CHANNEL-NUMBER.
    pub const CHANNEL_NUMBER: u16 = 0x000c;
    /// LIFETIME.
    pub const LIFETIME: u16 = 0x000d;
    /// XOR-PEER-ADDRESS.
    pub const XOR_PEER_ADDRESS: u16 = 0x0012;
    /// DATA.
    pub const DATA: u16 = 0x0013;
    /// REALM.
    pub const REALM: u16 = 0x0014;
    /// NONCE.
    pub const NONCE: u16 = 0x0015;
    /// XOR-RELAYED-ADDRESS.
    pub const XOR_RELAYED_ADDRESS: u16 = 0x0016;
    /// REQUESTED-ADDRESS-FAMILY.
    pub const REQUESTED_ADDRESS_FAMILY: u16 = 0x0017;
    /// REQUESTED-TRANSPORT.
    pub const REQUESTED_TRANSPORT: u16 = 0x0019;
    /// XOR-MAPPED-ADDRESS.
    pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
    /// SOFTWARE.
    pub const SOFTWARE: u16 = 0x8022;
}

/// The STUN methods a TURN server answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Binding: "what address do you see me at?"
    Binding,
    /// Allocate a relayed address.
    Allocate,
    /// Refresh (or, with a zero lifetime, delete) an allocation.
    Refresh,
    /// Send indication: data for a peer.
    Send,
    /// Data indication: data from a peer.
    Data,
    /// Let a peer's IP address send through the allocation.
    CreatePermission,
    /// Bind a channel number to a peer.
    ChannelBind,
}

impl Method {
    fn code(self) -> u16 {
        match self {
            Method::Binding => 0x001,
            Method::Allocate => 0x003,
            Method::Refresh => 0x004,
            Method::Send => 0x006,
            Method::Data => 0x007,
            Method::CreatePermission => 0x008,
            Method::ChannelBind => 0x009,
        }
    }

    fn from_code(code: u16) -> Option<Method> {
        Some(match code {
            0x001 => Method::Binding,
            0x003 => Method::Allocate,
            0x004 => Method::Refresh,
            0x006 => Method::Send,
            0x007 => Method::Data,
            0x008 => Method::CreatePermission,
            0x009 => Method::ChannelBind,
            _ => return None,
        })
    }
}

/// A message's class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// A request, which gets a response.
    Request,
    /// An indication, which does not.
    Indication,
    /// A success response.
    Success,
    /// An error response.
    Error,
}

impl Class {
    fn bits(self) -> u16 {
        match self {
            Class::Request => 0b00,
            Class::Indication => 0b01,
            Class::Success => 0b10,
            Class::Error => 0b11,
        }
    }
}

/// Why bytes are not a STUN message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MessageError {
    /// Shorter than its header says, or not a whole number of attributes.
    #[error("truncated STUN message")]
    Truncated,
    /// The first bits or the magic cookie are wrong.
    #[error("not a STUN message")]
    NotStun,
    /// A method TURN does not know.
    #[error("unknown STUN method {0:#05x}")]
    UnknownMethod(u16),
}

/// A received STUN message, borrowed from the datagram or stream it came in.
#[derive(Debug)]
pub struct Message<'a> {
    bytes: &'a [u8],
    /// The message's method.
    pub method: Method,
    /// The message's class.
    pub class: Class,
    /// The transaction id its response must carry.
    pub transaction: [u8; 12],
}

impl<'a> Message<'a> {
    /// Reads the header and checks that the attributes are well-formed TLVs.
    pub fn parse(bytes: &'a [u8]) -> Result<Message<'a>, MessageError> {
        if bytes.len() < HEADER {
            return Err(MessageError::Truncated);
        }
        let kind = u16::from_be_bytes([bytes[0], bytes[1]]);
        if kind & 0xc000 != 0 || bytes[4..8] != MAGIC.to_be_bytes() {
            return Err(MessageError::NotStun);
        }
        let length = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        if length % 4 != 0 || bytes.len() < HEADER + length {
            return Err(MessageError::Truncated);
        }
        let bytes = &bytes[..HEADER + length];
        let code = (kind & 0x000f) | ((kind & 0x00e0) >> 1) | ((kind & 0x3e00) >> 2);
        let class = match ((kind >> 4) & 1) | ((kind >> 7) & 2) {
            0b00 => Class::Request,
            0b01 => Class::Indication,
            0b10 => Class::Success,
            _ => Class::Error,
        };
        let method = Method::from_code(code).ok_or(MessageError::UnknownMethod(code))?;
        let mut transaction = [0; 12];
        transaction.copy_from_slice(&bytes[8..20]);
        let message = Message {
            bytes,
            method,
            class,
            transaction,
        };
        let mut end = HEADER;
        for (_, offset, value) in message.all() {
            end = offset + 4 + value.len().next_multiple_of(4);
        }
        if end != bytes.len() {
            return Err(MessageError::Truncated);
        }
        Ok(message)
    }

    /// Every attribute: type, offset of its header, value.
    fn all(&self) -> impl Iterator<Item = (u16, usize, &'a [u8])> + use<'a> {
        let bytes = self.bytes;
        let mut at = HEADER;
        std::iter::from_fn(move || {
            let header = bytes.get(at..at + 4)?;
            let kind = u16::from_be_bytes([header[0], header[1]]);
            let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
            let value = bytes.get(at + 4..at + 4 + len)?;
            let offset = at;
            at += 4 + len.next_multiple_of(4);
            Some((kind, offset, value))
        })
    }

    /// Every value of attribute `kind` before MESSAGE-INTEGRITY (what follows it is not
    /// covered by the integrity check, so it is not believed).
    pub fn attributes(&self, kind: u16) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        self.all()
            .take_while(|(k, _, _)| *k != attr::MESSAGE_INTEGRITY)
            .filter(move |(k, _, _)| *k == kind)
            .map(|(_, _, v)| v)
    }

    /// The first value of attribute `kind`.
    pub fn attribute(&self, kind: u16) -> Option<&'a [u8]> {
        self.attributes(kind).next()
    }

    /// The first value of attribute `kind` as UTF-8 text.
    pub fn text(&self, kind: u16) -> Option<&'a str> {
        std::str::from_utf8(self.attribute(kind)?).ok()
    }

    /// Every address in XOR-encoded attributes of type `kind`.
    pub fn xor_addresses(&self, kind: u16) -> impl Iterator<Item = Option<SocketAddr>> + '_ {
        self.attributes(kind)
            .map(|value| xor_address(value, &self.transaction))
    }

    /// Whether MESSAGE-INTEGRITY is present.
    pub fn has_integrity(&self) -> bool {
        self.all().any(|(k, _, _)| k == attr::MESSAGE_INTEGRITY)
    }

    /// Whether MESSAGE-INTEGRITY is an HMAC-SHA1 of the message under `key` (RFC 8489
    /// §14.5: the length field counts up to the end of that attribute).
    pub fn integrity_holds(&self, key: &[u8]) -> bool {
        let Some((_, offset, value)) = self.all().find(|(k, _, _)| *k == attr::MESSAGE_INTEGRITY)
        else {
            return false;
        };
        if value.len() != INTEGRITY_LEN {
            return false;
        }
        let mut header = [0; HEADER];
        header.copy_from_slice(&self.bytes[..HEADER]);
        let covered = (offset + 4 + INTEGRITY_LEN - HEADER) as u16;
        header[2..4].copy_from_slice(&covered.to_be_bytes());
        let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).expect("any key length");
        mac.update(&header);
        mac.update(&self.bytes[HEADER..offset]);
        mac.verify_slice(value).is_ok()
    }
}

fn xor_address(value: &[u8], transaction: &[u8; 12]) -> Option<SocketAddr> {
    let port = u16::from_be_bytes([*value.get(2)?, *value.get(3)?]) ^ (MAGIC >> 16) as u16;
    let ip = match value.get(1)? {
        0x01 => {
            let raw: [u8; 4] = value.get(4..8)?.try_into().ok()?;
            IpAddr::V4(Ipv4Addr::from(u32::from_be_bytes(raw) ^ MAGIC))
        }
        0x02 => {
            let mut raw: [u8; 16] = value.get(4..20)?.try_into().ok()?;
            for (b, k) in raw
                .iter_mut()
                .zip(MAGIC.to_be_bytes().iter().chain(transaction))
            {
                *b ^= k;
            }
            IpAddr::V6(Ipv6Addr::from(raw))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Writes one STUN message into a buffer it was given, keeping the header's length current.
pub struct Writer<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
    transaction: [u8; 12],
}

impl<'a> Writer<'a> {
    /// Starts a message at the end of `out`.
    pub fn new(
        out: &'a mut Vec<u8>,
        method: Method,
        class: Class,
        transaction: [u8; 12],
    ) -> Writer<'a> {
        let code = method.code();
        let bits = class.bits();
        let kind = (code & 0x000f)
            | ((code & 0x0070) << 1)
            | ((code & 0x0f80) << 2)
            | ((bits & 1) << 4)
            | ((bits & 2) << 7);
        let start = out.len();
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&MAGIC.to_be_bytes());
        out.extend_from_slice(&transaction);
        Writer {
            out,
            start,
            transaction,
        }
    }

    /// Appends an attribute, padded to four bytes.
    pub fn attribute(&mut self, kind: u16, value: &[u8]) -> &mut Self {
        self.out.extend_from_slice(&kind.to_be_bytes());
        self.out
            .extend_from_slice(&(value.len() as u16).to_be_bytes());
        self.out.extend_from_slice(value);
        let padding = value.len().next_multiple_of(4) - value.len();
        self.out.extend_from_slice(&[0; 3][..padding]);
        self.set_length();
        self
    }

    /// Appends an XOR-encoded address attribute.
    pub fn xor_address(&mut self, kind: u16, address: SocketAddr) -> &mut Self {
        let mut value = [0u8; 20];
        let port = address.port() ^ (MAGIC >> 16) as u16;
        value[2..4].copy_from_slice(&port.to_be_bytes());
        let len = match address.ip() {
            IpAddr::V4(ip) => {
                value[1] = 0x01;
                value[4..8].copy_from_slice(&(u32::from(ip) ^ MAGIC).to_be_bytes());
                8
            }
            IpAddr::V6(ip) => {
                value[1] = 0x02;
                let key = MAGIC.to_be_bytes().into_iter().chain(self.transaction);
                for ((b, ip), k) in value[4..20].iter_mut().zip(ip.octets()).zip(key) {
                    *b = ip ^ k;
                }
                20
            }
        };
        self.attribute(kind, &value[..len])
    }

    /// Appends ERROR-CODE with a reason phrase.
    pub fn error(&mut self, code: u16, reason: &str) -> &mut Self {
        let mut value = Vec::with_capacity(4 + reason.len());
        value.extend_from_slice(&[0, 0, (code / 100) as u8, (code % 100) as u8]);
        value.extend_from_slice(reason.as_bytes());
        self.attribute(attr::ERROR_CODE, &value)
    }

    /// Appends a 32-bit attribute (LIFETIME).
    pub fn u32(&mut self, kind: u16, value: u32) -> &mut Self {
        self.attribute(kind, &value.to_be_bytes())
    }

    /// Ends a request with long-term credentials: USERNAME, REALM and NONCE, then
    /// MESSAGE-INTEGRITY under `key` (what a TURN client sends once challenged).
    pub fn sign(&mut self, username: &str, realm: &[u8], nonce: &[u8], key: &[u8]) {
        self.attribute(attr::USERNAME, username.as_bytes())
            .attribute(attr::REALM, realm)
            .attribute(attr::NONCE, nonce)
            .integrity(key);
    }

    /// Ends the message with MESSAGE-INTEGRITY under `key`.
    pub fn integrity(&mut self, key: &[u8]) {
        let covered = self.out.len() - self.start - HEADER + 4 + INTEGRITY_LEN;
        self.out[self.start + 2..self.start + 4].copy_from_slice(&(covered as u16).to_be_bytes());
        let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).expect("any key length");
        mac.update(&self.out[self.start..]);
        let digest = mac.finalize().into_bytes();
        self.attribute(attr::MESSAGE_INTEGRITY, &digest);
    }

    fn set_length(&mut self) {
        let length = (self.out.len() - self.start - HEADER) as u16;
        self.out[self.start + 2..self.start + 4].copy_from_slice(&length.to_be_bytes());
    }
}

/// Whether bytes start a ChannelData message (first two bits 01) rather than a STUN one.
pub fn is_channel_data(bytes: &[u8]) -> bool {
    bytes.first().is_some_and(|b| b & 0xc0 == 0x40)
}

/// A ChannelData message's channel number and data, if whole.
pub fn channel_data(bytes: &[u8]) -> Option<(u16, &[u8])> {
    let channel = u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]);
    let len = usize::from(u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?]));
    Some((channel, bytes.get(4..4 + len)?))
}

/// Writes a ChannelData message into `out` (padded to four bytes on streams, RFC 8656
/// §12.5).
pub fn write_channel_data(out: &mut Vec<u8>, channel: u16, data: &[u8], stream: bool) {
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
    if stream {
        let padding = data.len().next_multiple_of(4) - data.len();
        out.extend_from_slice(&[0; 3][..padding]);
    }
}

/// How many bytes the message at the start of a stream's buffer takes (a STUN message or
/// a padded ChannelData message), once its first four bytes are there.
pub fn stream_frame_len(bytes: &[u8]) -> Option<usize> {
    let len = usize::from(u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?]));
    Some(if is_channel_data(bytes) {
        4 + len.next_multiple_of(4)
    } else {
        HEADER + len
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_message_reads_back_with_its_integrity() {
        let mut out = Vec::new();
        let peer: SocketAddr = "10.1.2.3:7882".parse().unwrap();
        let peer6: SocketAddr = "[2001:db8::1]:9".parse().unwrap();
        let mut w = Writer::new(&mut out, Method::ChannelBind, Class::Request, [7; 12]);
        w.attribute(attr::USERNAME, b"1700000000:ada")
            .xor_address(attr::XOR_PEER_ADDRESS, peer)
            .xor_address(attr::XOR_PEER_ADDRESS, peer6)
            .u32(attr::LIFETIME, 600)
            .integrity(b"key");
        let m = Message::parse(&out).unwrap();
        assert_eq!((m.method, m.class), (Method::ChannelBind, Class::Request));
        assert_eq!(m.text(attr::USERNAME), Some("1700000000:ada"));
        let peers: Vec<_> = m.xor_addresses(attr::XOR_PEER_ADDRESS).collect();
        assert_eq!(peers, vec![Some(peer), Some(peer6)]);
        assert!(m.integrity_holds(b"key"));
        assert!(!m.integrity_holds(b"other"));
    }

    #[test]
    fn truncated_or_foreign_bytes_are_not_messages() {
        let mut out = Vec::new();
        Writer::new(&mut out, Method::Binding, Class::Request, [1; 12])
            .attribute(attr::SOFTWARE, b"x");
        assert_eq!(
            Message::parse(&out[..22]).unwrap_err(),
            MessageError::Truncated
        );
        assert_eq!(
            Message::parse(&[0x80; 40]).unwrap_err(),
            MessageError::NotStun
        );
        let mut bad_tlv = out.clone();
        bad_tlv[22..24].copy_from_slice(&100u16.to_be_bytes());
        assert!(Message::parse(&bad_tlv).is_err());
    }

    #[test]
    fn channel_data_frames_on_streams_are_padded() {
        let mut out = Vec::new();
        write_channel_data(&mut out, 0x4001, b"hello", true);
        assert_eq!(out.len(), 12);
        assert_eq!(stream_frame_len(&out), Some(12));
        assert_eq!(channel_data(&out), Some((0x4001, &b"hello"[..])));
    }
}
