//! The hot path: a frame from a publisher to every subscription of its track, and keyframe
//! requests from subscribers back to the publisher, merged.
//!
//! Frames arrive whole (str0m reassembles the publisher's packets), and one `Arc` of the
//! frame is shared by every worker. Each worker cuts it into packets once per layer and
//! every subscription sends those (`packets.rs`), or, in frame forwarding, hands the frame
//! to each subscriber's connection to cut. A frame of a local track also goes to every
//! other worker with receivers in the room; their mirrors of the track fan it out the
//! same way.

use std::time::Instant;

use moim_proto::signal::TrackKind;
use str0m::format::Codec;
use str0m::media::{KeyframeRequest, KeyframeRequestKind, MediaData};
use tracing::debug;

use crate::event::MediaEvent;
use crate::ids::{SessionId, TrackId};
use crate::packets::{self, Forwarding, Outgoing};
use crate::relay::{Frame, Relay, WorkerId};
use crate::router::Router;
use crate::track::{Origin, vp8_keyframe_size};

impl Router {
    /// Forwards a frame that arrived on publisher session `id`.
    pub(crate) fn forward(&mut self, now: Instant, id: SessionId, data: MediaData) {
        let Some(track_id) = self
            .sessions
            .get(&id)
            .and_then(|s| s.tracks_in.get(&data.mid))
            .copied()
        else {
            return;
        };
        let Some(track) = self.tracks.get_mut(&track_id) else {
            return;
        };
        let room = track.room;
        if track.kind == TrackKind::Audio
            && !track.muted
            && let Some(speaking) = track.speech.frame(data.ext_vals.audio_level, now)
        {
            self.pending.announce(MediaEvent::Speaking {
                participant: track.participant,
                track: track_id,
                speaking,
            });
        }
        let recording = track.egress.any();
        let sender = data.last_sender_info;
        let frame = Frame::from_media(data, track.kind == TrackKind::Video);
        if recording {
            self.record(now, track_id, &frame, sender.as_ref());
        }
        if !self.fan_out(now, track_id, &frame) {
            return;
        }
        let mut receivers = self.rooms.get(&room).map_or(0, |r| r.remote_receivers);
        while receivers != 0 {
            let worker = receivers.trailing_zeros() as usize;
            receivers &= receivers - 1;
            let relay = Relay::Frame {
                track: track_id,
                frame: frame.clone(),
            };
            self.pending.relay(WorkerId(worker), relay);
        }
    }

    /// Forwards a frame of `track_id` to this worker's subscriptions of it; false when the
    /// track is unknown or muted.
    pub(crate) fn fan_out(&mut self, now: Instant, track_id: TrackId, frame: &Frame) -> bool {
        let Some(track) = self.tracks.get_mut(&track_id) else {
            return false;
        };
        let layer = track.layer_index(frame.rid, now);
        let video = track.kind == TrackKind::Video;
        let keyframe = frame.keyframe;
        let height = if keyframe {
            vp8_keyframe_size(&frame.data).map(|(_, height)| height)
        } else {
            None
        };
        track.saw_frame(layer, frame.data.len(), height, now);
        if track.muted {
            return false;
        }
        // A gap the publisher's retransmissions did not fill: frames after it reference a
        // picture the subscribers never got, so they wait for the next keyframe instead of
        // decoding garbage. So do they after a frame dropped because the worker is behind.
        let stale = video
            && self
                .overload
                .drops(now.saturating_duration_since(frame.network_time));
        if stale {
            self.stats.frames_shed += 1;
        }
        let broken = video && (stale || !frame.contiguous) && !keyframe;
        let codec = frame.params.spec().codec;
        // Packet forwarding cuts the frame on its first subscription that takes it.
        let mut cut = None;
        for sub in &track.subscribers {
            let Some(session) = self.sessions.get_mut(&sub.session) else {
                continue;
            };
            // Before DTLS is up nothing can be sent, and a keyframe asked for now would be
            // lost; the first frame after connecting asks for it.
            if !session.rtc.is_connected() {
                continue;
            }
            let Some(slot) = session.slots.get_mut(&sub.mid) else {
                continue;
            };
            if broken && slot.layer == Some(layer) {
                slot.layer = None;
            }
            let wanted = if video {
                track.layer_for(slot, now)
            } else {
                Some(layer)
            };
            let decision = slot.decide(layer, wanted, keyframe);
            if let Some(want) = decision.request_keyframe {
                self.pending.request_keyframe(track_id, want);
            }
            if !decision.forward || stale {
                continue;
            }
            let time = slot.out_time(frame.time, frame.network_time);
            match self.forwarding {
                Forwarding::Frames => {
                    let Some(writer) = session.rtc.writer(sub.mid) else {
                        continue;
                    };
                    let Some(pt) = writer.match_params(frame.params) else {
                        continue;
                    };
                    if let Err(e) = writer.write(pt, frame.network_time, time, frame.data.clone()) {
                        debug!(session = %sub.session, "write failed: {e}");
                        continue;
                    }
                }
                Forwarding::Packets => {
                    let Some(params) = session.rtc.codec_config().match_params(frame.params) else {
                        continue;
                    };
                    let red = params.red().filter(|_| self.audio_red && !video);
                    let mut pt = params.pt();
                    let cutter = &mut track.layers[layer].cutter;
                    let whole = *cut.get_or_insert_with(|| {
                        cutter.cut(codec, &frame.data, frame.time.numer(), &mut self.payloads)
                    });
                    let mut payloads = &self.payloads[..];
                    let red_payload;
                    if let Some(red_pt) = red {
                        let Some(payload) = cutter.red(pt) else {
                            continue;
                        };
                        red_payload = payload;
                        payloads = std::slice::from_ref(&red_payload);
                        pt = red_pt;
                    }
                    let mut api = session.rtc.direct_api();
                    let (true, Some(stream)) = (whole, api.stream_tx_by_mid(sub.mid, None)) else {
                        continue;
                    };
                    let outgoing = Outgoing {
                        payloads,
                        pt,
                        time: time.numer() as u32,
                        wallclock: frame.network_time,
                        video,
                        vp8: codec == Codec::Vp8,
                    };
                    packets::send(stream, &mut slot.numbering, outgoing);
                }
            }
            self.stats.frames_forwarded += 1;
            // The clock, not `now` (the time of the read that brought the frame's last
            // packet): a frame to the last of many subscribers is written later than to the
            // first, and that spread is part of the hop.
            self.stats
                .hops
                .record(Instant::now().saturating_duration_since(frame.network_time));
            self.pending.poll(session);
        }
        true
    }

    /// A subscriber's decoder asked for a keyframe (PLI/FIR) on one of its m-lines.
    pub(crate) fn subscriber_wants_keyframe(
        &mut self,
        now: Instant,
        id: SessionId,
        request: KeyframeRequest,
    ) {
        let Some(slot) = self
            .sessions
            .get(&id)
            .and_then(|s| s.slots.get(&request.mid))
        else {
            return;
        };
        let Some(track) = slot.track.and_then(|t| self.tracks.get(&t)) else {
            return;
        };
        let layer = slot.layer.or_else(|| track.layer_for(slot, now));
        if let Some(layer) = layer {
            self.pending.request_keyframe(track.id, layer);
        }
    }

    /// Asks for a keyframe of every video a session that just connected receives, so that
    /// its first picture does not wait for the next frame to notice it has none.
    pub(crate) fn request_keyframes_for(&mut self, now: Instant, id: SessionId) {
        let Some(session) = self.sessions.get(&id) else {
            return;
        };
        for slot in session.slots.values().filter(|s| s.is_video) {
            let Some(track) = slot.track.and_then(|t| self.tracks.get(&t)) else {
                continue;
            };
            if let Some(layer) = track.layer_for(slot, now) {
                self.pending.request_keyframe(track.id, layer);
            }
        }
    }

    /// Sends the queued keyframe requests to publishers, at most one per layer per
    /// interval however many subscribers asked.
    pub(crate) fn send_keyframe_requests(&mut self, now: Instant) {
        while let Some((track_id, layer)) = self.pending.next_keyframe_request() {
            let Some(track) = self.tracks.get_mut(&track_id) else {
                continue;
            };
            if layer >= track.layers.len() || !track.take_keyframe_request(layer, now) {
                continue;
            }
            let rid = track.layers[layer].rid;
            let (session, mid) = match track.origin {
                Origin::Local { session, mid } => (session, mid),
                Origin::Remote(worker) => {
                    let relay = Relay::KeyframeRequest {
                        track: track_id,
                        rid,
                    };
                    self.pending.relay(worker, relay);
                    continue;
                }
            };
            let Some(publisher) = self.sessions.get_mut(&session) else {
                continue;
            };
            if let Some(mut writer) = publisher.rtc.writer(mid)
                && let Err(e) = writer.request_keyframe(rid, KeyframeRequestKind::Pli)
            {
                debug!(track = %track_id, "keyframe request failed: {e}");
            }
            self.pending.poll(publisher);
        }
    }
}
