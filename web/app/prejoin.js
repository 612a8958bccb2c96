// The pre-join screen: name, camera preview, device choice, and the Join button.

import { joinRoom } from './account-api.js';
import { mintDevToken, tokenClaims } from './api.js';
import { h, initials } from './dom.js';

/**
 * What the user chose before joining. The tracks are handed over to the meeting.
 * @typedef {object} JoinChoice
 * @property {string} token
 * @property {string} name
 * @property {MediaStreamTrack | null} camera
 * @property {MediaStreamTrack | null} microphone
 * @property {boolean} cameraOff
 * @property {boolean} microphoneOff
 */

/**
 * @typedef {object} PrejoinOptions
 * @property {string} room
 * @property {string | null} token from the link's `?token=`
 * @property {string} name from the link's `?name=`, or remembered
 * @property {import('./api.js').ServerInfo | null} info
 * @property {boolean} [asHost] join as the meeting's host (development mode mints a host token)
 * @property {import('./account-api.js').Door | null} [door] an owned room's link: the server
 *   mints the token
 * @property {(choice: JoinChoice) => Promise<void>} onJoin resolves once in the meeting;
 *   a rejection is shown and the user may try again
 */

/**
 * @param {HTMLElement} root
 * @param {PrejoinOptions} options
 */
export function renderPrejoin(root, options) {
  const claims = options.token ? tokenClaims(options.token) : null;
  const tokenName = claims?.name ?? claims?.sub ?? null;

  const video = h('video', { class: 'mirror', autoplay: true, playsinline: true, id: 'preview-video' });
  video.muted = true;
  const avatar = h('div', { class: 'avatar' }, initials(tokenName ?? options.name ?? ''));
  const previewNote = h('p', { class: 'preview-note' });
  const preview = h('div', { class: 'preview video-off' }, video, avatar, previewNote);

  const nameInput = h('input', {
    id: 'name',
    type: 'text',
    autocomplete: 'name',
    maxlength: 64,
    required: true,
    placeholder: 'Your name',
    value: tokenName ?? options.name,
    readonly: tokenName !== null,
  });
  nameInput.addEventListener('input', () => {
    avatar.textContent = initials(nameInput.value);
  });
  const cameraSelect = h('select', { id: 'camera-select' });
  const micSelect = h('select', { id: 'mic-select' });
  const cameraOff = h('input', { type: 'checkbox', id: 'start-camera-off', role: 'switch' });
  const micOff = h('input', { type: 'checkbox', id: 'start-mic-off', role: 'switch' });
  const joinButton = h('button', { class: 'button primary large', type: 'submit', id: 'join' }, 'Join');
  const error = h('p', { class: 'form-error', role: 'alert' });

  /** @type {MediaStreamTrack | null} */
  let camera = null;
  /** @type {MediaStreamTrack | null} */
  let microphone = null;
  let handedOver = false;

  // A link whose token is for another room must not lead anyone into that other meeting.
  const tokenRoom = claims?.video?.room;
  const wrongRoom = options.token !== null && tokenRoom !== options.room;
  const door = options.door ?? null;
  // A members-only room asks those not signed in to sign in first.
  const signInFirst = door !== null && !door.guests && door.name === undefined;
  const canJoin =
    (options.token !== null || options.info?.devMode === true || door !== null) && !wrongRoom && !signInFirst;
  const accessCode = door?.access_code
    ? h('input', { id: 'access-code', type: 'text', autocomplete: 'off', required: true, maxlength: 64 })
    : null;
  if (signInFirst) {
    joinButton.disabled = true;
    error.replaceChildren(
      'This room is for people with an account on this server. ',
      h('a', { href: `/account?next=${encodeURIComponent(location.pathname)}`, id: 'sign-in-first' }, 'Sign in'),
      ' first.',
    );
  } else if (wrongRoom) {
    joinButton.disabled = true;
    error.textContent = tokenRoom
      ? `This invitation is for the meeting “${tokenRoom}”, not “${options.room}”. Ask the host for the right link.`
      : 'This invitation link is not valid. Ask the host for a new one.';
  } else if (!canJoin) {
    joinButton.disabled = true;
    error.textContent =
      'This link has no access token and the server does not mint them for browsers. ' +
      'Ask the host for an invitation link that ends in ?token=….';
  }

  const showCamera = () => {
    const on = camera !== null && !cameraOff.checked;
    preview.classList.toggle('video-off', !on);
    if (camera) camera.enabled = on;
  };
  cameraOff.addEventListener('change', showCamera);

  /**
   * (Re)opens the chosen devices. Missing devices or a refused permission leave that kind
   * of track out; the user can still join.
   * @param {{ camera?: string, microphone?: string }} ids
   */
  const openDevices = async (ids) => {
    const wantCamera = ids.camera !== undefined || camera === null;
    const wantMic = ids.microphone !== undefined || microphone === null;
    if (wantCamera) camera?.stop();
    if (wantMic) microphone?.stop();
    const opened = await openTracks(wantCamera, wantMic, ids);
    if (wantCamera) {
      camera = opened.camera;
      video.srcObject = camera ? new MediaStream([camera]) : null;
    }
    if (wantMic) microphone = opened.microphone;
    previewNote.textContent =
      camera || microphone ? '' : 'No camera or microphone available. You can still join and watch.';
    showCamera();
    await fillDeviceLists(cameraSelect, micSelect, camera, microphone);
  };

  /** The latest device change; joining waits for it so that no track is left behind. */
  let devicesReady = Promise.resolve();
  /** @param {{ camera?: string, microphone?: string }} ids */
  const changeDevices = (ids) => {
    devicesReady = devicesReady
      .then(() => openDevices(ids))
      .catch((err) => {
        previewNote.textContent = err instanceof Error ? err.message : String(err);
      });
  };
  cameraSelect.addEventListener('change', () => changeDevices({ camera: cameraSelect.value }));
  micSelect.addEventListener('change', () => changeDevices({ microphone: micSelect.value }));

  const form = h(
    'form',
    {
      class: 'card prejoin-form',
      onsubmit: async (ev) => {
        ev.preventDefault();
        const name = nameInput.value.trim();
        if (!name) {
          error.textContent = 'Enter your name so others know who you are.';
          nameInput.focus();
          return;
        }
        joinButton.disabled = true;
        joinButton.textContent = 'Joining…';
        error.textContent = '';
        try {
          await devicesReady;
          localStorage.setItem('moim.name', name);
          const token =
            options.token ??
            (door
              ? (await joinRoom(options.room, name, accessCode?.value)).token
              : await devToken(options.room, name, options.asHost === true));
          handedOver = true;
          await options.onJoin({
            token,
            name,
            camera,
            microphone,
            cameraOff: cameraOff.checked,
            microphoneOff: micOff.checked,
          });
        } catch (err) {
          handedOver = false;
          error.textContent = err instanceof Error ? err.message : String(err);
          joinButton.disabled = false;
          joinButton.textContent = 'Join';
        }
      },
    },
    h('h1', {}, 'Ready to join?'),
    h('p', { class: 'room-name' }, options.room),
    h('label', { for: 'name', class: 'label' }, 'Your name'),
    nameInput,
    tokenName !== null ? h('span', { class: 'hint' }, 'Set by your invitation link.') : null,
    options.asHost && !options.token && options.info?.devMode ? h('span', { class: 'hint', id: 'joining-as-host' }, 'You join as the host of this meeting.') : null,
    door?.host ? h('span', { class: 'hint', id: 'joining-as-host' }, 'You join as a host of this room.') : null,
    accessCode ? h('label', { for: 'access-code', class: 'label' }, 'Access code') : null,
    accessCode,
    h('label', { for: 'camera-select', class: 'label' }, 'Camera'),
    cameraSelect,
    h('label', { for: 'mic-select', class: 'label' }, 'Microphone'),
    micSelect,
    h('label', { class: 'switch' }, cameraOff, h('span', {}, 'Join with camera off')),
    h('label', { class: 'switch' }, micOff, h('span', {}, 'Join with microphone off')),
    joinButton,
    error,
  );

  root.replaceChildren(
    h(
      'div',
      { class: 'prejoin' },
      h('header', { class: 'brand' }, h('a', { href: '/', class: 'logo', 'aria-label': 'Moim home' }, 'M'), h('span', {}, 'Moim')),
      h('div', { class: 'prejoin-body' }, preview, form),
    ),
  );
  if (canJoin) nameInput.focus();

  changeDevices({});
  addEventListener(
    'pagehide',
    () => {
      if (!handedOver) {
        camera?.stop();
        microphone?.stop();
      }
    },
    { once: true },
  );
}

/**
 * A development token for `room`, kept for this tab: a reload comes back as the same
 * person (and passes the lock and the waiting room again), another tab is someone else.
 * @param {string} room
 * @param {string} name
 * @param {boolean} host
 */
async function devToken(room, name, host) {
  const key = `moim.devToken.${room}`;
  /** @type {{ name: string, host: boolean, token: string } | null} */
  let kept = null;
  try {
    kept = JSON.parse(sessionStorage.getItem(key) ?? 'null');
  } catch {
    kept = null;
  }
  const expires = kept ? tokenClaims(kept.token)?.exp ?? 0 : 0;
  if (kept && kept.name === name && kept.host === host && expires * 1000 > Date.now() + 60_000) {
    return kept.token;
  }
  const { token } = await mintDevToken({ room, name, host });
  sessionStorage.setItem(key, JSON.stringify({ name, host, token }));
  return token;
}

/**
 * Opens camera and microphone in one request when both are wanted (one permission prompt),
 * falling back to one at a time so that a missing device does not cost the other.
 * @param {boolean} wantCamera
 * @param {boolean} wantMic
 * @param {{ camera?: string, microphone?: string }} ids
 * @returns {Promise<{ camera: MediaStreamTrack | null, microphone: MediaStreamTrack | null }>}
 */
async function openTracks(wantCamera, wantMic, ids) {
  /** @type {MediaTrackConstraints} */
  const video = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
  if (ids.camera) video.deviceId = { exact: ids.camera };
  /** @type {MediaTrackConstraints} */
  const audio = ids.microphone ? { deviceId: { exact: ids.microphone } } : {};
  /** @param {MediaStreamConstraints} constraints */
  const open = async (constraints) => {
    try {
      return await navigator.mediaDevices.getUserMedia(constraints);
    } catch {
      return null;
    }
  };
  if (wantCamera && wantMic) {
    const both = await open({ video, audio });
    if (both) {
      return { camera: both.getVideoTracks()[0] ?? null, microphone: both.getAudioTracks()[0] ?? null };
    }
  }
  const cam = wantCamera ? await open({ video }) : null;
  const mic = wantMic ? await open({ audio }) : null;
  return { camera: cam?.getVideoTracks()[0] ?? null, microphone: mic?.getAudioTracks()[0] ?? null };
}

/**
 * @param {HTMLSelectElement} cameraSelect
 * @param {HTMLSelectElement} micSelect
 * @param {MediaStreamTrack | null} camera
 * @param {MediaStreamTrack | null} microphone
 */
async function fillDeviceLists(cameraSelect, micSelect, camera, microphone) {
  const devices = await navigator.mediaDevices.enumerateDevices();
  fill(cameraSelect, devices.filter((d) => d.kind === 'videoinput'), camera, 'Camera');
  fill(micSelect, devices.filter((d) => d.kind === 'audioinput'), microphone, 'Microphone');
}

/**
 * @param {HTMLSelectElement} select
 * @param {MediaDeviceInfo[]} devices
 * @param {MediaStreamTrack | null} current
 * @param {string} noun
 */
function fill(select, devices, current, noun) {
  const currentId = current?.getSettings().deviceId;
  select.replaceChildren(
    ...devices.map((d, i) =>
      h('option', { value: d.deviceId, selected: d.deviceId === currentId }, d.label || `${noun} ${i + 1}`),
    ),
  );
  if (devices.length === 0) select.append(h('option', { value: '' }, `No ${noun.toLowerCase()} found`));
  select.disabled = devices.length === 0;
}
