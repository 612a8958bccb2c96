// Moim's browser client library. Start with `Room`: connect with an access token, publish
// local tracks, and listen for the tracks of everyone else.
//
//   import { Room } from '/sdk/moim.js';
//   const room = new Room();
//   room.on('trackSubscribed', (track, participant, info) => { /* attach to a <video> */ });
//   await room.connect(token);
//   const [camera] = (await navigator.mediaDevices.getUserMedia({ video: true })).getVideoTracks();
//   await room.publishTrack(camera, { source: 'camera' });

export { Room } from './room.js';
export { Chat } from './chat.js';
export { Polls } from './polls.js';
export { Moderation } from './moderation.js';
export { ServerRecording } from './recording.js';
export { LiveBroadcast } from './broadcast.js';
export { BOARD_BACKGROUND, BOARD_HEIGHT, BOARD_WIDTH, Whiteboard } from './whiteboard.js';
export { MoimError } from './errors.js';
export { Emitter } from './events.js';
export { LocalParticipant, RemoteParticipant } from './participant.js';
export { CAMERA_SIMULCAST, LocalTrackPublication } from './publisher.js';
export { SignalClient, signalUrl } from './signal.js';
export { PROTOCOL_VERSION } from './protocol.js';

/** @typedef {import('./room.js').ConnectionState} ConnectionState */
/** @typedef {import('./room.js').RoomEvents} RoomEvents */
/** @typedef {import('./room.js').RoomOptions} RoomOptions */
/** @typedef {import('./room.js').PublishOptions} PublishOptions */
/** @typedef {import('./room.js').Timings} Timings */
/** @typedef {import('./protocol.js').TrackInfo} TrackInfo */
/** @typedef {import('./protocol.js').TrackSource} TrackSource */
/** @typedef {import('./protocol.js').ParticipantInfo} ParticipantInfo */
/** @typedef {import('./protocol.js').ParticipantRole} ParticipantRole */
/** @typedef {import('./protocol.js').ConnectionQuality} ConnectionQuality */
/** @typedef {import('./protocol.js').NetworkStats} NetworkStats */
/** @typedef {import('./protocol.js').JoinedMessage} JoinedMessage */
/** @typedef {import('./protocol.js').RecordingKind} RecordingKind */
/** @typedef {import('./protocol.js').BroadcastInfo} BroadcastInfo */
/** @typedef {import('./protocol.js').BroadcastPlayback} BroadcastPlayback */
/** @typedef {import('./protocol.js').BroadcastStopReason} BroadcastStopReason */
/** @typedef {import('./broadcast.js').BroadcastStartOptions} BroadcastStartOptions */
