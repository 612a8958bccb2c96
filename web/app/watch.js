// The watch page, `/watch/{room}` (`?key=` for a private broadcast, `?mode=hls` to skip
// WebRTC): plays a room's broadcast without joining the meeting and never asks for a camera
// or microphone. While live it plays over WebRTC (WHEP) with under a second of delay and
// falls back to HLS when that fails or shows no picture; once ended it plays the HLS
// playlist back. It asks the server about the broadcast every 5 s (live or not, viewers).

/** @typedef {import('hls.js').default} Hls */

/**
 * What `GET /watch/{room}/info` says.
 * @typedef {object} WatchInfo
 * @property {boolean} live a broadcast runs now (else it ended and `hls` plays it back)
 * @property {boolean} started the source sent its first picture: the playlists are there
 * @property {string | null} hls the multivariant playlist (with the key of a private
 *   broadcast); `null` when the broadcast is not offered over HLS
 * @property {string | null} whep where to post a WHEP offer while live (null for the
 *   meeting's composite grid, which plays over HLS only)
 * @property {string | null} source_name
 * @property {number} viewers people watching over WebRTC
 * @property {number} started_at milliseconds since the Unix epoch
 */

/** @typedef {'' | 'WebRTC' | 'HLS'} Mode */

/** hls.js (its UMD build, which sets `window.Hls`), loaded only when HLS plays. */
const HLS_SCRIPT = '/app/vendor/hls.light.min.js';
/** How long WebRTC has to decode a first picture before HLS takes over. */
const FIRST_FRAME_MS = 5_000;
const INFO_INTERVAL_MS = 5_000;

/** @param {string} id */
function byId(id) {
  return /** @type {HTMLElement} */ (document.getElementById(id));
}

const video = /** @type {HTMLVideoElement} */ (byId('video'));
const badge = byId('live-badge');
const nameEl = byId('watch-name');
const statsEl = byId('watch-stats');
const modeEl = byId('watch-mode');
const qualityEl = byId('watch-quality');
const viewersEl = byId('viewer-count');
const messageEl = byId('watch-message');
const unmuteButton = /** @type {HTMLButtonElement} */ (byId('unmute'));
const fullscreenButton = /** @type {HTMLButtonElement} */ (byId('fullscreen'));

const params = new URLSearchParams(location.search);
const room = decodeURIComponent(location.pathname.split('/')[2] ?? '');
const key = params.get('key');
const hlsOnly = params.get('mode') === 'hls';
const query = key ? `?key=${encodeURIComponent(key)}` : '';

/**
 * What the page plays, for diagnostics and tests: the mode, the hls.js instance while
 * hls.js plays, the peer connection while WebRTC does.
 * @type {{ mode: Mode, hls: Hls | null, pc: RTCPeerConnection | null }}
 */
const playing = { mode: '', hls: null, pc: null };
/** @type {any} */ (window).moimWatch = playing;

/** The WHEP session's URL (its `Location`), to end it. @type {string | null} */
let whepResource = null;
/** Playing has begun (or is being tried); the info refreshes only update what is shown. */
let begun = false;
/** When the broadcast being played started: another one of the room is played anew. */
let playingStartedAt = 0;
/** @type {ReturnType<typeof setInterval> | undefined} */
let infoTimer;
/** Pictures decoded over WebRTC at the last refresh, and how many refreshes since saw none. */
let lastDecoded = 0;
let stalledRefreshes = 0;

/** @param {string} text empty hides the message */
function showMessage(text) {
  messageEl.textContent = text;
}

/** @param {Mode} mode */
function setMode(mode) {
  playing.mode = mode;
  modeEl.textContent = mode;
  statsEl.hidden = mode === '';
}

function showQuality() {
  qualityEl.textContent = video.videoHeight > 0 ? `${video.videoHeight}p` : '';
}

/** Starts the picture (muted, which browsers allow without a click) and offers sound. */
function startVideo() {
  video.play().catch(() => {
    // Even muted playback was refused: the button starts it.
    unmuteButton.textContent = 'Play';
  });
  unmuteButton.hidden = !video.muted && !video.paused;
  fullscreenButton.hidden = !document.fullscreenEnabled;
}

unmuteButton.addEventListener('click', () => {
  video.muted = false;
  video.play().catch(() => {});
  unmuteButton.hidden = true;
});
fullscreenButton.addEventListener('click', () => {
  if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  else byId('watch').requestFullscreen().catch(() => {});
});
video.addEventListener('resize', showQuality);
video.addEventListener('ended', () => showMessage('The broadcast ended.'));

/** Asks the server about the broadcast, shows what it says, and starts playing once it can. */
async function refresh() {
  /** @type {Response} */
  let res;
  try {
    res = await fetch(`/watch/${encodeURIComponent(room)}/info${query}`, { cache: 'no-store' });
  } catch {
    if (!begun) showMessage('The server cannot be reached. Trying again…');
    return;
  }
  if (res.status === 403) {
    clearInterval(infoTimer);
    stopAll();
    showMessage(key
      ? 'This link to a private broadcast has a wrong or expired key (links work for a day). Ask the host for a fresh one.'
      : 'This broadcast is private: it plays only from the link its host shares, which carries a key.');
    return;
  }
  if (res.status === 404) {
    badge.hidden = true;
    if (!begun) showMessage(`“${room}” is not live. This page starts playing when it goes live.`);
    return;
  }
  if (!res.ok) {
    if (!begun) showMessage(`The server could not say what “${room}” broadcasts (HTTP ${res.status}). Trying again…`);
    return;
  }
  const info = /** @type {WatchInfo} */ (await res.json());
  if (begun && info.started_at !== playingStartedAt) {
    // The room went live again: what played was its previous broadcast.
    stopAll();
    begun = false;
  }
  badge.hidden = !info.live;
  viewersEl.textContent = String(info.viewers);
  nameEl.textContent = [info.source_name, info.live ? '' : 'ended'].filter(Boolean).join(' · ');
  document.title = `${info.source_name ? `${info.source_name} · ` : ''}${info.live ? 'Live' : 'Ended'} · Moim`;
  if (begun && info.live && playing.mode === 'WebRTC' && (await webRtcStalled())) {
    // No picture for two refreshes: the source went away and came back (an encoder
    // reconnecting), and a new session follows it (or HLS, if WebRTC shows nothing).
    stopWebRtc();
    setMode('');
    begun = false;
  }
  if (begun) {
    if (!info.live && playing.mode === 'WebRTC') {
      stopAll();
      showMessage('The broadcast ended.');
    }
    return;
  }
  if (info.live && !info.started) {
    showMessage('The broadcast is about to start…');
    return;
  }
  begun = true;
  playingStartedAt = info.started_at;
  showMessage('');
  await play(info);
}

/** @param {WatchInfo} info */
async function play(info) {
  if (info.live && !hlsOnly && info.whep) {
    try {
      await playWebRtc(info.whep);
      return;
    } catch (err) {
      console.warn(`WebRTC did not play (${err instanceof Error ? err.message : err}); playing HLS instead.`);
      stopWebRtc();
    }
  }
  await playHls(info.hls);
}

/**
 * Plays the broadcast's source over WHEP; resolves once a picture decoded, rejects when
 * the server refuses or no picture decodes within {@link FIRST_FRAME_MS}.
 * @param {string} endpoint
 */
async function playWebRtc(endpoint) {
  showMessage('Connecting…');
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  playing.pc = pc;
  lastDecoded = 0;
  stalledRefreshes = 0;
  pc.addTransceiver('audio', { direction: 'recvonly' });
  pc.addTransceiver('video', { direction: 'recvonly' });
  const stream = new MediaStream();
  pc.addEventListener('track', (ev) => stream.addTrack(ev.track));
  video.srcObject = stream;
  // The server is ICE-lite and learns our address from our checks: no need to wait for
  // candidates.
  await pc.setLocalDescription(await pc.createOffer());
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp' },
    body: /** @type {RTCSessionDescription} */ (pc.localDescription).sdp,
  });
  if (res.status !== 201) throw new Error(`the server refused the offer: ${await describeFailure(res)}`);
  const resource = res.headers.get('Location');
  whepResource = resource ? new URL(resource, new URL(endpoint, document.baseURI)).href : null;
  await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
  startVideo();
  await firstFrame(pc);
  pc.addEventListener('connectionstatechange', () => {
    if (pc.connectionState === 'failed' && playing.pc === pc) {
      stopWebRtc();
      refreshThenHls();
    }
  });
  setMode('WebRTC');
  showMessage('');
}

/** After WebRTC broke off: HLS plays on if the broadcast is still live. */
async function refreshThenHls() {
  const res = await fetch(`/watch/${encodeURIComponent(room)}/info${query}`, { cache: 'no-store' }).catch(() => null);
  const info = res?.ok ? /** @type {WatchInfo} */ (await res.json()) : null;
  if (info?.live) await playHls(info.hls);
  else showMessage('The broadcast ended.');
}

/** Whether WebRTC decoded no picture since the refresh before last. */
async function webRtcStalled() {
  const pc = playing.pc;
  if (!pc) return false;
  const decoded = await framesDecoded(pc);
  stalledRefreshes = decoded > lastDecoded ? 0 : stalledRefreshes + 1;
  lastDecoded = decoded;
  return stalledRefreshes >= 2;
}

/** @param {RTCPeerConnection} pc */
async function framesDecoded(pc) {
  let decoded = 0;
  (await pc.getStats()).forEach((report) => {
    if (report.type === 'inbound-rtp' && report.kind === 'video') decoded += report.framesDecoded ?? 0;
  });
  return decoded;
}

/**
 * Resolves once the peer connection decoded a picture.
 * @param {RTCPeerConnection} pc
 */
async function firstFrame(pc) {
  const deadline = performance.now() + FIRST_FRAME_MS;
  while (performance.now() < deadline) {
    if (pc.connectionState === 'failed' || pc.connectionState === 'closed') {
      throw new Error(`the connection ${pc.connectionState}`);
    }
    if ((await framesDecoded(pc)) > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`no picture decoded within ${FIRST_FRAME_MS / 1000} s`);
}

function stopWebRtc() {
  if (whepResource) fetch(whepResource, { method: 'DELETE', keepalive: true }).catch(() => {});
  whepResource = null;
  playing.pc?.close();
  playing.pc = null;
  if (video.srcObject) video.srcObject = null;
}

/**
 * Plays the HLS playlist: with hls.js where the browser has Media Source Extensions (it
 * picks the quality the network carries), else with the browser's own HLS player.
 * @param {string | null} url `null`: the broadcast is not offered over HLS
 */
async function playHls(url) {
  if (url === null) {
    setMode('');
    showMessage('This broadcast plays over WebRTC only, and that did not work here.');
    return;
  }
  showMessage('');
  setMode('HLS');
  if ('MediaSource' in window || 'ManagedMediaSource' in window) {
    const HlsClass = await loadHls().catch((err) => {
      console.warn(err instanceof Error ? err.message : err);
      return null;
    });
    if (HlsClass?.isSupported()) {
      playWithHlsJs(HlsClass, url);
      return;
    }
  }
  if (video.canPlayType('application/vnd.apple.mpegurl')) {
    video.src = url;
    startVideo();
    return;
  }
  setMode('');
  showMessage('This browser cannot play the broadcast.');
}

/**
 * @param {typeof import('hls.js').default} HlsClass
 * @param {string} url
 */
function playWithHlsJs(HlsClass, url) {
  const hls = new HlsClass({ lowLatencyMode: true, backBufferLength: 30 });
  playing.hls = hls;
  hls.on(HlsClass.Events.MANIFEST_PARSED, () => startVideo());
  hls.on(HlsClass.Events.ERROR, (_event, data) => {
    if (!data.fatal) return;
    if (data.type === HlsClass.ErrorTypes.NETWORK_ERROR) {
      // A playlist the server held too long, a lost connection: try again shortly.
      const manifest = data.details === HlsClass.ErrorDetails.MANIFEST_LOAD_ERROR ||
        data.details === HlsClass.ErrorDetails.MANIFEST_LOAD_TIMEOUT;
      setTimeout(() => (manifest ? hls.loadSource(url) : hls.startLoad()), 2_000);
    } else if (data.type === HlsClass.ErrorTypes.MEDIA_ERROR) {
      hls.recoverMediaError();
    } else {
      showMessage(`The broadcast could not be played (${data.details}).`);
      hls.destroy();
      playing.hls = null;
    }
  });
  hls.loadSource(url);
  hls.attachMedia(video);
}

/** @returns {Promise<typeof import('hls.js').default>} */
function loadHls() {
  const w = /** @type {{ Hls?: typeof import('hls.js').default }} */ (/** @type {unknown} */ (window));
  if (w.Hls) return Promise.resolve(w.Hls);
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = HLS_SCRIPT;
    script.onload = () => (w.Hls ? resolve(w.Hls) : reject(new Error(`${HLS_SCRIPT} did not define Hls.`)));
    script.onerror = () => reject(new Error(`Could not load ${HLS_SCRIPT}.`));
    document.head.append(script);
  });
}

function stopAll() {
  stopWebRtc();
  playing.hls?.destroy();
  playing.hls = null;
  video.removeAttribute('src');
  video.load();
  setMode('');
  unmuteButton.hidden = true;
  fullscreenButton.hidden = true;
  badge.hidden = true;
}

/** @param {Response} res */
async function describeFailure(res) {
  const text = await res.text();
  try {
    const body = JSON.parse(text);
    return `${res.status} ${body.code}: ${body.message}`;
  } catch {
    return `${res.status} ${text || res.statusText}`;
  }
}

addEventListener('pagehide', () => {
  if (whepResource) fetch(whepResource, { method: 'DELETE', keepalive: true }).catch(() => {});
});

if (room) {
  refresh();
  infoTimer = setInterval(refresh, INFO_INTERVAL_MS);
} else {
  showMessage('This link names no room: watch pages are at /watch/{room}.');
}
