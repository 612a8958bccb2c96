// Benchmark: how long a new participant waits for the first remote video frame.
//
// One participant publishes in a room; ten times, a new page joins through the web app and
// we take the time from the app opening its signaling WebSocket (`room.timings`) to the first
// remote video frame presented (requestVideoFrameCallback). Loopback only.
//
//   node tests/e2e/bench-join.mjs [--joins 10]

import { parseArgs } from 'node:util';
import { joinWithApp, launchBrowser, newPage, startServer, uniqueRoom } from './harness.mjs';

const { values } = parseArgs({ options: { joins: { type: 'string', default: '10' } } });
const joins = Number(values.joins);

/** Registers a first-frame callback on every remote video as soon as it is in the page. */
function recordFirstRemoteFrame() {
  const w = /** @type {any} */ (window);
  w.firstRemoteFrameAt = null;
  const watched = new WeakSet();
  /** @param {HTMLVideoElement} video */
  const watch = (video) => {
    if (watched.has(video)) return;
    watched.add(video);
    video.requestVideoFrameCallback((now, meta) => {
      w.firstRemoteFrameAt ??= meta.presentationTime ?? now;
    });
  };
  new MutationObserver(() => {
    for (const video of document.querySelectorAll('.tile:not([data-local]) video')) {
      watch(/** @type {HTMLVideoElement} */ (video));
    }
  }).observe(document, { subtree: true, childList: true });
}

const server = await startServer('bench-join');
const browser = await launchBrowser();
try {
  const room = uniqueRoom('bench-join');
  const publisher = await newPage(browser, 'bench-join-publisher');
  await joinWithApp(publisher, server, room, 'Publisher');

  /** @type {{ fromOpen: number, fromStart: number }[]} */
  const samples = [];
  for (let i = 0; i < joins; i++) {
    const page = await newPage(browser, `bench-join-${i}`);
    await page.addInitScript(recordFirstRemoteFrame);
    await joinWithApp(page, server, room, `Joiner ${i}`);
    await page.waitForFunction(() => /** @type {any} */ (window).firstRemoteFrameAt !== null, null, {
      timeout: 30_000,
    });
    const { timings, first } = await page.evaluate(() => {
      const w = /** @type {any} */ (window);
      return { timings: w.moimRoom.timings, first: w.firstRemoteFrameAt };
    });
    const sample = { fromOpen: first - timings.signalOpen, fromStart: first - timings.signalStart };
    samples.push(sample);
    console.log(
      `join ${String(i + 1).padStart(2)}: ${sample.fromOpen.toFixed(1)} ms from WebSocket open ` +
        `(${sample.fromStart.toFixed(1)} ms from WebSocket creation)`,
    );
    await page.getByRole('button', { name: 'Leave' }).click();
    await page.context().close();
  }
  console.log(
    `median of ${samples.length}: ${median(samples.map((s) => s.fromOpen)).toFixed(1)} ms from WebSocket open, ` +
      `${median(samples.map((s) => s.fromStart)).toFixed(1)} ms from WebSocket creation`,
  );
} finally {
  await browser.close();
  await server.stop();
}

/** @param {number[]} values */
function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
