// Shapes of the signaling protocol, version 1 (docs/protocol.md). This file holds types and
// constants only; it sends and receives nothing.

/** The protocol version sent in `join.v`. */
export const PROTOCOL_VERSION = 1;

/** @typedef {'camera' | 'microphone' | 'screen' | 'screen_audio'} TrackSource */
/** @typedef {'host' | 'guest' | 'viewer'} ParticipantRole */

/**
 * How hosts set the room up.
 * @typedef {object} RoomSettings
 * @property {boolean} locked no one new may join
 * @property {boolean} waiting_room newcomers wait until a host admits them
 * @property {'meeting' | 'audio'} mode in an audio room only hosts and promoted speakers publish
 */

/**
 * A published track as the server describes it.
 * @typedef {object} TrackInfo
 * @property {string} sid
 * @property {'audio' | 'video'} kind
 * @property {TrackSource} source
 * @property {boolean} muted
 * @property {boolean} [paused] you receive it, and the server paused it because your connection
 *   cannot carry even its smallest layer now (it resumes by itself when it can)
 * @property {boolean} [simulcast]
 * @property {string} [codec]
 */

/**
 * A participant as the server describes it.
 * @typedef {object} ParticipantInfo
 * @property {string} sid
 * @property {string} identity
 * @property {string} name
 * @property {ParticipantRole} role `viewer`: may not publish (a listener in an audio room)
 * @property {TrackInfo[]} tracks
 * @property {boolean} [hand_raised] asks to speak
 * @property {ConnectionQuality} [quality] how well its connection carries its media, once measured
 */

/**
 * How well a participant's connection carries its media.
 * @typedef {'excellent' | 'good' | 'poor' | 'lost'} ConnectionQuality
 */

/**
 * Your own connection's numbers (absent ones are not measured yet).
 * @typedef {object} NetworkStats
 * @property {number} [rtt_ms] round-trip time to the server
 * @property {number} [jitter_ms] jitter of the audio the server receives from you
 * @property {number} [loss_up] percent of your packets lost on the way to the server
 * @property {number} [loss_down] percent of the server's packets lost on the way to you
 * @property {number} up_kbps what you send
 * @property {number} down_kbps what you receive
 * @property {number} [estimate_kbps] what the server estimates your downlink carries
 * @property {boolean} tcp the media goes over TCP
 */

/**
 * Who sent a chat or data message.
 * @typedef {{ sid: string, identity: string, name: string }} Sender
 */

/**
 * A chat message as the room keeps it; `to` is set on direct messages.
 * @typedef {object} ChatMessage
 * @property {number} id increasing within the room
 * @property {number} ts milliseconds since the Unix epoch (server clock)
 * @property {Sender} from
 * @property {string} text
 * @property {string[]} [to]
 */

/**
 * A poll as the room announces it.
 * @typedef {object} PollInfo
 * @property {number} id increasing within the room
 * @property {number} ts when it was asked (milliseconds since the Unix epoch)
 * @property {Sender} from
 * @property {string} question
 * @property {{ text: string, votes: number }[]} options
 * @property {boolean} closed
 */

/**
 * What a server recording captures: each track in its own file, each participant's
 * audio and video together, the whole meeting in one file (a grid of the videos and the
 * mixed audio), or all audio mixed into one file.
 * @typedef {'track' | 'participant' | 'composite' | 'audio_only' | 'broadcast'} RecordingKind
 */

/**
 * A server recording running in the room.
 * @typedef {{ id: string, kind: RecordingKind, started_at: number }} RecordingInfo
 */

/**
 * A broadcast running in the room: the room is live.
 * @typedef {object} BroadcastInfo
 * @property {string} id `BC_…`
 * @property {string} source the identity of the participant whose camera and microphone it shows
 * @property {('hls' | 'rtmp')[]} outputs LL-HLS at `/hls/{room}/`; restreamed to an RTMP server
 * @property {boolean} public anyone may watch; else only through the signed URLs of its playback
 * @property {number} started_at milliseconds since the Unix epoch
 */

/**
 * Where to watch a broadcast: paths on the server (prefix them with its origin).
 * @typedef {object} BroadcastPlayback
 * @property {string} hls the multivariant LL-HLS playlist; a private broadcast's carries its
 *   signed key
 * @property {number} [expires_at] when `hls` stops working, seconds since the Unix epoch
 *   (private broadcasts only)
 * @property {string} watch the watch page, with `?key=` for a private broadcast
 * @property {string} [whep] the WHEP endpoint that plays the source (none for the
 *   composite grid, which plays over HLS only)
 */

/**
 * A whiteboard stroke as the room keeps it: `points` are `x0, y0, x1, y1, …` on a
 * 1600 × 900 board.
 * @typedef {object} BoardStroke
 * @property {string} id `{participant sid}.{stroke number}`
 * @property {string} by the identity that drew it
 * @property {'pen' | 'eraser'} tool
 * @property {string} color `#rrggbb`
 * @property {number} width
 * @property {number[]} points
 * @property {boolean} done
 */

/**
 * One sending m-line of a `publish_offer`.
 * @typedef {{ mid: string, source: TrackSource, muted?: boolean }} PublishedMid
 */

/**
 * One m-line of a `subscribe_offer`: which track of which participant it carries.
 * @typedef {{ mid: string, track: string, participant: string }} SubscribedMid
 */

/**
 * @typedef {{ type: 'join', v: number, token: string }
 *   | { type: 'resume', v: number, participant: string, key: string, received: number }
 *   | { type: 'publish_offer', sdp: string, tracks: PublishedMid[] }
 *   | { type: 'subscribe_answer', sdp: string }
 *   | { type: 'candidate', target: 'publisher' | 'subscriber', candidate: RTCIceCandidateInit }
 *   | { type: 'restart_ice' }
 *   | { type: 'mute', track: string, muted: boolean }
 *   | { type: 'video_size', track: string, width: number, height: number }
 *   | { type: 'chat', text: string, to?: string[] }
 *   | { type: 'data', payload: string, topic?: string, to?: string[], reliable?: boolean, id?: string }
 *   | { type: 'poll_create', question: string, options: string[] }
 *   | { type: 'poll_vote', poll: number, option: number }
 *   | { type: 'poll_close', poll: number }
 *   | { type: 'mute_participant', participant: string, track: string, muted: boolean, lock?: boolean }
 *   | { type: 'remove_participant', participant: string, ban?: boolean }
 *   | { type: 'end_meeting' }
 *   | { type: 'room_settings', locked?: boolean, waiting_room?: boolean, mode?: 'meeting' | 'audio' }
 *   | { type: 'admit', participant: string }
 *   | { type: 'reject', participant: string }
 *   | { type: 'raise_hand', raised: boolean }
 *   | { type: 'set_speaker', participant: string, speaker: boolean }
 *   | { type: 'board_stroke', stroke: number, tool: 'pen' | 'eraser', color: string, width: number, points: number[], done?: boolean }
 *   | { type: 'recording_start', kind: RecordingKind }
 *   | { type: 'recording_stop' }
 *   | { type: 'broadcast_start', source: string, public?: boolean }
 *   | { type: 'broadcast_stop' }
 *   | { type: 'board_undo' }
 *   | { type: 'board_clear' }
 *   | { type: 'board_pointer', x?: number, y?: number }
 *   | { type: 'leave' }
 *   | { type: 'ping' }} ClientMessage
 */

/**
 * A TURN server with this participant's credentials, as `RTCPeerConnection` takes it.
 * @typedef {{ urls: string[], username: string, credential: string }} IceServer
 */

/**
 * @typedef {{ type: 'joined', v: number, room: string, participant: ParticipantInfo, participants: ParticipantInfo[], chat?: ChatMessage[], polls?: PollInfo[], settings: RoomSettings, waiting?: Sender[], board?: BoardStroke[], recording?: RecordingInfo, broadcast?: BroadcastInfo, ice_servers?: IceServer[], resume?: string }} JoinedMessage
 * @typedef {{ type: 'resumed', received: number }} ResumedMessage
 * @typedef {{ type: 'waiting', room: string, participant: ParticipantInfo }} WaitingMessage
 * @typedef {{ type: 'moved', room: string, url: string }} MovedMessage
 * @typedef {{ type: 'reconnect', reason: 'draining' }} ReconnectMessage
 * @typedef {{ type: 'waiting_list', waiting: Sender[] }} WaitingListMessage
 * @typedef {{ type: 'room_settings', settings: RoomSettings }} RoomSettingsMessage
 * @typedef {{ type: 'participant_updated', participant: ParticipantInfo }} ParticipantUpdatedMessage
 * @typedef {'max_duration' | 'storage_full'} RecordingStopReason why the server stopped a recording by itself
 * @typedef {{ type: 'recording', recording?: RecordingInfo, reason?: RecordingStopReason }} RecordingMessage
 * @typedef {'source_gone'} BroadcastStopReason why the server stopped a broadcast by itself
 * @typedef {{ type: 'broadcast', broadcast?: BroadcastInfo, playback?: BroadcastPlayback, reason?: BroadcastStopReason }} BroadcastMessage
 * @typedef {{ type: 'board_stroke', stroke: BoardStroke }} BoardStrokeMessage
 * @typedef {{ type: 'board_remove', id: string }} BoardRemoveMessage
 * @typedef {{ type: 'board_clear' }} BoardClearMessage
 * @typedef {{ type: 'board_pointer', participant: string, x?: number, y?: number }} BoardPointerMessage
 * @typedef {{ type: 'participant_joined', participant: ParticipantInfo }} ParticipantJoinedMessage
 * @typedef {{ type: 'participant_left', sid: string, identity: string }} ParticipantLeftMessage
 * @typedef {{ type: 'track_published', participant: string, track: TrackInfo }} TrackPublishedMessage
 * @typedef {{ type: 'track_unpublished', participant: string, track: string }} TrackUnpublishedMessage
 * @typedef {{ type: 'track_muted', participant: string, track: string, muted: boolean }} TrackMutedMessage
 * @typedef {{ type: 'subscription_paused', participant: string, track: string, paused: boolean }} SubscriptionPausedMessage
 * @typedef {{ type: 'connection_quality', participant: string, quality: ConnectionQuality }} ConnectionQualityMessage
 * @typedef {{ type: 'network_stats', stats: NetworkStats }} NetworkStatsMessage
 * @typedef {{ rid: string | null, active: boolean }} LayerActive
 * @typedef {{ type: 'publish_layers', track: string, layers: LayerActive[] }} PublishLayersMessage
 * @typedef {{ type: 'publish_answer', sdp: string, tracks: { mid: string, sid: string }[] }} PublishAnswerMessage
 * @typedef {{ type: 'subscribe_offer', sdp: string, tracks: SubscribedMid[] }} SubscribeOfferMessage
 * @typedef {{ type: 'chat', message: ChatMessage }} ChatReceivedMessage
 * @typedef {{ type: 'active_speakers', speakers: string[] }} ActiveSpeakersMessage
 * @typedef {{ type: 'poll', poll: PollInfo }} PollMessage
 * @typedef {{ type: 'muted_by_host', track: string, muted: boolean, locked: boolean }} MutedByHostMessage
 * @typedef {{ type: 'data', from?: Sender, payload: string, topic?: string }} DataReceivedMessage
 * @typedef {{ type: 'pong' }} PongMessage
 * @typedef {{ type: 'error', code: string, message: string }} ErrorMessage
 */

/**
 * @typedef {(JoinedMessage | ParticipantJoinedMessage | ParticipantLeftMessage
 *   | TrackPublishedMessage | TrackUnpublishedMessage | TrackMutedMessage | SubscriptionPausedMessage
 *   | ConnectionQualityMessage | NetworkStatsMessage
 *   | PublishLayersMessage | PublishAnswerMessage | SubscribeOfferMessage | ChatReceivedMessage | DataReceivedMessage
 *   | ActiveSpeakersMessage | PollMessage | MutedByHostMessage | WaitingMessage | MovedMessage | ReconnectMessage
 *   | WaitingListMessage | RoomSettingsMessage | ParticipantUpdatedMessage
 *   | RecordingMessage | BroadcastMessage | BoardStrokeMessage | BoardRemoveMessage | BoardClearMessage | BoardPointerMessage
 *   | PongMessage | ResumedMessage | ErrorMessage)
 *   & { id?: string | number }} ServerMessage
 */

/** Error codes after which retrying the same join cannot succeed. */
export const FATAL_JOIN_CODES = new Set([
  'unsupported_version',
  'invalid_token',
  'token_expired',
  'permission_denied',
  'wrong_room',
  'banned',
  'room_locked',
  'room_full',
  'rejected',
]);
