// What the WHIP and WHEP example pages share: one POST of an SDP offer carrying every ICE
// candidate, the answer in the 201 reply, DELETE on the `Location` URL to stop (RFC 9725 and
// the WHEP draft), and the page's form, status line and autostart. Written against the RFCs
// only, with nothing but `RTCPeerConnection` and `fetch`.

/**
 * @typedef {object} ExamplePage
 * @property {string} defaultEndpoint the endpoint shown unless `?endpoint=` is given
 * @property {string} connectingText status shown once the answer is applied
 * @property {(pc: RTCPeerConnection, video: HTMLVideoElement) => Promise<() => void>} prepare
 *   adds the transceivers; returns what to release on stop
 */

/** @param {string} id */
function byId(id) {
  return /** @type {HTMLElement} */ (document.getElementById(id));
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

/**
 * Wires the page: Start negotiates, Stop deletes the session, `?autostart=1` starts at once.
 * The peer connection is exposed as `window.pc`.
 * @param {ExamplePage} page
 */
export function runExamplePage(page) {
  const params = new URLSearchParams(location.search);
  const form = /** @type {HTMLFormElement} */ (byId('form'));
  const endpointInput = /** @type {HTMLInputElement} */ (byId('endpoint'));
  const tokenInput = /** @type {HTMLInputElement} */ (byId('token'));
  const startButton = /** @type {HTMLButtonElement} */ (byId('start'));
  const stopButton = /** @type {HTMLButtonElement} */ (byId('stop'));
  const statusEl = byId('status');
  const video = /** @type {HTMLVideoElement} */ (byId('video'));

  endpointInput.value = params.get('endpoint') ?? page.defaultEndpoint;
  tokenInput.value = params.get('token') ?? '';

  /** @type {RTCPeerConnection | null} */
  let pc = null;
  /** @type {() => void} */
  let release = () => {};
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

  async function start() {
    startButton.disabled = true;
    try {
      pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
      /** @type {any} */ (window).pc = pc;
      const peer = pc;
      peer.addEventListener('connectionstatechange', () => {
        showStatus(`Connection: ${peer.connectionState}`, peer.connectionState === 'failed');
      });
      release = await page.prepare(peer, video);
      await peer.setLocalDescription(await peer.createOffer());
      await gatheringComplete(peer, 1_000);
      const offer = /** @type {RTCSessionDescription} */ (peer.localDescription);

      showStatus('Sending offer…');
      const endpoint = new URL(endpointInput.value, location.href);
      const res = await fetch(endpoint, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', ...authHeaders() },
        body: offer.sdp,
      });
      if (res.status !== 201) {
        throw new Error(`The server refused the offer: ${await describeFailure(res)}`);
      }
      const locationHeader = res.headers.get('Location');
      sessionUrl = locationHeader ? new URL(locationHeader, endpoint).toString() : null;
      await peer.setRemoteDescription({ type: 'answer', sdp: await res.text() });
      stopButton.disabled = false;
      showStatus(page.connectingText);
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
    release();
    release = () => {};
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
}
