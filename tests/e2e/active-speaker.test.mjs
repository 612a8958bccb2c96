// Active speaker: the server detects who talks from the audio levels in their RTP packets
// (Chromium's fake microphone beeps) and the app marks their tile and can show them large
// (speaker view); a muted microphone stops counting.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { joinWithApp, launchBrowser, newPage, startServer, uniqueRoom } from './harness.mjs';

describe('active speaker in the web app', () => {
  /** @type {import('./harness.mjs').Server} */
  let server;
  /** @type {import('./harness.mjs').Browser} */
  let browser;
  /** @type {import('./harness.mjs').Page} */
  let ada;
  /** @type {import('./harness.mjs').Page} */
  let grace;
  let graceIdentity = '';

  before(async () => {
    server = await startServer('speaker');
    browser = await launchBrowser();
    const room = uniqueRoom('speaker');
    ada = await newPage(browser, 'speaker-ada');
    await joinWithApp(ada, server, room, 'Ada');
    grace = await newPage(browser, 'speaker-grace');
    graceIdentity = await joinWithApp(grace, server, room, 'Grace');
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('a participant whose microphone sounds is marked as speaking on the others’ screens', async () => {
    const tile = `.tile[data-source="camera"][data-identity="${graceIdentity}"]`;
    await ada.locator(`${tile}.speaking`).waitFor({ timeout: 15_000 });
    const graceSid = await grace.evaluate(() => /** @type {any} */ (window).moimRoom.localParticipant.sid);
    const speakers = await ada.evaluate(() => /** @type {any} */ (window).moimRoom.activeSpeakers);
    assert.ok(speakers.includes(graceSid), `speakers: ${speakers}`);
  });

  test('speaker view shows the latest speaker large and the grid comes back', async () => {
    const tile = `.tile[data-source="camera"][data-identity="${graceIdentity}"]`;
    await ada.getByRole('button', { name: 'Speaker view' }).click();
    await ada.locator(`.stage.presenting .screens ${tile}`).waitFor({ timeout: 5_000 });
    const big = await ada.locator(`.screens ${tile}`).boundingBox();
    const small = await ada.locator('.cameras .tile[data-local]').boundingBox();
    assert.ok(big && small && big.width > small.width * 1.5, `featured ${big?.width}px, strip ${small?.width}px`);
    await ada.getByRole('button', { name: 'Grid view' }).click();
    await ada.locator(`.cameras ${tile}`).waitFor({ timeout: 5_000 });
    assert.equal(await ada.locator('.stage.presenting').count(), 0);
  });

  test('muting the microphone ends it', async () => {
    await grace.getByRole('button', { name: 'Mute microphone' }).click();
    const graceSid = await grace.evaluate(() => /** @type {any} */ (window).moimRoom.localParticipant.sid);
    await ada.waitForFunction(
      (sid) => !(/** @type {any} */ (window).moimRoom.activeSpeakers.includes(sid)),
      graceSid,
      { timeout: 8_000 },
    );
    const tile = `.tile[data-source="camera"][data-identity="${graceIdentity}"]`;
    assert.equal(await ada.locator(`${tile}.speaking`).count(), 0);
  });
});
