//! The composite recording's picture: every video track of the room in a grid on one
//! 1280×720 canvas. Each track is decoded by an `ffmpeg` child of its own (`decoder.rs`), fed the
//! track's frames in Matroska as they arrive, each stamped with its arrival time, and
//! answering in Matroska too: pictures scaled into a 640×360 tile (I420, letterboxed),
//! each with the time of its frame. The mixer asks for the canvas as of an instant; each
//! tile shows its newest picture whose frame had arrived by then, the way the audio
//! slots play packets by arrival, so picture and sound line up however long decoding
//! takes. A video frame's arrival is first moved to when it would have arrived had it
//! travelled like its sender's audio, by the sender's clock (RTCP sender reports): lip
//! sync, as a browser does it. A camera that stopped sending shows black; a track that is
//! unpublished leaves the grid and the others re-flow.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use moim_media::{EgressFrame, FrameCodec, TrackId};
use tracing::warn;

use crate::recording::decoder::{Decoder, Due, TILE_H, TILE_W};
use crate::recording::frames::signed_ms;
use crate::recording::recorder::Routes;

/// The canvas, in pixels.
pub const WIDTH: usize = 1280;
pub const HEIGHT: usize = 720;
/// Bytes of one I420 canvas.
pub const CANVAS_BYTES: usize = WIDTH * HEIGHT * 3 / 2;
/// Tracks in the grid at most (3×3); more wait until one leaves.
pub const MAX_TILES: usize = 9;
/// A track that sent nothing for this long shows black.
const STALE: Duration = Duration::from_secs(2);
/// Lip sync moves a video frame by this much at most: a larger correction means the
/// sender's clocks do not line up, and the frame keeps its arrival time.
const MAX_LIP_SYNC_MS: i64 = 500;
/// Black in limited-range YUV.
const BLACK_Y: u8 = 16;
const BLACK_UV: u8 = 128;

/// The grid and its decoders.
pub struct Compositor {
    routes: Routes,
    tiles: Vec<Tile>,
    /// Decoders started for recorded video tracks that have not sent a keyframe yet.
    warm: HashMap<TrackId, Decoder>,
    canvas: Vec<u8>,
    /// How many tiles the canvas is laid out for.
    laid_out: usize,
    full_warned: bool,
    lip_sync: LipSync,
}

struct Tile {
    track: TrackId,
    decoder: Decoder,
    last_frame: Instant,
}

impl Compositor {
    /// An empty (black) grid of the tracks `routes` holds.
    pub fn new(routes: Routes) -> Compositor {
        let mut canvas = vec![BLACK_UV; CANVAS_BYTES];
        canvas[..WIDTH * HEIGHT].fill(BLACK_Y);
        Compositor {
            routes,
            tiles: Vec::new(),
            warm: HashMap::new(),
            canvas,
            laid_out: 0,
            full_warned: false,
            lip_sync: LipSync {
                epoch: (Instant::now(), SystemTime::now()),
                audio_transit: HashMap::new(),
                participants: HashMap::new(),
            },
        }
    }

    /// Hands a video frame to its track's decoder (a track's first keyframe gives it a
    /// tile); notes how audio travels.
    pub fn frame(&mut self, frame: &EgressFrame) {
        let Some(who) = self.lip_sync.participant(&self.routes, frame.track) else {
            return;
        };
        if frame.codec == FrameCodec::Opus {
            self.lip_sync.audio(who, frame);
            return;
        }
        let arrival = self.lip_sync.video_arrival(who, frame);
        if let Some(tile) = self.tiles.iter_mut().find(|t| t.track == frame.track) {
            tile.last_frame = Instant::now();
            tile.decoder.feed(frame, arrival);
            return;
        }
        if !frame.keyframe {
            return;
        }
        if self.tiles.len() >= MAX_TILES {
            if !self.full_warned {
                warn!(track = %frame.track, "the composite grid is full; this track waits for a free tile");
                self.full_warned = true;
            }
            return;
        }
        let started = match self.warm.remove(&frame.track) {
            Some(decoder) => Ok(decoder),
            None => {
                let name = self
                    .routes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&frame.track)
                    .map(|r| r.name.clone())
                    .unwrap_or_default();
                Decoder::spawn(frame.track, &name)
            }
        };
        let begun = started.and_then(|mut decoder| {
            decoder.begin(frame, arrival)?;
            Ok(decoder)
        });
        match begun {
            Ok(mut decoder) => {
                decoder.feed(frame, arrival);
                self.tiles.push(Tile {
                    track: frame.track,
                    decoder,
                    last_frame: Instant::now(),
                });
            }
            Err(e) => {
                warn!(track = %frame.track, "cannot decode this track for the composite: {e}")
            }
        }
    }

    /// Starts a decoder for each recorded video track that has none, ahead of its first
    /// keyframe (as many as free tiles). Called every mixer step.
    pub fn warm_up(&mut self) {
        let wanted: Vec<(TrackId, String)> = {
            let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
            routes
                .iter()
                .filter(|(track, route)| {
                    route.video
                        && !self.warm.contains_key(track)
                        && !self.tiles.iter().any(|t| t.track == **track)
                })
                .map(|(track, route)| (*track, route.name.clone()))
                .take(MAX_TILES.saturating_sub(self.tiles.len() + self.warm.len()))
                .collect()
        };
        for (track, name) in wanted {
            match Decoder::spawn(track, &name) {
                Ok(decoder) => {
                    self.warm.insert(track, decoder);
                }
                Err(e) => warn!(%track, "cannot start a decoder for the composite: {e}"),
            }
        }
    }

    /// The canvas as of `at`: in each tile the newest picture whose frame had arrived by
    /// then.
    pub fn compose(&mut self, at: Instant) -> &[u8] {
        let unpublished: (Vec<Tile>, Vec<Decoder>) = {
            let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
            self.lip_sync
                .participants
                .retain(|t, _| routes.contains_key(t));
            let warm = self
                .warm
                .extract_if(|t, _| !routes.contains_key(t))
                .map(|(_, d)| d)
                .collect();
            let tiles = self
                .tiles
                .extract_if(.., |t| !routes.contains_key(&t.track))
                .collect();
            (tiles, warm)
        };
        // Their decoders stop (and are waited for) without the routes locked.
        drop(unpublished);
        if self.tiles.len() < MAX_TILES {
            self.full_warned = false;
        }
        if self.laid_out != self.tiles.len() {
            self.canvas[..WIDTH * HEIGHT].fill(BLACK_Y);
            self.canvas[WIDTH * HEIGHT..].fill(BLACK_UV);
            self.laid_out = self.tiles.len();
        }
        let grid = Grid::new(self.tiles.len());
        for (i, tile) in self.tiles.iter().enumerate() {
            let place = grid.place(i);
            if tile.last_frame.elapsed() >= STALE {
                fill_black(&mut self.canvas, place);
                continue;
            }
            let mut pictures = tile
                .decoder
                .pictures
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            match pictures.at(at) {
                Due::Picture(data) => draw(&mut self.canvas, data, place),
                Due::Behind => {}
                Due::Nothing => fill_black(&mut self.canvas, place),
            }
        }
        &self.canvas
    }
}

/// Lines each participant's video up with their audio by the sender's clock.
struct LipSync {
    /// One instant on both clocks, to compare them.
    epoch: (Instant, SystemTime),
    /// Per participant: from the sender's clock to arrival here, for audio, in ms (the
    /// quickest seen, slowly forgetting it, so jitter does not move it).
    audio_transit: HashMap<ParticipantKey, i64>,
    participants: HashMap<TrackId, ParticipantKey>,
}

/// A participant, as the routes name them.
type ParticipantKey = Arc<str>;

impl LipSync {
    /// The participant a track belongs to, if it is still recorded.
    fn participant(&mut self, routes: &Routes, track: TrackId) -> Option<ParticipantKey> {
        if let Some(who) = self.participants.get(&track) {
            return Some(who.clone());
        }
        let who: ParticipantKey = routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&track)?
            .stem
            .as_str()
            .into();
        self.participants.insert(track, who.clone());
        Some(who)
    }

    /// `frame`'s arrival and its sender's time, in ms since the epoch.
    fn times(&self, frame: &EgressFrame) -> Option<(i64, i64)> {
        let sent = signed_ms(frame.sender_time?, self.epoch.1);
        let arrived = match frame.network_time.checked_duration_since(self.epoch.0) {
            Some(d) => d.as_millis() as i64,
            None => -(self.epoch.0.duration_since(frame.network_time).as_millis() as i64),
        };
        Some((arrived, sent))
    }

    fn audio(&mut self, who: ParticipantKey, frame: &EgressFrame) {
        let Some((arrived, sent)) = self.times(frame) else {
            return;
        };
        let sample = arrived - sent;
        let transit = self.audio_transit.entry(who).or_insert(sample);
        if sample < *transit {
            *transit = sample;
        } else {
            *transit += (sample - *transit) / 32;
        }
    }

    /// When `frame` would have arrived had it travelled like its sender's audio.
    fn video_arrival(&self, who: ParticipantKey, frame: &EgressFrame) -> Instant {
        let (Some((arrived, sent)), Some(transit)) =
            (self.times(frame), self.audio_transit.get(&who))
        else {
            return frame.network_time;
        };
        let shift = sent + transit - arrived;
        if shift.abs() > MAX_LIP_SYNC_MS {
            return frame.network_time;
        }
        let by = Duration::from_millis(shift.unsigned_abs());
        if shift >= 0 {
            frame.network_time + by
        } else {
            frame
                .network_time
                .checked_sub(by)
                .unwrap_or(frame.network_time)
        }
    }
}

/// Columns and rows for a number of tiles, filled row by row.
struct Grid {
    cols: usize,
    rows: usize,
}

/// Where a tile goes on the canvas (even numbers, so chroma lines up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Place {
    x: usize,
    y: usize,
    w: usize,
    h: usize,
}

impl Grid {
    fn new(tiles: usize) -> Grid {
        let cols = (1..).find(|c| c * c >= tiles).unwrap_or(1).max(1);
        let rows = tiles.div_ceil(cols).max(1);
        Grid { cols, rows }
    }

    /// The largest 16:9 rectangle centred in tile `i`'s cell.
    fn place(&self, i: usize) -> Place {
        let (cell_w, cell_h) = (WIDTH / self.cols, HEIGHT / self.rows);
        let w = cell_w.min(cell_h * 16 / 9) & !1;
        let h = (w * 9 / 16) & !1;
        let (col, row) = (i % self.cols, i / self.cols);
        Place {
            x: (col * cell_w + (cell_w - w) / 2) & !1,
            y: (row * cell_h + (cell_h - h) / 2) & !1,
            w,
            h,
        }
    }
}

/// Draws a tile picture (I420, TILE_W×TILE_H) scaled into `place` (nearest neighbour).
fn draw(canvas: &mut [u8], picture: &[u8], place: Place) {
    let (y_plane, chroma) = canvas.split_at_mut(WIDTH * HEIGHT);
    let (u_plane, v_plane) = chroma.split_at_mut(WIDTH * HEIGHT / 4);
    let (src_y, src_chroma) = picture.split_at(TILE_W * TILE_H);
    let (src_u, src_v) = src_chroma.split_at(TILE_W * TILE_H / 4);
    scale_plane(src_y, TILE_W, TILE_H, y_plane, WIDTH, place);
    let half = Place {
        x: place.x / 2,
        y: place.y / 2,
        w: place.w / 2,
        h: place.h / 2,
    };
    scale_plane(src_u, TILE_W / 2, TILE_H / 2, u_plane, WIDTH / 2, half);
    scale_plane(src_v, TILE_W / 2, TILE_H / 2, v_plane, WIDTH / 2, half);
}

/// Nearest-neighbour scaling of one plane, in 16.16 fixed point (no division per pixel).
fn scale_plane(src: &[u8], sw: usize, sh: usize, dst: &mut [u8], stride: usize, to: Place) {
    if to.w == 0 || to.h == 0 {
        return;
    }
    let step_x = (sw << 16) / to.w;
    let step_y = (sh << 16) / to.h;
    for y in 0..to.h {
        let sy = ((y * step_y) >> 16).min(sh - 1);
        let row = &src[sy * sw..(sy + 1) * sw];
        let start = (to.y + y) * stride + to.x;
        let out = &mut dst[start..start + to.w];
        if to.w == sw {
            out.copy_from_slice(row);
            continue;
        }
        for (x, px) in out.iter_mut().enumerate() {
            *px = row[((x * step_x) >> 16).min(sw - 1)];
        }
    }
}

fn fill_black(canvas: &mut [u8], place: Place) {
    let (y_plane, chroma) = canvas.split_at_mut(WIDTH * HEIGHT);
    for y in place.y..place.y + place.h {
        y_plane[y * WIDTH + place.x..][..place.w].fill(BLACK_Y);
    }
    for y in place.y / 2..(place.y + place.h) / 2 {
        let at = y * WIDTH / 2 + place.x / 2;
        chroma[at..][..place.w / 2].fill(BLACK_UV);
        let at = WIDTH * HEIGHT / 4 + at;
        chroma[at..][..place.w / 2].fill(BLACK_UV);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::decoder::TILE_BYTES;

    #[test]
    fn grids_grow_square_and_keep_tiles_16_by_9() {
        let one = Grid::new(1);
        assert_eq!(
            one.place(0),
            Place {
                x: 0,
                y: 0,
                w: 1280,
                h: 720
            }
        );
        let two = Grid::new(2);
        assert_eq!((two.cols, two.rows), (2, 1));
        assert_eq!(
            two.place(1),
            Place {
                x: 640,
                y: 180,
                w: 640,
                h: 360
            },
            "side by side, centred vertically"
        );
        let five = Grid::new(5);
        assert_eq!((five.cols, five.rows), (3, 2));
        let p = five.place(4);
        assert_eq!((p.x, p.y), (426, (360 + (360 - p.h) / 2) & !1));
        assert!(p.w <= 426 && p.h <= 360);
        assert!(p.x.is_multiple_of(2) && p.w.is_multiple_of(2));
        let nine = Grid::new(9);
        assert_eq!((nine.cols, nine.rows), (3, 3));
    }

    #[test]
    fn a_picture_lands_scaled_in_its_place_and_nowhere_else() {
        let mut canvas = vec![0u8; CANVAS_BYTES];
        let mut picture = vec![200u8; TILE_BYTES];
        picture[TILE_W * TILE_H..].fill(50);
        let place = Grid::new(4).place(3);
        draw(&mut canvas, &picture, place);
        assert_eq!(canvas[(place.y + 1) * WIDTH + place.x + 1], 200);
        assert_eq!(
            canvas[(place.y + place.h - 1) * WIDTH + place.x + place.w - 1],
            200
        );
        assert_eq!(canvas[(place.y - 1) * WIDTH + place.x], 0, "above the tile");
        let u = WIDTH * HEIGHT + (place.y / 2) * WIDTH / 2 + place.x / 2;
        assert_eq!(canvas[u], 50);
        let lit = canvas[..WIDTH * HEIGHT]
            .iter()
            .filter(|&&b| b == 200)
            .count();
        assert_eq!(lit, place.w * place.h);
        fill_black(&mut canvas, place);
        assert_eq!(canvas[(place.y + 1) * WIDTH + place.x + 1], BLACK_Y);
        assert_eq!(canvas[u], BLACK_UV);
    }
}
