//! A room's one place for a server recording: free, reserved while a recording is prepared
//! outside the rooms lock (its folder and writer), or holding the recording that runs. A
//! second start is refused in both busy states, so two recordings never race for a room.

use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::signal::RecordingInfo;

use crate::recording::Recording;

/// Whether a room records, and the recording when it does.
#[derive(Debug, Default)]
pub enum RecordingSlot {
    /// Not recording.
    #[default]
    Free,
    /// A recording is being prepared.
    Starting,
    /// This recording runs.
    Running(Box<Recording>),
}

impl RecordingSlot {
    /// Reserves the slot for a recording about to be prepared; refused while one starts or
    /// runs.
    pub fn reserve(&mut self) -> Result<(), ApiError> {
        match self {
            RecordingSlot::Free => {
                *self = RecordingSlot::Starting;
                Ok(())
            }
            RecordingSlot::Starting => Err(ApiError::new(
                ErrorCode::Conflict,
                "A recording is starting in this room.",
            )),
            RecordingSlot::Running(running) => Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "Recording {} is already running in this room.",
                    running.info.id
                ),
            )),
        }
    }

    /// Gives a reservation back (preparing the recording failed).
    pub fn release(&mut self) {
        if matches!(self, RecordingSlot::Starting) {
            *self = RecordingSlot::Free;
        }
    }

    /// Puts the prepared recording in place.
    pub fn run(&mut self, recording: Recording) {
        *self = RecordingSlot::Running(Box::new(recording));
    }

    /// The recording running now.
    pub fn running(&self) -> Option<&Recording> {
        match self {
            RecordingSlot::Running(r) => Some(r),
            _ => None,
        }
    }

    /// The recording running now, mutably (to note joins, leaves and tracks).
    pub fn running_mut(&mut self) -> Option<&mut Recording> {
        match self {
            RecordingSlot::Running(r) => Some(r),
            _ => None,
        }
    }

    /// What the room is told about the recording running now.
    pub fn info(&self) -> Option<RecordingInfo> {
        self.running().map(|r| r.info.clone())
    }

    /// Takes the running recording out to be finished, if it is `only` (any when `None`).
    pub fn take(&mut self, only: Option<&str>) -> Option<Recording> {
        let RecordingSlot::Running(running) = self else {
            return None;
        };
        if only.is_some_and(|id| running.info.id != id) {
            return None;
        }
        match std::mem::take(self) {
            RecordingSlot::Running(r) => Some(*r),
            _ => None,
        }
    }
}
