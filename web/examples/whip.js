// WHIP publisher (RFC 9725) written against the RFC only: one POST of an SDP offer with all
// ICE candidates, the answer in the 201 reply, DELETE on the session URL to stop.

const params = new URLSearchParams(location.search);
const form = /** @type {HTMLFormElement} */ (document.getElementById('form'));
const endpointInput = /** @type {HTMLInputElement} */ (document.getElementById('endpoint'));
const tokenInput = /** @type {HTMLInputElement} */ (document.getElementById('token'));
const startButton = /** @type {HTMLButtonElement} */ (document.getElementById('start'));
const stopButton = /** @type {HTMLButtonElement} */ (document.getElementById('stop'));
const statusEl = /** @type {HTMLElement} */ (document.getElementById('status'));
const video = /** @type {HTMLVideoElement} */ (document.getElementById('video'));

endpointInput.value = params.get('endpoint') ?? `/whip/${params.get('room') ?? 'demo'}`;
tokenInput.value = params.get('token') ?? '';

/** @type {RTCPeerConnection | null} */
let pc = null;
/** @type {MediaStream | null} */
let stream = null;
/** The session URL from the `Location` header, for DELETE. @type {string | null} */
let sessionUrl = null;

/** @param {string} text @param {boolean} [error] */
function showStatus(text, error = false) {
  statusEl.textContent = text;
  statusEl.toggleAttribute('data-error', error);
}

/** @returns {Record<string, string>} */
function authHeaders() {
  const token = tokenInput.value.trim();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/**
 * Waits until ICE gathering completes so that the offer carries every candidate, but no
 * longer than `ms`: the server is ICE-lite and can also learn our address from our checks.
 * @param {RTCPeerConnection} peer
 * @param {number} ms
 */
function gatheringComplete(peer, ms) {
  return new Promise((resolve) => {
    if (peer.iceGatheringState === 'complete') return resolve(undefined);
    const timer = setTimeout(done, ms);
    peer.addEventListener('icegatheringstatechange', () => {
      if (peer.iceGatheringState === 'complete') done();
    });
    function done() {
      clearTimeout(timer);
      resolve(undefined);
    }
  });
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

async function start() {
  startButton.disabled = true;
  try {
    showStatus('Opening camera and microphone…');
    stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    video.srcObject = stream;
    pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    /** @type {any} */ (window).pc = pc;
    for (const track of stream.getTracks()) {
      pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
    }
    pc.addEventListener('connectionstatechange', () => {
      if (pc) showStatus(`Connection: ${pc.connectionState}`, pc.connectionState === 'failed');
    });
    await pc.setLocalDescription(await pc.createOffer());
    await gatheringComplete(pc, 1_000);
    const offer = /** @type {RTCSessionDescription} */ (pc.localDescription);

    showStatus('Sending offer…');
    const endpoint = new URL(endpointInput.value, location.href);
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', ...authHeaders() },
      body: offer.sdp,
    });
    if (res.status !== 201) throw new Error(`The server refused the offer: ${await describeFailure(res)}`);
    const locationHeader = res.headers.get('Location');
    sessionUrl = locationHeader ? new URL(locationHeader, endpoint).toString() : null;
    await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
    stopButton.disabled = false;
    showStatus('Publishing; waiting for the connection…');
  } catch (err) {
    showStatus(err instanceof Error ? err.message : String(err), true);
    teardown();
    startButton.disabled = false;
  }
}

async function stop() {
  stopButton.disabled = true;
  if (sessionUrl) {
    await fetch(sessionUrl, { method: 'DELETE', headers: authHeaders() }).catch(() => {});
  }
  teardown();
  showStatus('Stopped.');
  startButton.disabled = false;
}

function teardown() {
  pc?.close();
  pc = null;
  for (const track of stream?.getTracks() ?? []) track.stop();
  stream = null;
  sessionUrl = null;
  video.srcObject = null;
}

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  start();
});
stopButton.addEventListener('click', stop);
addEventListener('pagehide', () => {
  if (sessionUrl) fetch(sessionUrl, { method: 'DELETE', headers: authHeaders(), keepalive: true });
});
if (params.get('autostart') === '1') start();
