// A participant whose signaling connection drops rejoins on its own: the app shows
// "Reconnecting…" then "Connected", and media flows both ways again.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  REMOTE_CAMERA_VIDEOS,
  joinWithApp,
  launchBrowser,
  newPage,
  startServer,
  uniqueRoom,
  waitForFramesDecodedRising,
} from './harness.mjs';

/** @typedef {import('./harness.mjs').Page} Page */

describe('reconnection after the signaling socket drops', () => {
  /** @type {import('./harness.mjs').Server} */
  let server;
  /** @type {import('./harness.mjs').Browser} */
  let browser;
  /** @type {Page} */
  let dropper;
  /** @type {Page} */
  let witness;
  let dropperIdentity = '';
  const room = uniqueRoom('reconnect');

  before(async () => {
    server = await startServer('reconnect');
    browser = await launchBrowser();
    dropper = await newPage(browser, 'reconnect-dropper');
    witness = await newPage(browser, 'reconnect-witness');
    dropperIdentity = await joinWithApp(dropper, server, room, 'Dropper');
    await joinWithApp(witness, server, room, 'Witness');
    await waitForFramesDecodedRising(dropper, REMOTE_CAMERA_VIDEOS);
    await waitForFramesDecodedRising(witness, REMOTE_CAMERA_VIDEOS);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('the indicator shows Reconnecting… then Connected', async () => {
    await dropper.evaluate(() => {
      const w = /** @type {any} */ (window);
      const label = /** @type {Element} */ (document.querySelector('#connection-state'));
      w.stateTexts = [];
      new MutationObserver(() => w.stateTexts.push(label.textContent)).observe(label, {
        subtree: true,
        childList: true,
        characterData: true,
      });
      w.moimRoom.signal.socket.close();
    });
    await dropper.locator('#connection-state[data-state="connected"]').waitFor({ timeout: 20_000 });
    await dropper.waitForFunction(() => /** @type {any} */ (window).stateTexts.includes('Connected'));
    const texts = await dropper.evaluate(() => /** @type {any} */ (window).stateTexts);
    const reconnecting = texts.indexOf('Reconnecting…');
    assert.ok(reconnecting >= 0, `states seen: ${texts}`);
    assert.ok(texts.indexOf('Connected', reconnecting) > reconnecting, `states seen: ${texts}`);
  });

  test('the reconnected participant decodes the other camera again', async () => {
    await waitForFramesDecodedRising(dropper, REMOTE_CAMERA_VIDEOS);
  });

  test('the other participant decodes the reconnected camera again, in one tile', async () => {
    const tile = `.tile[data-identity="${dropperIdentity}"]`;
    await waitForFramesDecodedRising(witness, `${tile} video[data-track-sid]`);
    assert.equal(await witness.locator(tile).count(), 1);
  });
});
