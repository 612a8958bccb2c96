//! A participant's signaling outbox: the ordered stream of messages the server sends it,
//! which outlives the socket that carries it. When a client's socket is lost (its network
//! changed), the participant stays in the room for [`RESUME_GRACE`]; a new socket that
//! presents the outbox's key resumes the stream where the client's count of received
//! messages stops: the messages it missed are sent again from the last [`RESUME_WINDOW`],
//! and the server says how many of the client's messages it got, so the client sends the
//! rest again. Nobody else sees the participant leave and come back.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tracing::warn;

/// Capacity of a socket's outgoing message queue; a client this far behind is
/// disconnected rather than buffered without bound.
pub const OUTBOX_CAPACITY: usize = 256;
/// How many of the latest messages are kept for a client that resumes.
pub const RESUME_WINDOW: usize = 256;
/// How long a participant whose socket was lost (not closed by the client) is kept for it
/// to resume.
pub const RESUME_GRACE: Duration = Duration::from_secs(20);

/// The stream of one participant's signaling messages; clones share it.
#[derive(Debug, Clone)]
pub struct Outbox(Arc<Mutex<Stream>>);

#[derive(Debug)]
struct Stream {
    /// The socket that carries the stream now; `None` while lost.
    socket: Option<Socket>,
    /// Counts the sockets that carried the stream: a socket knows its own by this number.
    attachment: u64,
    /// The latest messages, the last of them number `queued`.
    recent: VecDeque<Arc<str>>,
    /// Messages queued since the participant joined.
    queued: u64,
    /// Messages received from the client since it joined.
    received: u64,
    /// What a client presents to resume the stream.
    key: String,
    /// Closed for good (left, removed, replaced, too slow, or lost too long): no resuming.
    ended: bool,
}

#[derive(Debug)]
struct Socket {
    sender: mpsc::Sender<Arc<str>>,
    kick: Arc<Notify>,
}

/// What became of a participant when the socket that carried its stream closed.
#[derive(Debug, PartialEq, Eq)]
pub enum SocketEnd {
    /// Another socket carries the stream now: nothing changes.
    Superseded,
    /// The stream was ended: the participant goes.
    Ended,
    /// Kept for the client to resume within [`RESUME_GRACE`].
    Lost,
}

/// Why a stream cannot be resumed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResumeError {
    #[error("the key does not match")]
    WrongKey,
    #[error("the session ended")]
    Ended,
    #[error("the client missed more messages than the server keeps")]
    TooFarBehind,
}

impl Outbox {
    /// A stream carried by the socket whose queue `sender` fills and which `kick` closes.
    pub fn new(sender: mpsc::Sender<Arc<str>>, kick: Arc<Notify>) -> Outbox {
        Outbox(Arc::new(Mutex::new(Stream {
            socket: Some(Socket { sender, kick }),
            attachment: 0,
            recent: VecDeque::with_capacity(RESUME_WINDOW),
            queued: 0,
            received: 0,
            key: format!("{:032x}", rand::random::<u128>()),
            ended: false,
        })))
    }

    fn stream(&self) -> MutexGuard<'_, Stream> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The secret a client presents to resume this stream.
    pub fn key(&self) -> String {
        self.stream().key.clone()
    }

    /// Queues a message. A client whose socket queue is full is disconnected for good; while
    /// the socket is lost, messages are only kept for a resume.
    pub fn push(&self, text: &Arc<str>) {
        let mut stream = self.stream();
        if stream.ended {
            return;
        }
        if stream.recent.len() == RESUME_WINDOW {
            stream.recent.pop_front();
        }
        stream.recent.push_back(text.clone());
        stream.queued += 1;
        let full = stream.socket.as_ref().is_some_and(|s| {
            matches!(
                s.sender.try_send(text.clone()),
                Err(mpsc::error::TrySendError::Full(_))
            )
        });
        if full {
            warn!("a signaling client is not reading its messages; disconnecting it");
            stream.end();
        }
    }

    /// Counts a message received from the client.
    pub fn note_received(&self) {
        self.stream().received += 1;
    }

    /// Ends the stream and closes its socket (the participant leaves, is removed or
    /// replaced, or the server shuts down).
    pub fn end(&self) {
        self.stream().end();
    }

    #[cfg(test)]
    fn ended(&self) -> bool {
        self.stream().ended
    }

    /// The socket with number `attachment` closed: see [`SocketEnd`].
    pub fn socket_closed(&self, attachment: u64) -> SocketEnd {
        let mut stream = self.stream();
        if stream.attachment != attachment {
            return SocketEnd::Superseded;
        }
        stream.socket = None;
        if stream.ended {
            SocketEnd::Ended
        } else {
            SocketEnd::Lost
        }
    }

    /// Ends the stream if the socket with number `attachment` was its last and nobody
    /// resumed it since; true when the participant should go.
    pub fn expire(&self, attachment: u64) -> bool {
        let mut stream = self.stream();
        if stream.attachment != attachment || stream.socket.is_some() || stream.ended {
            return false;
        }
        stream.ended = true;
        true
    }

    /// Moves the stream to a new socket for a client that presents `key` and has received
    /// `received` messages: the socket before it is closed, the messages the client missed
    /// are queued on the new one first. Returns the new socket's number and how many of the
    /// client's messages the server received.
    pub fn resume(
        &self,
        key: &str,
        received: u64,
        sender: mpsc::Sender<Arc<str>>,
        kick: Arc<Notify>,
    ) -> Result<(u64, u64), ResumeError> {
        let mut stream = self.stream();
        if !same_secret(key, &stream.key) {
            return Err(ResumeError::WrongKey);
        }
        if stream.ended {
            return Err(ResumeError::Ended);
        }
        let missed = stream
            .queued
            .checked_sub(received)
            .ok_or(ResumeError::TooFarBehind)?;
        if missed > stream.recent.len() as u64 {
            return Err(ResumeError::TooFarBehind);
        }
        let skip = stream.recent.len() - missed as usize;
        for text in stream.recent.iter().skip(skip) {
            if sender.try_send(text.clone()).is_err() {
                return Err(ResumeError::TooFarBehind);
            }
        }
        if let Some(old) = stream.socket.replace(Socket { sender, kick }) {
            old.kick.notify_one();
        }
        stream.attachment += 1;
        Ok((stream.attachment, stream.received))
    }
}

impl Stream {
    fn end(&mut self) {
        self.ended = true;
        if let Some(socket) = &self.socket {
            socket.kick.notify_one();
        }
    }
}

/// Compares secrets in time that does not depend on where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket() -> (
        mpsc::Sender<Arc<str>>,
        mpsc::Receiver<Arc<str>>,
        Arc<Notify>,
    ) {
        let (tx, rx) = mpsc::channel(OUTBOX_CAPACITY + RESUME_WINDOW);
        (tx, rx, Arc::new(Notify::new()))
    }

    fn drain(rx: &mut mpsc::Receiver<Arc<str>>) -> Vec<String> {
        std::iter::from_fn(|| rx.try_recv().ok().map(|t| t.to_string())).collect()
    }

    #[test]
    fn a_resumed_stream_sends_what_the_client_missed_then_goes_on() {
        let (tx, mut rx, kick) = socket();
        let outbox = Outbox::new(tx, kick);
        for text in ["a", "b", "c"] {
            outbox.push(&Arc::from(text));
        }
        outbox.note_received();
        assert_eq!(drain(&mut rx), ["a", "b", "c"]);
        assert_eq!(outbox.socket_closed(0), SocketEnd::Lost);
        outbox.push(&Arc::from("d"));

        let (tx, mut rx, kick) = socket();
        let key = outbox.key();
        // The client got "a" only; "b" and "c" were lost with the old socket.
        assert_eq!(outbox.resume(&key, 1, tx, kick), Ok((1, 1)));
        outbox.push(&Arc::from("e"));
        assert_eq!(drain(&mut rx), ["b", "c", "d", "e"]);
        // The old socket's end changes nothing now.
        assert_eq!(outbox.socket_closed(0), SocketEnd::Superseded);
        assert!(!outbox.expire(0));
    }

    #[test]
    fn a_stream_is_not_resumed_with_a_wrong_key_after_it_ended_or_too_far_behind() {
        let (tx, _rx, kick) = socket();
        let outbox = Outbox::new(tx, kick);
        for i in 0..RESUME_WINDOW + 1 {
            outbox.push(&Arc::from(i.to_string()));
        }
        let (tx, _rx2, kick) = socket();
        assert_eq!(
            outbox.resume("nope", 1, tx.clone(), kick.clone()),
            Err(ResumeError::WrongKey)
        );
        assert_eq!(
            outbox.resume(&outbox.key(), 0, tx.clone(), kick.clone()),
            Err(ResumeError::TooFarBehind)
        );
        assert_eq!(
            outbox.resume(&outbox.key(), 1_000, tx.clone(), kick.clone()),
            Err(ResumeError::TooFarBehind)
        );
        assert!(
            outbox
                .resume(&outbox.key(), 1, tx.clone(), kick.clone())
                .is_ok()
        );
        outbox.end();
        assert_eq!(outbox.socket_closed(1), SocketEnd::Ended);
        assert_eq!(
            outbox.resume(&outbox.key(), 1, tx, kick),
            Err(ResumeError::Ended)
        );
    }

    #[test]
    fn a_lost_stream_expires_unless_resumed() {
        let (tx, _rx, kick) = socket();
        let outbox = Outbox::new(tx, kick);
        assert_eq!(outbox.socket_closed(0), SocketEnd::Lost);
        assert!(outbox.expire(0));
        assert!(outbox.ended());
    }

    #[test]
    fn a_client_that_does_not_read_is_disconnected_for_good() {
        let (tx, _rx) = mpsc::channel(1);
        let kick = Arc::new(Notify::new());
        let outbox = Outbox::new(tx, kick.clone());
        outbox.push(&Arc::from("a"));
        assert!(!outbox.ended());
        outbox.push(&Arc::from("b"));
        assert!(outbox.ended());
        assert_eq!(outbox.socket_closed(0), SocketEnd::Ended);
    }
}
