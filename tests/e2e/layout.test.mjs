// The meeting as people see it: whole pictures in the grid, pinning, speaker and grid
// views, the whiteboard beside the videos, the controls on a phone, who a chat message goes
// to, the poll form, and where a server recording's files are. Each screen is saved at
// desktop and phone width in the results folder.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  PHONE,
  REMOTE_CAMERA_VIDEOS,
  RESULTS_DIR,
  delay,
  joinAsHost,
  joinWithApp,
  launchBrowser,
  newPage,
  screenshots,
  startServer,
  uniqueRoom,
  waitForFramesDecodedRising,
} from './harness.mjs';

/** @typedef {import('./harness.mjs').Page} Page */

describe('the meeting as people see it', () => {
  /** @type {import('./harness.mjs').Server} */
  let server;
  /** @type {import('./harness.mjs').Browser} */
  let browser;
  /** @type {Page} */
  let ada;
  /** @type {Page} */
  let grace;

  before(async () => {
    server = await startServer('layout');
    browser = await launchBrowser();
    const room = uniqueRoom('layout');
    ada = await newPage(browser, 'layout-ada');
    await joinAsHost(ada, server, room, 'ada', 'Ada');
    grace = await newPage(browser, 'layout-grace');
    await joinWithApp(grace, server, room, 'Grace');
    const linus = await newPage(browser, 'layout-linus');
    await joinWithApp(linus, server, room, 'Linus');
    await waitForFramesDecodedRising(ada, REMOTE_CAMERA_VIDEOS, { count: 2 });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('grid tiles are 16:9 and show the whole picture, with or without a side panel', async () => {
    for (const panel of [null, 'Chat']) {
      if (panel) await ada.getByRole('button', { name: panel, exact: true }).click();
      await delay(300);
      const tiles = await tileShapes(ada, '.cameras > .tile');
      assert.equal(tiles.length, 3);
      for (const tile of tiles) {
        assert.ok(Math.abs(tile.ratio - 16 / 9) < 0.06, `a tile of ${tile.width}×${tile.height}`);
        assert.equal(tile.fit, 'contain', 'nothing cropped');
      }
    }
    await screenshots(ada, 'meeting-grid-with-chat');
    await ada.getByRole('button', { name: 'Chat', exact: true }).click();
    await screenshots(ada, 'meeting-grid');
  });

  test('a pinned person is shown large, whoever speaks, until unpinned', async () => {
    await ada.locator('.tile[data-identity]:not([data-local])', { hasText: 'Grace' }).hover();
    await ada.getByRole('button', { name: 'Pin Grace' }).click();
    const pinned = ada.locator('.screens .tile', { hasText: 'Grace' });
    await pinned.waitFor({ timeout: 5_000 });
    await delay(2_000);
    assert.equal(await pinned.count(), 1, 'still large after the others spoke');
    const large = await pinned.boundingBox();
    const small = await ada.locator('.cameras .tile').first().boundingBox();
    assert.ok(large && small && large.width > 2 * small.width, 'the pinned tile is the large one');
    await screenshots(ada, 'pinned');
    await ada.getByRole('button', { name: 'Unpin Grace' }).click();
    await pinned.waitFor({ state: 'detached', timeout: 5_000 });
  });

  test('speaker view and grid view switch back and forth', async () => {
    await ada.getByRole('button', { name: 'Speaker view' }).click();
    await ada.locator('.screens .tile').waitFor({ timeout: 5_000 });
    await screenshots(ada, 'speaker-view');
    await ada.getByRole('button', { name: 'Grid view' }).click();
    await ada.locator('.screens .tile').waitFor({ state: 'detached', timeout: 5_000 });
    assert.equal(await ada.locator('.cameras > .tile').count(), 3);
  });

  test('the whiteboard keeps every video in a strip beside it', async () => {
    await ada.getByRole('button', { name: 'Whiteboard' }).click();
    await ada.locator('#whiteboard').waitFor();
    // A video paused for bandwidth (a busy machine's estimate dips) shows its tile's
    // avatar until it resumes.
    for (const video of await ada.locator(REMOTE_CAMERA_VIDEOS).all()) {
      await video.waitFor({ state: 'visible', timeout: 30_000 });
    }
    await waitForFramesDecodedRising(ada, REMOTE_CAMERA_VIDEOS, { count: 2 });
    const board = await ada.locator('#whiteboard').boundingBox();
    const strip = await ada.locator('.stage').boundingBox();
    assert.ok(board && strip && strip.x >= board.x + board.width - 1, 'the strip is beside the board');
    await screenshots(ada, 'whiteboard-with-videos');
    await ada.getByRole('button', { name: 'Whiteboard' }).click();
  });

  test('on a phone every control is on the screen, the rest under More', async () => {
    await grace.setViewportSize(PHONE);
    await delay(300);
    const shown = await grace.locator('.controls > .control:visible').all();
    assert.ok(shown.length >= 4, `${shown.length} controls in the bar`);
    for (const control of shown) {
      const box = await control.boundingBox();
      const label = await control.getAttribute('aria-label');
      assert.ok(box && box.x >= 0 && box.x + box.width <= PHONE.width, `${label} is on the screen`);
    }
    for (const name of ['Mute microphone', 'Leave', 'More options']) {
      assert.ok(await grace.getByRole('button', { name }).isVisible(), `${name} in the bar`);
    }
    await grace.getByRole('button', { name: 'More options' }).click();
    for (const name of ['Whiteboard', 'Participants', 'Speaker view']) {
      const box = await grace.getByRole('button', { name }).boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= PHONE.width, `${name} under More, on the screen`);
    }
    await grace.screenshot({ path: path.join(RESULTS_DIR, 'more-controls-phone.png') });
    await grace.keyboard.press('Escape');
    await grace.getByRole('button', { name: 'Whiteboard' }).waitFor({ state: 'hidden' });
    await grace.getByRole('button', { name: 'More options' }).click();
    await grace.locator('.stage').click({ position: { x: 5, y: 5 } });
    await grace.getByRole('button', { name: 'Whiteboard' }).waitFor({ state: 'hidden' });
    await grace.getByRole('button', { name: 'More options' }).click();
    await grace.getByRole('button', { name: 'Participants' }).click();
    await grace.locator('#participants-panel').waitFor();
    await grace.screenshot({ path: path.join(RESULTS_DIR, 'participants-phone.png') });
    await grace.getByRole('button', { name: 'More options' }).click();
    await grace.getByRole('button', { name: 'Participants' }).click();
    await screenshots(grace, 'controls');
  });

  test('every tile shows how well that person’s connection is; the network panel your own numbers', async () => {
    const bars = ada.locator('.tile[data-identity] .quality:not([hidden])');
    await ada.waitForFunction(() => document.querySelectorAll('.tile[data-identity] .quality:not([hidden])').length === 3, null, { timeout: 15_000 });
    for (const label of await bars.evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')))) {
      assert.match(label ?? '', /^Connection: (excellent|good|poor)$/);
    }
    await ada.locator('#network-button').click();
    const panel = ada.locator('#network-panel');
    await panel.waitFor();
    await ada.waitForFunction(() => /\d+ ms/.test(document.querySelector('[data-stat="rtt"]')?.textContent ?? ''), null, { timeout: 10_000 });
    assert.match(await panel.locator('[data-stat="up"]').innerText(), /^\d+ kbit\/s$/);
    assert.match(await panel.locator('[data-stat="down"]').innerText(), /^\d+ kbit\/s$/);
    assert.equal(await panel.locator('[data-stat="transport"]').innerText(), 'UDP');
    assert.match(await panel.locator('.network-quality').innerText(), /^Your connection is (excellent|good|poor)\.$/);
    await screenshots(ada, 'network-panel');
    await ada.locator('#network-button').click();
    await panel.waitFor({ state: 'hidden' });
  });

  test('Ctrl+D mutes and unmutes the microphone, Ctrl+E the camera', async () => {
    await ada.keyboard.press('Control+d');
    await ada.getByRole('button', { name: 'Unmute microphone' }).waitFor();
    await ada.keyboard.press('Control+d');
    await ada.getByRole('button', { name: 'Mute microphone' }).waitFor();
    await ada.keyboard.press('Control+e');
    await ada.getByRole('button', { name: 'Turn on camera' }).waitFor();
    await ada.keyboard.press('Control+e');
    await ada.getByRole('button', { name: 'Turn off camera' }).waitFor();
  });

  test('a guest raises a hand in a meeting and the host sees it on the tile', async () => {
    await grace.getByRole('button', { name: 'Raise hand' }).click();
    const hand = ada.locator('.tile', { hasText: 'Grace' }).locator('.hand-state');
    await hand.waitFor({ state: 'visible', timeout: 5_000 });
    await screenshots(ada, 'hand-raised');
    await grace.getByRole('button', { name: 'Lower hand' }).click();
    await hand.waitFor({ state: 'hidden', timeout: 5_000 });
  });

  test('a direct message’s recipient is plain to see, and everyone is one click away', async () => {
    await grace.getByRole('button', { name: 'Chat', exact: true }).click();
    await grace.locator('#chat-to').selectOption({ label: 'Ada' });
    await grace.getByText('Only Ada sees what you send.').waitFor();
    assert.equal(await grace.getByPlaceholder('Message Ada only').count(), 1);
    await grace.locator('#chat-input').fill('just between us');
    await grace.locator('#chat-send').click();
    await grace.locator('.chat-message.direct', { hasText: 'just between us' }).waitFor();
    await screenshots(grace, 'chat-direct');
    await grace.getByRole('button', { name: 'Send to everyone' }).click();
    assert.equal(await grace.locator('#chat-to').inputValue(), '');
    assert.ok(await grace.locator('#chat-direct').isHidden());
    assert.equal(await grace.getByPlaceholder('Message everyone').count(), 1);
    await grace.getByRole('button', { name: 'Chat', exact: true }).click();
  });

  test('the poll form’s answers box looks like its question box', async () => {
    await ada.getByRole('button', { name: 'Chat', exact: true }).click();
    await ada.locator('#poll-new').click();
    const look = (/** @type {string} */ selector) =>
      ada.locator(selector).evaluate((el) => {
        const style = getComputedStyle(el);
        return { background: style.backgroundColor, color: style.color, font: style.fontFamily, border: style.borderTopColor };
      });
    assert.deepEqual(await look('#poll-options'), await look('#poll-question'));
    await screenshots(ada, 'poll-form');
    await ada.locator('#poll-new').click();
    await ada.getByRole('button', { name: 'Chat', exact: true }).click();
  });

  test('the host who stops a server recording is shown its files and downloads one', async () => {
    await ada.getByRole('button', { name: 'Record' }).click();
    await ada.locator('#record-server').click();
    await ada.locator('#recording-indicator').waitFor();
    await delay(2_000);
    await ada.getByRole('button', { name: 'Stop recording' }).click();
    const dialog = ada.locator('#recordings-dialog');
    await dialog.waitFor({ timeout: 15_000 });
    const item = dialog.locator('.recording-item').first();
    await item.locator('[data-file$=".webm"], [data-file$=".ogg"]').first().waitFor();
    await screenshots(ada, 'recordings');
    const download = ada.waitForEvent('download');
    await item.locator('[data-file$=".webm"]').first().click();
    const saved = await (await download).path();
    assert.ok(saved, 'the file was saved');
    await dialog.getByRole('button', { name: 'Close' }).click();
  });
});

/**
 * The shape of each tile matching `selector`, and how its video fits into it.
 * @param {Page} page
 * @param {string} selector
 */
function tileShapes(page, selector) {
  return page.locator(selector).evaluateAll((tiles) =>
    tiles.map((tile) => {
      const { width, height } = tile.getBoundingClientRect();
      const video = tile.querySelector('video');
      return { width, height, ratio: width / height, fit: video ? getComputedStyle(video).objectFit : '' };
    }),
  );
}
