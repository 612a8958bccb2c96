// Shared setup for the browser end-to-end tests and benchmarks: starts the `moim` binary on
// free loopback ports, mints tokens with it, launches Debian's Chromium with fake devices, and
// reads WebRTC statistics from pages.

import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

/** @typedef {import('playwright-core').Browser} Browser */
/** @typedef {import('playwright-core').BrowserContext} BrowserContext */
/** @typedef {import('playwright-core').Page} Page */

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const RESULTS_DIR = path.join(REPO_ROOT, 'tests/e2e/results');
export const MOIM_BIN = process.env.MOIM_BIN
  ? path.resolve(process.env.MOIM_BIN)
  : path.join(REPO_ROOT, 'target/release/moim');

/**
 * Fake camera, microphone and screen (getDisplayMedia also needs both fake flags), no
 * background traffic, loopback candidates allowed so that media stays on 127.0.0.1.
 */
export const CHROMIUM_ARGS = [
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--allow-loopback-in-peer-connection',
];

/** Viewport sizes the screenshots are taken at: a laptop, and a phone held upright. */
export const DESKTOP = { width: 1280, height: 720 };
export const PHONE = { width: 390, height: 844 };

/** Remote camera videos in the meeting app (the self-view is marked `data-local`). */
export const REMOTE_CAMERA_VIDEOS = '.tile[data-source="camera"]:not([data-local]) video[data-track-sid]';
/** Remote screen-share videos in the meeting app. */
export const REMOTE_SCREEN_VIDEOS = '.tile[data-source="screen"]:not([data-local]) video[data-track-sid]';
/** Remote audio elements in the meeting app. */
export const REMOTE_AUDIO = 'audio[data-track-sid]';

/**
 * @typedef {object} Server
 * @property {string} url http base, e.g. `http://127.0.0.1:41234`
 * @property {number} httpPort
 * @property {number} udpPort
 * @property {number} rtmpPort where encoders publish (`rtmp://127.0.0.1:PORT/live/{token}`)
 * @property {number} pid
 * @property {string} logFile
 * @property {string} recordingsDir where it writes server recordings
 * @property {() => Promise<void>} stop
 * @property {() => Promise<void>} crash kills it with SIGKILL, as a crash would
 */

/**
 * A self-signed certificate for `ip`, made in `dir`, as an operator's would be for their
 * domain: its PEM files.
 * @param {string} dir
 * @param {string} ip
 * @returns {{ cert: string, key: string }}
 */
export function selfSignedCertificate(dir, ip) {
  fs.mkdirSync(dir, { recursive: true });
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${ip}`,
    '-addext', `subjectAltName=IP:${ip}`,
  ], { stdio: 'pipe' });
  return { cert, key };
}

/**
 * The status `url` answers with; over HTTPS the test's own certificate is not checked.
 * @param {string} url
 * @returns {Promise<number>}
 */
async function healthStatus(url) {
  if (!url.startsWith('https:')) return (await fetch(url)).status;
  return new Promise((resolve, reject) => {
    https.get(url, { rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

/**
 * Starts `moim serve` on free loopback ports and waits until `/healthz` answers 200. A port
 * found free can be taken by a server of another test file before this one binds it: the
 * server then exits at once, and it is started again on other ports (three times at most).
 * @param {string} name names the log file under tests/e2e/results/
 * @param {{ host?: string, env?: Record<string, string> }} [options] `host`: listen on this
 *   address instead of loopback (a lab network's, `lab.mjs`), development mode exposed to
 *   it; `env`: more settings (`MOIM_*` variables)
 * @returns {Promise<Server>}
 */
export async function startServer(name, options = {}) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServerOnce(name, options);
    } catch (err) {
      // What the server wrote before it exited reaches its log a moment later.
      await delay(200);
      const log = path.join(RESULTS_DIR, `${name}-server.log`);
      const taken = fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('Address already in use');
      if (!taken || attempt >= 3) throw err;
    }
  }
}

/**
 * One try of {@link startServer}.
 * @param {string} name
 * @param {{ host?: string, env?: Record<string, string> }} options
 * @returns {Promise<Server>}
 */
async function startServerOnce(name, options) {
  const host = options.host ?? '127.0.0.1';
  if (!fs.existsSync(MOIM_BIN)) {
    throw new Error(
      `The server binary ${MOIM_BIN} does not exist. Build it with \`cargo build --release\` ` +
        'or point MOIM_BIN at it.',
    );
  }
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const httpPort = await freeTcpPort();
  const udpPort = await freeUdpPort();
  const rtmpPort = await freeTcpPort();
  const logFile = path.join(RESULTS_DIR, `${name}-server.log`);
  const recordingsDir = path.join(RESULTS_DIR, `${name}-recordings`);
  fs.rmSync(recordingsDir, { recursive: true, force: true });
  const broadcastsDir = path.join(RESULTS_DIR, `${name}-broadcasts`);
  const dataDir = path.join(RESULTS_DIR, `${name}-data`);
  fs.rmSync(dataDir, { recursive: true, force: true });
  const log = fs.createWriteStream(logFile);
  await new Promise((resolve) => log.once('open', resolve));
  const ports = ['--http-port', String(httpPort), '--udp-port', String(udpPort), '--rtmp-port', String(rtmpPort), '--tcp-port', '0'];
  /** @type {Record<string, string>} */
  const addresses =
    host === '127.0.0.1'
      ? { MOIM_TURN_ADDR: `${host}:0` }
      : {
          MOIM_TURN_ADDR: `${host}:0`,
          MOIM_HTTP_ADDR: `${host}:${httpPort}`,
          MOIM_UDP_ADDR: `${host}:${udpPort}`,
          MOIM_TCP_ADDR: `${host}:0`,
          MOIM_RTMP_ADDR: `${host}:${rtmpPort}`,
          MOIM_EXPOSE_DEV_MODE: '1',
        };
  const child = spawn(MOIM_BIN, ['serve', ...ports], {
    cwd: REPO_ROOT,
    env: {
      RUST_LOG: 'info',
      ...process.env,
      ...addresses,
      ...options.env,
      MOIM_RECORDINGS_DIR: recordingsDir,
      MOIM_BROADCASTS_DIR: broadcastsDir,
      MOIM_DATA_DIR: dataDir,
      ...(options.env?.MOIM_DATA_DIR ? { MOIM_DATA_DIR: options.env.MOIM_DATA_DIR } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  /** @type {number | null} */
  let exitCode = null;
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exitCode = code ?? (signal ? 128 : 0);
      resolve(undefined);
    });
  });
  // With a certificate the HTTP port speaks only HTTPS.
  const url = `${options.env?.MOIM_TLS_CERT ? 'https' : 'http'}://${host}:${httpPort}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exitCode !== null) {
      throw new Error(`moim serve exited with ${exitCode} before it was healthy; see ${logFile}`);
    }
    try {
      if ((await healthStatus(`${url}/healthz`)) === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moim serve did not answer ${url}/healthz within 30 s; see ${logFile}`);
    }
    await delay(100);
  }
  return {
    url,
    httpPort,
    udpPort,
    rtmpPort,
    pid: /** @type {number} */ (child.pid),
    logFile,
    recordingsDir,
    crash: async () => {
      if (exitCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
    stop: async () => {
      if (exitCode === null) {
        child.kill('SIGTERM');
        const killed = await Promise.race([exited.then(() => true), delay(5_000).then(() => false)]);
        if (!killed) {
          child.kill('SIGKILL');
          await exited;
        }
      }
      // Its ffmpeg children may outlive it a moment and still write to the inherited pipes.
      child.stdout.unpipe(log).destroy();
      child.stderr.unpipe(log).destroy();
      log.end();
    },
  };
}

/**
 * Mints an access token with `moim token`.
 * @param {{ room: string, identity: string, name?: string, role?: 'host' | 'viewer' }} claims
 * @returns {Promise<string>}
 */
export async function mintToken({ room, identity, name, role }) {
  const args = ['token', '--room', room, '--identity', identity];
  if (name) args.push('--name', name);
  if (role) args.push(`--${role}`);
  const { stdout } = await promisify(execFile)(MOIM_BIN, args, { cwd: REPO_ROOT });
  const token = stdout.trim().split('\n').pop()?.trim() ?? '';
  if (token.split('.').length !== 3) throw new Error(`moim token printed no JWT: ${stdout}`);
  return token;
}

/**
 * @param {string[]} [extraArgs] more Chromium flags (e.g. a file as the fake camera)
 * @returns {Promise<Browser>}
 */
export function launchBrowser(extraArgs = []) {
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: [...CHROMIUM_ARGS, ...extraArgs] });
}

/**
 * A page in a fresh context (its own cookies and storage, like a separate browser). Page
 * errors and console errors are copied into the results folder.
 * @param {Browser} browser
 * @param {string} label names the console log file
 * @returns {Promise<Page>}
 */
export async function newPage(browser, label) {
  const context = await browser.newContext({ viewport: DESKTOP });
  const page = await context.newPage();
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const out = fs.createWriteStream(path.join(RESULTS_DIR, `${label}-console.log`));
  page.on('console', (msg) => out.write(`[${msg.type()}] ${msg.text()}\n`));
  page.on('pageerror', (err) => out.write(`[pageerror] ${err.stack ?? err.message}\n`));
  page.on('close', () => out.end());
  return page;
}

/** A room name no other test uses. */
export function uniqueRoom(prefix = 'room') {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/**
 * Opens the meeting app at `/r/{room}`, types a name, clicks "Join" and waits until the
 * meeting shows "Connected".
 * @param {Page} page
 * @param {Server} server
 * @param {string} room
 * @param {string} name
 * @param {{ cameraOff?: boolean, micOff?: boolean }} [options] switches set before joining
 * @returns {Promise<string>} the identity the page joined with
 */
export async function joinWithApp(page, server, room, name, options = {}) {
  await page.goto(`${server.url}/r/${room}`);
  await page.getByLabel('Your name').fill(name);
  if (options.cameraOff) await page.getByText('Join with camera off').click();
  if (options.micOff) await page.getByText('Join with microphone off').click();
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await page.locator('#connection-state[data-state="connected"]').waitFor({ timeout: 20_000 });
  return page.evaluate(() => /** @type {any} */ (window).moimRoom.localParticipant.identity);
}

/**
 * Opens the meeting app as a host (a minted host token in the link), clicks "Join" and
 * waits until connected.
 * @param {Page} page
 * @param {Server} server
 * @param {string} room
 * @param {string} identity
 * @param {string} name
 */
export async function joinAsHost(page, server, room, identity, name) {
  const token = await mintToken({ room, identity, name, role: 'host' });
  await page.goto(`${server.url}/r/${room}?token=${encodeURIComponent(token)}`);
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await page.locator('#connection-state[data-state="connected"]').waitFor({ timeout: 20_000 });
}

/**
 * Waits until `selector` matches `count` media elements and the inbound RTP stream behind
 * each one is advancing: `framesDecoded` (video) or `packetsReceived` (audio) larger in a
 * second sample taken about one second after the first. The stream is looked up on the
 * page's receiving peer connection: `window.moimRoom.subscriberPc` (meeting app) or
 * `window.pc` (examples).
 * @param {Page} page
 * @param {string} selector
 * @param {{ count?: number, timeout?: number, metric?: 'framesDecoded' | 'packetsReceived' }} [options]
 * @returns {Promise<number[]>} the second sample, one value per element
 */
export async function waitForMediaFlowing(page, selector, options = {}) {
  const { count = 1, timeout = 30_000, metric = 'framesDecoded' } = options;
  const deadline = Date.now() + timeout;
  /** @type {string} */
  let last = 'no sample yet';
  while (Date.now() < deadline) {
    const first = await sampleInbound(page, selector, metric);
    if (first.length === count && first.every((v) => v !== null)) {
      await delay(1_000);
      const second = await sampleInbound(page, selector, metric);
      if (
        second.length === count &&
        second.every((v, i) => v !== null && v > /** @type {number} */ (first[i]))
      ) {
        return /** @type {number[]} */ (second);
      }
      last = `${metric} went from [${first}] to [${second}]`;
    } else {
      last = `${first.length} of ${count} elements matching ${selector} have an inbound stream: [${first}]`;
    }
    await delay(250);
  }
  throw new Error(`media behind ${selector} did not keep flowing within ${timeout} ms: ${last}`);
}

/**
 * Waits until `count` videos matching `selector` keep decoding frames.
 * @param {Page} page
 * @param {string} selector
 * @param {{ count?: number, timeout?: number }} [options]
 */
export function waitForFramesDecodedRising(page, selector, options = {}) {
  return waitForMediaFlowing(page, selector, { ...options, metric: 'framesDecoded' });
}

/**
 * Waits until `count` audio elements matching `selector` keep receiving packets.
 * @param {Page} page
 * @param {string} selector
 * @param {{ count?: number, timeout?: number }} [options]
 */
export function waitForAudioPacketsRising(page, selector, options = {}) {
  return waitForMediaFlowing(page, selector, { ...options, metric: 'packetsReceived' });
}

/**
 * One value of `metric` per element matching `selector`; null where no inbound stream is found.
 * @param {Page} page
 * @param {string} selector
 * @param {'framesDecoded' | 'packetsReceived'} metric
 * @returns {Promise<(number | null)[]>}
 */
function sampleInbound(page, selector, metric) {
  return page.evaluate(
    async ([selector, metric]) => {
      const w = /** @type {any} */ (window);
      /** @type {RTCPeerConnection | null} */
      const pc = w.moimRoom?.subscriberPc ?? w.pc ?? null;
      const elements = /** @type {HTMLMediaElement[]} */ ([...document.querySelectorAll(selector)]);
      return Promise.all(
        elements.map(async (el) => {
          const stream = /** @type {MediaStream | null} */ (el.srcObject);
          const track =
            metric === 'framesDecoded' ? stream?.getVideoTracks()[0] : stream?.getAudioTracks()[0];
          const receiver = pc?.getReceivers().find((r) => r.track === track);
          if (!receiver) return null;
          const stats = await receiver.getStats();
          for (const report of stats.values()) {
            if (report.type === 'inbound-rtp') return report[metric] ?? 0;
          }
          return null;
        }),
      );
    },
    /** @type {const} */ ([selector, metric]),
  );
}

/**
 * Saves what the page shows at desktop and at phone width into the results folder
 * (`{name}-desktop.png`, `{name}-phone.png`), then restores the desktop size.
 * @param {Page} page
 * @param {string} name
 */
export async function screenshots(page, name) {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  for (const [label, size] of /** @type {const} */ ([['desktop', DESKTOP], ['phone', PHONE]])) {
    await page.setViewportSize(size);
    // Layout follows the size through resize observers; let it settle.
    await delay(300);
    await page.screenshot({ path: path.join(RESULTS_DIR, `${name}-${label}.png`) });
  }
  await page.setViewportSize(DESKTOP);
}

/** @param {number} ms */
export function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** @returns {Promise<number>} */
export function freeTcpPort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {net.AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
  });
}

/** @returns {Promise<number>} */
function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    sock.once('error', reject);
    sock.bind(0, '127.0.0.1', () => {
      const { port } = sock.address();
      sock.close(() => resolve(port));
    });
  });
}
