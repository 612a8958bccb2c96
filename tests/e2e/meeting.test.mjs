// Three people meet through the web app: they see and hear each other, one shares a screen,
// one leaves.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  REMOTE_AUDIO,
  REMOTE_CAMERA_VIDEOS,
  REMOTE_SCREEN_VIDEOS,
  joinWithApp,
  launchBrowser,
  newPage,
  startServer,
  uniqueRoom,
  waitForAudioPacketsRising,
  waitForFramesDecodedRising,
} from './harness.mjs';

/** @typedef {import('./harness.mjs').Page} Page */

describe('a meeting of three in the web app', () => {
  /** @type {import('./harness.mjs').Server} */
  let server;
  /** @type {import('./harness.mjs').Browser} */
  let browser;
  const room = uniqueRoom('meeting');
  const names = ['Ada', 'Grace', 'Linus'];
  /** @type {Page[]} */
  const pages = [];
  /** @type {string[]} */
  const identities = [];

  before(async () => {
    server = await startServer('meeting');
    browser = await launchBrowser();
    for (const name of names) {
      const page = await newPage(browser, `meeting-${name.toLowerCase()}`);
      pages.push(page);
      identities.push(await joinWithApp(page, server, room, name));
    }
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('each participant sees the two other cameras decoding', async () => {
    await Promise.all(pages.map((page) => waitForFramesDecodedRising(page, REMOTE_CAMERA_VIDEOS, { count: 2 })));
  });

  test('each participant receives audio from the two others', async () => {
    await Promise.all(pages.map((page) => waitForAudioPacketsRising(page, REMOTE_AUDIO, { count: 2 })));
  });

  test('remote tiles are labelled with the participant names', async () => {
    for (const [i, page] of pages.entries()) {
      const others = names.filter((_, j) => j !== i).sort();
      const labels = await page
        .locator('.tile[data-source="camera"]:not([data-local]) .name')
        .allTextContents();
      assert.deepEqual(labels.sort(), others);
    }
  });

  test('muting the microphone and turning off the camera show on the others’ tiles', async () => {
    const [viewer, muter] = pages;
    const tileSelector = `.tile[data-source="camera"][data-identity="${identities[1]}"]`;
    const tile = viewer.locator(tileSelector);
    /** @param {boolean} muted */
    const videoMuted = (muted) =>
      viewer.waitForFunction(
        ([sel, muted]) => document.querySelector(sel)?.classList.contains('video-muted') === muted,
        /** @type {const} */ ([tileSelector, muted]),
        { timeout: 5_000 },
      );

    await muter.getByRole('button', { name: 'Mute microphone' }).click();
    await muter.getByRole('button', { name: 'Turn off camera' }).click();
    await tile.locator('.mic-state').waitFor({ state: 'visible', timeout: 5_000 });
    await videoMuted(true);

    await muter.getByRole('button', { name: 'Unmute microphone' }).click();
    await muter.getByRole('button', { name: 'Turn on camera' }).click();
    await tile.locator('.mic-state').waitFor({ state: 'hidden', timeout: 5_000 });
    await videoMuted(false);
    await waitForFramesDecodedRising(viewer, `${tileSelector} video[data-track-sid]`);
  });

  test('a shared screen appears as its own tile for the others', async () => {
    const [sharer, ...viewers] = pages;
    await sharer.getByRole('button', { name: 'Share screen' }).click();
    await sharer.getByRole('button', { name: 'Stop sharing' }).waitFor();
    await Promise.all(viewers.map((page) => waitForFramesDecodedRising(page, REMOTE_SCREEN_VIDEOS)));
    for (const page of viewers) {
      const identity = await page.locator(REMOTE_SCREEN_VIDEOS).getAttribute('data-identity');
      assert.equal(identity, identities[0]);
    }
  });

  test('stopping the share removes the screen tile for the others', async () => {
    const [sharer, ...viewers] = pages;
    await sharer.getByRole('button', { name: 'Stop sharing' }).click();
    await Promise.all(
      viewers.map((page) => page.locator('.tile[data-source="screen"]').waitFor({ state: 'detached', timeout: 10_000 })),
    );
  });

  test('a participant who leaves disappears from the others within 5 s', async () => {
    const leaver = pages[2];
    const leaverIdentity = identities[2];
    await leaver.getByRole('button', { name: 'Leave' }).click();
    await leaver.getByText('You left the meeting').waitFor();
    await leaver.getByRole('button', { name: 'Rejoin' }).waitFor();
    await Promise.all(
      pages.slice(0, 2).map((page) =>
        page.locator(`.tile[data-identity="${leaverIdentity}"]`).first().waitFor({ state: 'detached', timeout: 5_000 }),
      ),
    );
    for (const page of pages.slice(0, 2)) {
      await waitForFramesDecodedRising(page, REMOTE_CAMERA_VIDEOS, { count: 1 });
    }
  });

  test('the last one left sees and hears a newcomer on the m-lines of those who left', async () => {
    // Being alone empties the subscriber connection; it must still carry later arrivals,
    // and they take the m-lines the others' tracks left instead of growing the connection.
    await pages[1].getByRole('button', { name: 'Leave' }).click();
    await pages[0].locator(REMOTE_CAMERA_VIDEOS).waitFor({ state: 'detached', timeout: 5_000 });
    const mLines = () =>
      pages[0].evaluate(() => /** @type {any} */ (window).moimRoom.subscriberPc.getTransceivers().length);
    const before = await mLines();
    const newcomer = await newPage(browser, 'meeting-newcomer');
    await joinWithApp(newcomer, server, room, 'Margaret');
    await waitForFramesDecodedRising(newcomer, REMOTE_CAMERA_VIDEOS, { count: 1 });
    await waitForFramesDecodedRising(pages[0], REMOTE_CAMERA_VIDEOS, { count: 1 });
    await waitForAudioPacketsRising(pages[0], REMOTE_AUDIO, { count: 1 });
    assert.equal(await mLines(), before, 'the newcomer took freed m-lines');
  });
});
