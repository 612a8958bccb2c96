// Audio rooms in the web app: listeners raise a hand, the host makes one a speaker, and the
// new speaker's microphone reaches the room over the connection it already had.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  joinAsHost,
  joinWithApp,
  launchBrowser,
  newPage,
  startServer,
  uniqueRoom,
  waitForAudioPacketsRising,
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
