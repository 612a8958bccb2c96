// Audio rooms in the web app: listeners raise a hand, the host makes one a speaker, and the
// new speaker's microphone reaches the room over the connection it already had; a meeting
// switched to an audio room carries no video, and back in a meeting cameras come back.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  delay,
  joinAsHost,
  joinWithApp,
  launchBrowser,
  newPage,
  REMOTE_CAMERA_VIDEOS,
  screenshots,
  startServer,
  uniqueRoom,
  waitForAudioPacketsRising,
  waitForFramesDecodedRising,
} from './harness.mjs';

describe('audio room in the web app', () => {
  /** @type {import('./harness.mjs').Server} */
  let server;
  /** @type {import('./harness.mjs').Browser} */
  let browser;
  /** @type {import('./harness.mjs').Page} */
  let ada;
  /** @type {import('./harness.mjs').Page} */
  let lee;
  let leeIdentity = '';

  before(async () => {
    server = await startServer('audio-room');
    browser = await launchBrowser();
    const room = uniqueRoom('audio');
    ada = await newPage(browser, 'audio-ada');
    await joinAsHost(ada, server, room, 'ada', 'Ada');
    await ada.getByRole('button', { name: 'Participants' }).click();
    await ada.getByLabel(/Audio room/).check();
    lee = await newPage(browser, 'audio-lee');
    leeIdentity = await joinWithApp(lee, server, room, 'Lee');
    // The socket the listener joined on, to compare after the promotion.
    await lee.evaluate(() => {
      const w = /** @type {any} */ (window);
      w.firstSocket = w.moimRoom.signal.socket;
    });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('a listener sends nothing and can raise a hand', async () => {
    assert.equal(await lee.getByRole('button', { name: /microphone/ }).count(), 0, 'no microphone control');
    assert.equal(await lee.evaluate(() => /** @type {any} */ (window).moimRoom.publications.length), 0);
    await lee.getByRole('button', { name: 'Raise hand' }).click();
    await ada.locator(`.person[data-identity="${leeIdentity}"] .hand`).waitFor({ timeout: 5_000 });
  });

  test('promotion lets the listener speak without a new WebSocket', async () => {
    await ada.locator(`.person[data-identity="${leeIdentity}"] [data-action="promote"]`).click();
    await lee.locator('.toast', { hasText: 'A host made you a speaker' }).waitFor({ timeout: 5_000 });
    await lee.getByRole('button', { name: 'Unmute microphone' }).click();
    const leeSid = await lee.evaluate(() => /** @type {any} */ (window).moimRoom.localParticipant.sid);
    await waitForAudioPacketsRising(ada, `audio[data-participant-sid="${leeSid}"]`, { timeout: 15_000 });
    assert.ok(
      await lee.evaluate(() => {
        const w = /** @type {any} */ (window);
        return w.moimRoom.signal.socket === w.firstSocket;
      }),
      'the same signaling socket',
    );
    assert.equal(await ada.locator(`.person[data-identity="${leeIdentity}"] .hand`).count(), 0, 'hand lowered');
  });

  test('the host makes the speaker a listener again and the audio stops', async () => {
    await ada.locator(`.person[data-identity="${leeIdentity}"] [data-action="demote"]`).click();
    await lee.locator('.toast', { hasText: 'A host made you a listener' }).waitFor({ timeout: 5_000 });
    await ada.locator('audio[data-track-sid]').waitFor({ state: 'detached', timeout: 10_000 });
  });
});

describe('a meeting switched to an audio room and back', () => {
  /** @type {import('./harness.mjs').Server} */
  let server;
  /** @type {import('./harness.mjs').Browser} */
  let browser;
  /** @type {import('./harness.mjs').Page} */
  let ada;
  /** @type {import('./harness.mjs').Page} */
  let lee;
  let adaSid = '';

  before(async () => {
    server = await startServer('audio-round-trip');
    browser = await launchBrowser();
    const room = uniqueRoom('round-trip');
    ada = await newPage(browser, 'round-trip-ada');
    await joinAsHost(ada, server, room, 'ada', 'Ada');
    lee = await newPage(browser, 'round-trip-lee');
    await joinWithApp(lee, server, room, 'Lee');
    adaSid = await ada.evaluate(() => /** @type {any} */ (window).moimRoom.localParticipant.sid);
    await waitForFramesDecodedRising(lee, REMOTE_CAMERA_VIDEOS);
    await waitForFramesDecodedRising(ada, REMOTE_CAMERA_VIDEOS);
    // Chromium's fake microphone beeps: Ada talks.
    await lee.locator(`.tile.speaking[data-participant-sid="${adaSid}"]`).waitFor({ timeout: 15_000 });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('in the audio room no camera reaches anyone and the host’s camera is off', async () => {
    await ada.getByRole('button', { name: 'Participants' }).click();
    await ada.getByLabel(/Audio room/).check();
    await lee.locator(REMOTE_CAMERA_VIDEOS).waitFor({ state: 'detached', timeout: 10_000 });
    await ada.waitForFunction(() =>
      /** @type {any} */ (window).moimRoom.publications.every((/** @type {any} */ p) => p.kind !== 'video'));
    assert.equal(await ada.getByRole('button', { name: /camera/ }).count(), 0, 'no camera to turn off');
    await delay(2_000);
    assert.equal(await lee.locator(REMOTE_CAMERA_VIDEOS).count(), 0, 'still no video after 2 s');
    // Turning the camera off kept the host's voice: the microphone still reaches the room.
    await waitForAudioPacketsRising(lee, `audio[data-participant-sid="${adaSid}"]`);
    await screenshots(ada, 'audio-room-host');
  });

  test('back in a meeting, both turn their cameras on and each sees the other', async () => {
    await ada.getByLabel(/Audio room/).uncheck();
    await ada.getByRole('button', { name: 'Turn on camera' }).click();
    await lee.getByRole('button', { name: 'Turn on camera' }).click({ timeout: 10_000 });
    await waitForFramesDecodedRising(lee, REMOTE_CAMERA_VIDEOS);
    await waitForFramesDecodedRising(ada, REMOTE_CAMERA_VIDEOS);
    await screenshots(lee, 'meeting-after-audio-room');
  });

  test('muted microphones are not marked as talking', async () => {
    // Lee came back from listening with the microphone muted; Ada mutes hers.
    await lee.getByRole('button', { name: 'Unmute microphone' }).waitFor();
    await ada.getByRole('button', { name: 'Mute microphone' }).click();
    await lee.locator('.tile.speaking').waitFor({ state: 'detached', timeout: 5_000 });
    await delay(3_000);
    for (const page of [ada, lee]) assert.equal(await page.locator('.tile.speaking').count(), 0);
  });
});
