//! The meeting's shared whiteboard. Strokes stream in while they are drawn; the server puts
//! every operation (points, undo, clear) in one order under the rooms lock and sends them
//! to everyone in that order, the author included, so every board converges to the same
//! picture. A newcomer, or a participant back from a lost connection, receives the whole
//! board with `joined`. The board lives as long as the room.

use std::ops::RangeInclusive;
use std::time::Instant;

use moim_media::ParticipantId;
use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::signal::{BoardStroke, BoardTool, ServerMessage};

use crate::room::Room;

/// Board coordinates run from 0 to these (16:9); clients scale to their screen.
pub const WIDTH: i32 = 1600;
pub const HEIGHT: i32 = 900;
/// Points (coordinate pairs) one message may carry.
pub const MAX_SEGMENT_POINTS: usize = 1000;
/// Strokes a board holds.
pub const MAX_STROKES: usize = 5000;
/// Points a board holds in all.
pub const MAX_POINTS: usize = 200_000;
/// Pen widths, in board units.
pub const WIDTHS: RangeInclusive<u32> = 1..=64;

/// A room's whiteboard, bottom stroke first.
#[derive(Debug, Default)]
pub struct Board {
    strokes: Vec<BoardStroke>,
    points: usize,
}

/// One message's worth of a stroke.
#[derive(Debug)]
pub struct Segment {
    pub tool: BoardTool,
    pub color: String,
    pub width: u32,
    pub points: Vec<i32>,
    pub done: bool,
}

impl Board {
    /// The board of a snapshot's strokes, bottom first (those beyond the board's limit of
    /// points left out).
    pub(super) fn from_strokes(strokes: Vec<BoardStroke>) -> Board {
        let mut board = Board::default();
        for stroke in strokes {
            let points = stroke.points.len() / 2;
            if board.points + points > MAX_POINTS {
                break;
            }
            board.points += points;
            board.strokes.push(stroke);
        }
        board
    }

    /// The strokes, bottom first.
    pub fn strokes(&self) -> Vec<BoardStroke> {
        self.strokes.clone()
    }

    /// Adds a segment to stroke `id` drawn by `by`, starting the stroke on top of the board
    /// if it is new. Returns the message everyone gets.
    pub fn draw(
        &mut self,
        id: String,
        by: &str,
        segment: Segment,
    ) -> Result<ServerMessage, ApiError> {
        segment.check()?;
        let added = segment.points.len() / 2;
        if self.points + added > MAX_POINTS {
            return Err(full());
        }
        // The stroke being drawn is nearly always among the last few.
        match self.strokes.iter_mut().rposition(|s| s.id == id) {
            Some(i) => {
                let stroke = &mut self.strokes[i];
                if stroke.done {
                    return Err(ApiError::new(
                        ErrorCode::Conflict,
                        format!("Stroke {id} is finished; start a new one."),
                    ));
                }
                stroke.points.extend_from_slice(&segment.points);
                stroke.done = segment.done;
            }
            None => {
                if self.strokes.len() >= MAX_STROKES {
                    return Err(full());
                }
                self.strokes.push(BoardStroke {
                    id: id.clone(),
                    by: by.to_owned(),
                    tool: segment.tool,
                    color: segment.color.clone(),
                    width: segment.width,
                    points: segment.points.clone(),
                    done: segment.done,
                });
            }
        }
        self.points += added;
        Ok(ServerMessage::BoardStroke {
            stroke: BoardStroke {
                id,
                by: by.to_owned(),
                tool: segment.tool,
                color: segment.color,
                width: segment.width,
                points: segment.points,
                done: segment.done,
            },
        })
    }

    /// Takes back the most recent stroke of identity `by`.
    pub fn undo(&mut self, by: &str) -> Result<ServerMessage, ApiError> {
        let i = self
            .strokes
            .iter()
            .rposition(|s| s.by == by)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::NotFound,
                    "You have no stroke on the board to undo.",
                )
            })?;
        let stroke = self.strokes.remove(i);
        self.points -= stroke.points.len() / 2;
        Ok(ServerMessage::BoardRemove { id: stroke.id })
    }

    /// Wipes the board.
    pub fn clear(&mut self) -> ServerMessage {
        self.strokes.clear();
        self.points = 0;
        ServerMessage::BoardClear
    }
}

impl Segment {
    fn check(&self) -> Result<(), ApiError> {
        let malformed = |what: String| ApiError::new(ErrorCode::MalformedMessage, what);
        let color = self.color.as_bytes();
        if color.len() != 7 || color[0] != b'#' || !color[1..].iter().all(u8::is_ascii_hexdigit) {
            return Err(malformed(format!(
                "The colour \"{}\" is not of the form #rrggbb.",
                self.color
            )));
        }
        if !WIDTHS.contains(&self.width) {
            return Err(malformed(format!(
                "The width {} is outside {} to {}.",
                self.width,
                WIDTHS.start(),
                WIDTHS.end()
            )));
        }
        if !self.points.len().is_multiple_of(2) {
            return Err(malformed(
                "Points come in pairs: x0, y0, x1, y1, …".to_owned(),
            ));
        }
        if self.points.len() / 2 > MAX_SEGMENT_POINTS {
            return Err(ApiError::new(
                ErrorCode::MessageTooLarge,
                format!(
                    "A message may carry {MAX_SEGMENT_POINTS} points; send the stroke in parts."
                ),
            ));
        }
        if !self.points.chunks(2).all(|p| on_board(p[0], p[1])) {
            return Err(malformed(format!(
                "Points lie within 0..={WIDTH} × 0..={HEIGHT}."
            )));
        }
        Ok(())
    }
}

/// A whiteboard request of a participant.
#[derive(Debug)]
pub enum Request {
    /// Points of the sender's stroke number `stroke`.
    Draw {
        stroke: u32,
        segment: Segment,
    },
    Undo,
    /// Hosts only.
    Clear,
    /// `None`: the pointer is gone.
    Pointer {
        at: Option<(i32, i32)>,
    },
}

/// Carries out `request` of `participant` in `room` and tells the room: drawing, undo and
/// clear go to everyone in one order (the sender too), the pointer to the others.
pub fn handle(
    room: &mut Room,
    participant: ParticipantId,
    request: Request,
    now: Instant,
) -> Result<(), ApiError> {
    let (p, board) = room
        .member_and_board(participant)
        .ok_or_else(|| ApiError::new(ErrorCode::NotJoined, "You are not in a room."))?;
    if !p.grants.can_publish_data {
        return Err(ApiError::new(
            ErrorCode::PermissionDenied,
            "Your access token does not allow drawing on the board (data grant).",
        ));
    }
    if !p.board_limit.take(now) {
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            format!("Too many board messages: {}.", p.board_limit.describe()),
        ));
    }
    let message = match request {
        Request::Draw { stroke, segment } => {
            board.draw(format!("{participant}.{stroke}"), &p.identity, segment)?
        }
        Request::Undo => board.undo(&p.identity)?,
        Request::Clear => {
            if !p.grants.room_admin {
                return Err(ApiError::new(
                    ErrorCode::PermissionDenied,
                    "Only hosts clear the board.",
                ));
            }
            board.clear()
        }
        Request::Pointer { at } => {
            if at.is_some_and(|(x, y)| !on_board(x, y)) {
                return Err(ApiError::new(
                    ErrorCode::MalformedMessage,
                    format!("The pointer lies within 0..={WIDTH} × 0..={HEIGHT}."),
                ));
            }
            let pointer = ServerMessage::BoardPointer {
                participant: participant.to_string(),
                x: at.map(|(x, _)| x),
                y: at.map(|(_, y)| y),
            };
            room.broadcast(Some(participant), pointer);
            return Ok(());
        }
    };
    room.broadcast(None, message);
    Ok(())
}

/// Whether a point lies on the board.
pub fn on_board(x: i32, y: i32) -> bool {
    (0..=WIDTH).contains(&x) && (0..=HEIGHT).contains(&y)
}

fn full() -> ApiError {
    ApiError::new(
        ErrorCode::Conflict,
        "The board is full; a host can clear it.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pen(points: Vec<i32>, done: bool) -> Segment {
        Segment {
            tool: BoardTool::Pen,
            color: "#1e88e5".into(),
            width: 4,
            points,
            done,
        }
    }

    #[test]
    fn segments_grow_a_stroke_until_it_is_done() {
        let mut board = Board::default();
        board
            .draw("a.1".into(), "ann", pen(vec![0, 0, 10, 10], false))
            .unwrap();
        board
            .draw("b.1".into(), "bob", pen(vec![5, 5], false))
            .unwrap();
        board
            .draw("a.1".into(), "ann", pen(vec![20, 20], true))
            .unwrap();
        let strokes = board.strokes();
        assert_eq!(strokes[0].points, vec![0, 0, 10, 10, 20, 20]);
        assert_eq!(strokes[1].id, "b.1", "order of first segments");
        let again = board.draw("a.1".into(), "ann", pen(vec![1, 1], false));
        assert_eq!(again.unwrap_err().code, ErrorCode::Conflict);
    }

    #[test]
    fn undo_takes_back_the_authors_latest_stroke_only() {
        let mut board = Board::default();
        board
            .draw("a.1".into(), "ann", pen(vec![0, 0], true))
            .unwrap();
        board
            .draw("a.2".into(), "ann", pen(vec![1, 1], true))
            .unwrap();
        board
            .draw("b.1".into(), "bob", pen(vec![2, 2], true))
            .unwrap();
        assert_eq!(
            board.undo("ann").unwrap(),
            ServerMessage::BoardRemove { id: "a.2".into() }
        );
        assert_eq!(board.strokes().len(), 2);
        assert_eq!(board.undo("eve").unwrap_err().code, ErrorCode::NotFound);
    }

    #[test]
    fn bad_segments_are_refused() {
        let mut board = Board::default();
        let mut bad = pen(vec![0, 0], false);
        bad.color = "red".into();
        assert_eq!(
            board.draw("a.1".into(), "ann", bad).unwrap_err().code,
            ErrorCode::MalformedMessage
        );
        let odd = pen(vec![0, 0, 1], false);
        assert_eq!(
            board.draw("a.1".into(), "ann", odd).unwrap_err().code,
            ErrorCode::MalformedMessage
        );
        let off = pen(vec![WIDTH + 1, 0], false);
        assert_eq!(
            board.draw("a.1".into(), "ann", off).unwrap_err().code,
            ErrorCode::MalformedMessage
        );
        let long = pen(vec![1; 2 * MAX_SEGMENT_POINTS + 2], false);
        assert_eq!(
            board.draw("a.1".into(), "ann", long).unwrap_err().code,
            ErrorCode::MessageTooLarge
        );
        assert!(board.strokes().is_empty());
    }

    #[test]
    fn a_full_board_refuses_more_until_cleared() {
        let mut board = Board::default();
        let big = vec![1; 2 * MAX_SEGMENT_POINTS];
        for i in 0..MAX_POINTS / MAX_SEGMENT_POINTS {
            board
                .draw(format!("a.{i}"), "ann", pen(big.clone(), true))
                .unwrap();
        }
        let more = board.draw("a.x".into(), "ann", pen(vec![1, 1], true));
        assert_eq!(more.unwrap_err().code, ErrorCode::Conflict);
        assert_eq!(board.clear(), ServerMessage::BoardClear);
        board
            .draw("a.y".into(), "ann", pen(vec![1, 1], true))
            .unwrap();
    }
}
