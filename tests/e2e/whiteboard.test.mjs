// The whiteboard in the web app: strokes appear for others while being drawn, two people
// drawing at once end up with identical boards (compared as exported SVG), a late joiner
// and a reconnecting participant get the board, undo, clear, the pointer, PNG export.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { delay, joinAsHost, joinWithApp, launchBrowser, newPage, startServer, uniqueRoom } from './harness.mjs';

/** @typedef {import('./harness.mjs').Page} Page */

/**
 * Draws one stroke through `points` (fractions of the board's width and height).
 * @param {Page} page
 * @param {[number, number][]} points
 * @param {{ keepDown?: boolean }} [options]
 */
async function draw(page, points, options = {}) {
  const box = await page.locator('#whiteboard canvas').boundingBox();
  assert.ok(box, 'the board is shown');
  /** @param {[number, number]} p */
  const at = ([fx, fy]) => /** @type {[number, number]} */ ([box.x + fx * box.width, box.y + fy * box.height]);
  await page.mouse.move(...at(points[0]));
  await page.mouse.down();
  for (const p of points.slice(1)) await page.mouse.move(...at(p), { steps: 8 });
  if (!options.keepDown) await page.mouse.up();
}

/**
 * The board's strokes in a page's client library.
 * @param {Page} page
 * @returns {Promise<{ by: string, done: boolean, points: number[] }[]>}
 */
function strokes(page) {
  return page.evaluate(() => /** @type {any} */ (window).moimRoom.whiteboard.strokes);
}

/**
 * Waits until a page's board holds `n` finished strokes.
 * @param {Page} page
 * @param {number} n
 */
async function settled(page, n) {
  await page.waitForFunction((n) => {
    const all = /** @type {any} */ (window).moimRoom.whiteboard.strokes;
    return all.length === n && all.every((/** @type {any} */ s) => s.done);
  }, n, { timeout: 10_000 }).catch(async (err) => {
    const now = (await strokes(page)).map((s) => `${s.by}:${s.done ? 'done' : 'drawing'}`);
    throw new Error(`expected ${n} finished strokes, the board has [${now.join(', ')}]: ${err.message}`);
  });
}

/**
 * Downloads the board through a button and returns the file.
 * @param {Page} page
 * @param {'svg' | 'png'} kind
 */
async function exported(page, kind) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator(`#board-${kind}`).click()]);
  const file = await download.path();
  assert.ok(file);
  return readFile(file);
}

describe('whiteboard in the web app', () => {
  /** @type {import('./harness.mjs').Server} */
  let server;
  /** @type {import('./harness.mjs').Browser} */
  let browser;
  /** @type {Page} */
  let ada;
  /** @type {Page} */
  let grace;
  const room = uniqueRoom('board');

  before(async () => {
    server = await startServer('whiteboard');
    browser = await launchBrowser();
    ada = await newPage(browser, 'board-ada');
    ada.on('dialog', (dialog) => dialog.accept());
    await joinAsHost(ada, server, room, 'ada', 'Ada');
    grace = await newPage(browser, 'board-grace');
    await joinWithApp(grace, server, room, 'Grace');
    for (const page of [ada, grace]) await page.getByRole('button', { name: 'Whiteboard' }).click();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('a stroke appears for others while it is being drawn', async () => {
    await draw(ada, [[0.1, 0.1], [0.2, 0.15], [0.3, 0.2]], { keepDown: true });
    await delay(300);
    const seen = await strokes(grace);
    assert.equal(seen.length, 1);
    assert.equal(seen[0].done, false, 'the pen is still down');
    assert.ok(seen[0].points.length > 4, `points so far: ${seen[0].points.length}`);
    await ada.mouse.up();
    await settled(grace, 1);
  });

  test('two people drawing at once end up with identical boards', async () => {
    await ada.locator('[data-color="#e53935"]').click();
    await grace.locator('[data-color="#1e88e5"]').click();
    await Promise.all([
      (async () => {
        for (let i = 0; i < 3; i++) await draw(ada, [[0.1, 0.3 + i * 0.1], [0.5, 0.35 + i * 0.1], [0.9, 0.3 + i * 0.1]]);
      })(),
      (async () => {
        for (let i = 0; i < 3; i++) await draw(grace, [[0.2 + i * 0.1, 0.9], [0.25 + i * 0.1, 0.5], [0.3 + i * 0.1, 0.1]]);
      })(),
    ]);
    await settled(ada, 7);
    await settled(grace, 7);
    const [a, g] = [String(await exported(ada, 'svg')), String(await exported(grace, 'svg'))];
    assert.equal(a, g, 'the same SVG from both');
    assert.equal(a.match(/stroke="#e53935"/g)?.length, 3);
    assert.equal(a.match(/stroke="#1e88e5"/g)?.length, 3);
  });

  test('a late joiner receives the board', async () => {
    const linus = await newPage(browser, 'board-linus');
    await joinWithApp(linus, server, room, 'Linus');
    await linus.getByRole('button', { name: 'Whiteboard' }).click();
    await settled(linus, 7);
    assert.equal(String(await exported(linus, 'svg')), String(await exported(ada, 'svg')));
    await linus.close();
  });

  test('undo takes back your own stroke; only hosts clear', async () => {
    await grace.locator('#board-undo').click();
    await settled(ada, 6);
    const left = await strokes(ada);
    assert.equal(left.filter((s) => s.by !== 'ada').length, 2, 'one of grace’s strokes went');
    assert.equal(await grace.locator('#board-clear').isVisible(), false);
    await ada.locator('#board-clear').click();
    await settled(grace, 0);
  });

  test('the board survives a reconnect', async () => {
    await draw(grace, [[0.4, 0.4], [0.6, 0.6]]);
    await settled(ada, 1);
    await grace.evaluate(() => /** @type {any} */ (window).moimRoom.signal.socket.close());
    await grace.locator('#connection-state[data-state="reconnecting"]').waitFor({ timeout: 10_000 });
    await grace.locator('#connection-state[data-state="connected"]').waitFor({ timeout: 20_000 });
    await draw(ada, [[0.1, 0.8], [0.2, 0.8]]);
    await settled(grace, 2);
    assert.equal(String(await exported(grace, 'svg')), String(await exported(ada, 'svg')));
  });

  test('others see your pointer; the board exports as PNG', async () => {
    await ada.locator('[data-tool="pointer"]').click();
    const box = await ada.locator('#whiteboard canvas').boundingBox();
    assert.ok(box);
    await ada.mouse.move(box.x + box.width / 2, box.y + box.height / 2, { steps: 4 });
    await grace.locator('.board-pointer', { hasText: 'Ada' }).waitFor({ timeout: 5_000 });
    const png = await exported(grace, 'png');
    assert.deepEqual([...png.subarray(1, 4)], [...Buffer.from('PNG')]);
    assert.ok(png.length > 1000, `${png.length} bytes`);
  });
});
