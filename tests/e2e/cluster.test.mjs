// Three nodes share a real Redis; three people open the meeting link on three different
// nodes and meet in one room: each stays on the node it reached, which links itself with
// the room's node. When the room's node dies or drains (SIGTERM), the meeting comes back
// on a live node.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  MOIM_BIN,
  REMOTE_AUDIO,
  REMOTE_CAMERA_VIDEOS,
  delay,
  freeTcpPort,
  joinWithApp,
  launchBrowser,
  mintToken,
  newPage,
  startServer,
  uniqueRoom,
  waitForAudioPacketsRising,
  waitForFramesDecodedRising,
} from './harness.mjs';
import { LAB_UNAVAILABLE, createLab } from './lab.mjs';

/** Starts `redis-server` without persistence on a free port; resolves once it accepts. */
async function startRedis() {
  const port = await freeTcpPort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  for (let i = 0; ; i += 1) {
    const up = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.end();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (up) break;
    if (i > 100) throw new Error('redis-server did not start');
    await delay(50);
  }
  return { url: `redis://127.0.0.1:${port}`, stop: () => child.kill('SIGKILL') };
}

describe('a meeting across three nodes of a cluster', () => {
  /** @type {{ url: string, stop: () => void }} */
  let redis;
  /** @type {import('./harness.mjs').Server[]} */
  let nodes = [];
  /** @type {import('./harness.mjs').Browser} */
  let browser;
  /** @type {import('./harness.mjs').Page[]} */
  const pages = [];
  const room = uniqueRoom('cluster');

  before(async () => {
    ({ redis, nodes } = await startCluster('cluster'));
    browser = await launchBrowser();
    for (const [i, name] of ['Ada', 'Grace', 'Linus'].entries()) {
      const page = await newPage(browser, `cluster-${name.toLowerCase()}`);
      pages.push(page);
      await joinWithApp(page, nodes[i], room, name);
    }
  });

  after(async () => {
    await browser?.close();
    for (const node of nodes) await node.stop();
    redis?.stop();
  });

  test('each participant sees and hears the two others', async () => {
    await Promise.all(pages.map((page) => waitForFramesDecodedRising(page, REMOTE_CAMERA_VIDEOS, { count: 2 })));
    await Promise.all(pages.map((page) => waitForAudioPacketsRising(page, REMOTE_AUDIO, { count: 2 })));
  });

  test('each stays on the node it reached, linked with the one node hosting the room', async () => {
    const urls = await Promise.all(
      pages.map((page) => page.evaluate(() => /** @type {any} */ (window).moimRoom.signal.url)),
    );
    assert.deepEqual(urls, nodes.map(wsUrl));
    const participants = await Promise.all(nodes.map((node) => gauge(node, 'moim_participants')));
    const host = participants.indexOf(3);
    assert.ok(host >= 0, participants.join(', '));
    assert.equal(participants.filter((n) => n === 0).length, 2, participants.join(', '));
    assert.equal(await gauge(nodes[host], 'moim_span_participants{side="room"}'), 2);
    assert.equal(await gauge(nodes[host], 'moim_node_links{side="room"}'), 2);
    for (const node of nodes.filter((_, i) => i !== host)) {
      assert.equal(await gauge(node, 'moim_span_participants{side="edge"}'), 1);
      assert.equal(await gauge(node, 'moim_node_links{side="edge"}'), 1);
    }
  });
});

/**
 * Starts `redis-server` and three nodes sharing it; resolves once all three are listed.
 * @param {string} name
 */
async function startCluster(name) {
  const redis = await startRedis();
  const nodes = [];
  for (const i of [0, 1, 2]) {
    nodes.push(await startServer(`${name}-${i}`, { env: { MOIM_REDIS_URL: redis.url, MOIM_NODE_ID: `node-${i}` } }));
  }
  const admin = await nodeAdminToken();
  for (;;) {
    const res = await fetch(`${nodes[0].url}/api/nodes`, { headers: { Authorization: `Bearer ${admin}` } });
    if (res.ok && (await res.json()).nodes.length === 3) break;
    await delay(100);
  }
  return { redis, nodes };
}

/** @param {import('./harness.mjs').Server} node */
const wsUrl = (node) => `${node.url.replace('http:', 'ws:')}/rtc`;

/**
 * Places `room` (a join from a browser's own WebSocket to the first node, which stays until
 * the node whose room it is counts it, then leaves); the index of the node it runs on.
 * @param {import('./harness.mjs').Browser} browser
 * @param {import('./harness.mjs').Server[]} nodes
 * @param {string} room
 * @param {string} label
 */
async function placeRoom(browser, nodes, room, label) {
  const probe = await newPage(browser, `${label}-probe`);
  await probe.goto(`${nodes[0].url}/healthz`);
  const token = await mintToken({ room, identity: 'probe' });
  const reply = await probe.evaluate(
    ([url, token]) =>
      new Promise((resolve) => {
        const ws = new WebSocket(url);
        /** @type {any} */ (window).probe = ws;
        ws.onopen = () => ws.send(JSON.stringify({ type: 'join', v: 1, token, id: 'probe' }));
        ws.onmessage = (ev) => resolve(JSON.parse(ev.data));
      }),
    [wsUrl(nodes[0]), token],
  );
  assert.equal(reply.type, 'joined', JSON.stringify(reply));
  let host = -1;
  for (let i = 0; host < 0; i += 1) {
    assert.ok(i < 100, `no node counts the probe in ${room}`);
    const counts = await Promise.all(nodes.map((node) => gauge(node, 'moim_participants')));
    host = counts.indexOf(1);
    if (host < 0) await delay(50);
  }
  await probe.evaluate(() => /** @type {any} */ (window).probe.send(JSON.stringify({ type: 'leave' })));
  await probe.close();
  return host;
}

/**
 * The value of gauge `name` (with its labels, e.g. `moim_relays{direction="in"}`) on `node`.
 * @param {import('./harness.mjs').Server} node
 * @param {string} name
 */
async function gauge(node, name) {
  const metrics = await (await fetch(`${node.url}/metrics`)).text();
  const line = metrics.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}

describe('a live stream whose viewers reach other nodes than its own', () => {
  /** @type {{ url: string, stop: () => void }} */
  let redis;
  /** @type {import('./harness.mjs').Server[]} */
  let nodes = [];
  /** @type {import('./harness.mjs').Browser} */
  let browser;
  /** @type {import('./harness.mjs').Page[]} */
  const viewers = [];
  const room = uniqueRoom('relay');
  let host = -1;
  /** @type {import('./harness.mjs').Server[]} */
  let edges = [];

  before(async () => {
    ({ redis, nodes } = await startCluster('relay'));
    browser = await launchBrowser();
    host = await placeRoom(browser, nodes, room, 'relay');
    edges = nodes.filter((_, i) => i !== host);
    const studio = await newPage(browser, 'relay-studio');
    const token = await mintToken({ room, identity: 'studio', name: 'Studio' });
    await studio.goto(`${nodes[host].url}/examples/whip.html?${new URLSearchParams({ room, token, autostart: '1' })}`);
    await studio.waitForFunction(() => /** @type {any} */ (window).pc?.connectionState === 'connected', null, {
      timeout: 20_000,
    });
    // Two viewers on each of the two other nodes, as a load balancer spreads them.
    for (const [i, edge] of [...edges, ...edges].entries()) {
      const viewer = await newPage(browser, `relay-viewer-${i}`);
      viewers.push(viewer);
      const token = await mintToken({ room, identity: `viewer-${i}`, role: 'viewer' });
      await viewer.goto(`${edge.url}/examples/whep.html?${new URLSearchParams({ room, token, autostart: '1' })}`);
    }
  });

  after(async () => {
    await browser?.close();
    for (const node of nodes) await node.stop();
    redis?.stop();
  });

  test('every viewer sees and hears the stream from the node it reached', async () => {
    await Promise.all(viewers.map((viewer) => waitForFramesDecodedRising(viewer, '#video')));
    await Promise.all(viewers.map((viewer) => waitForAudioPacketsRising(viewer, '#video')));
  });

  test("the stream's node sends it once to each other node, not once per viewer", async () => {
    assert.equal(await gauge(nodes[host], 'moim_relays{direction="out"}'), 2);
    // The studio and the two relays: the viewers are on the other nodes.
    assert.equal(await gauge(nodes[host], 'moim_participants'), 3);
    for (const edge of edges) {
      assert.equal(await gauge(edge, 'moim_relays{direction="in"}'), 1);
      // Two viewers and the relay publishing into the node's mirror of the room.
      assert.equal(await gauge(edge, 'moim_participants'), 3);
    }
  });

  test('a node whose viewers all left stops relaying', async () => {
    await viewers[0].close();
    await viewers[2].close();
    const deadline = Date.now() + 30_000;
    while ((await gauge(nodes[host], 'moim_relays{direction="out"}')) !== 1) {
      assert.ok(Date.now() < deadline, 'the relay to the node without viewers did not end');
      await delay(250);
    }
    assert.equal(await gauge(edges[0], 'moim_relays{direction="in"}'), 0);
    assert.equal(await gauge(edges[1], 'moim_relays{direction="in"}'), 1);
  });

  test("the watch page on another node plays a private broadcast from that node's relay and counts every viewer",
    { timeout: 90_000 }, async () => {
      const hostToken = await mintToken({ room, identity: 'host', role: 'host' });
      const res = await fetch(`${nodes[host].url}/api/rooms/${room}/broadcasts`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${hostToken}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ source: 'studio', public: false }),
      });
      const started = await res.text();
      assert.equal(res.status, 201, started);
      const { playback } = JSON.parse(started);
      /** @type {import('./harness.mjs').Page[]} */
      const watchers = [];
      for (const [i, edge] of edges.entries()) {
        const page = await newPage(browser, `relay-watch-${i}`);
        watchers.push(page);
        await page.goto(`${edge.url}${playback.watch}`);
      }
      for (const page of watchers) {
        await until(() => page.evaluate(() => /** @type {any} */ (window).moimWatch.mode === 'WebRTC'), 30_000,
          'the watch page plays over WebRTC');
        const first = await watchFrames(page);
        await delay(1_500);
        assert.ok((await watchFrames(page)) > first, 'the watch page decodes the broadcast');
      }
      // Each node with viewers relays the stream once, whichever page they watch it on.
      assert.equal(await gauge(nodes[host], 'moim_relays{direction="out"}'), 2);
      for (const edge of edges) assert.equal(await gauge(edge, 'moim_relays{direction="in"}'), 1);
      // The count the stream's node gives every page adds up the players each node has
      // (all but its relay's publisher): WHEP players and watch pages alike.
      let everyone = 0;
      for (const edge of edges) everyone += (await gauge(edge, 'moim_participants')) - 1;
      assert.ok(everyone >= 2, `${everyone} players on the other nodes`);
      await until(async () => Number(await watchers[0].locator('#viewer-count').textContent()) === everyone, 20_000,
        `the viewer count adds up the ${everyone} viewers of every node`);
      // A count reported without a relay's token is not taken.
      const info = playback.watch.replace(`/watch/${room}`, `/watch/${room}/info`);
      const forged = await fetch(`${nodes[host].url}${info}`, { headers: { 'moim-watchers': 'forged 1000' } });
      assert.equal((await forged.json()).viewers, everyone);
      // Without the key, another node refuses the private broadcast as its own node does.
      const stranger = await fetch(`${edges[0].url}/watch/${room}/info`);
      assert.equal(stranger.status, 403);
      assert.equal((await stranger.json()).code, 'permission_denied');
      const player = await fetch(`${edges[1].url}/watch/${room}/whep`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp' },
        body: 'v=0',
      });
      assert.equal(player.status, 403);
    });
});

describe("a viewer on a slow link at another node than the stream's", { skip: LAB_UNAVAILABLE ?? false }, () => {
  /** @type {import('./lab.mjs').Lab} */
  let lab;
  /** @type {{ url: string, stop: () => void }} */
  let redis;
  /** @type {import('./harness.mjs').Server[]} */
  const nodes = [];
  /** @type {import('./harness.mjs').Browser[]} */
  const browsers = [];
  /** @type {import('./harness.mjs').Page} */
  let viewer;
  const room = uniqueRoom('layers');

  before(async () => {
    lab = await createLab(5);
    redis = await startRedis();
    const env = (/** @type {string} */ id) => ({ MOIM_REDIS_URL: redis.url, MOIM_NODE_ID: id });
    // The room's node, alone at first, so the camera's room runs there.
    nodes.push(await startServer('layers-origin', { env: env('origin') }));
    browsers.push(await launchBrowser());
    const ada = await newPage(browsers[0], 'layers-ada');
    await joinWithApp(ada, nodes[0], room, 'Ada');
    // The node the viewer reaches, on the lab's side of a link that can be slowed.
    nodes.push(await startServer('layers-edge', { host: lab.hostAddress, env: env('edge') }));
    browsers.push(await lab.launchBrowser());
    viewer = await newPage(browsers[1], 'layers-viewer');
    const token = await mintToken({ room, identity: 'viewer', role: 'viewer' });
    await viewer.goto(`${nodes[1].url}/examples/whep.html?${new URLSearchParams({ room, token, autostart: '1' })}`);
  });

  after(async () => {
    await lab?.limitDownlink(null);
    for (const browser of browsers) await browser.close();
    for (const node of nodes) await node.stop();
    redis?.stop();
    await lab?.remove();
  });

  test('gets the layer its own link carries from its node, which relays every layer once', { timeout: 90_000 }, async () => {
    await waitForFramesDecodedRising(viewer, '#video');
    assert.equal(await gauge(nodes[0], 'moim_relays{direction="out"}'), 1);
    // A player is shown the layer for 360 lines while its link carries it, as on the
    // room's node.
    await until(async () => (await playerVideo(viewer)).height === 360, 30_000, 'the 360-line layer');
    await lab.limitDownlink(300);
    await until(async () => {
      const { height } = await playerVideo(viewer);
      return height > 0 && height < 360;
    }, 30_000, 'a smaller layer at 300 kbit/s');
    const first = await playerVideo(viewer);
    await delay(2_000);
    const second = await playerVideo(viewer);
    assert.ok(second.decoded > first.decoded, `the smaller layer keeps moving (${first.decoded} → ${second.decoded})`);
    console.log(`300 kbit/s at the relaying node: ${second.height} lines`);
    await lab.limitDownlink(null);
    await until(async () => (await playerVideo(viewer)).height === 360, 60_000, 'back to 360 lines');
  });
});

/**
 * The height and decoded frames of the video a WHEP example page receives.
 * @param {import('./harness.mjs').Page} page
 */
function playerVideo(page) {
  return page.evaluate(async () => {
    /** @type {RTCPeerConnection | null} */
    const pc = /** @type {any} */ (window).pc;
    const out = { height: 0, decoded: 0 };
    (await pc?.getStats())?.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') out.height = s.frameHeight ?? 0, out.decoded = s.framesDecoded ?? 0;
    });
    return out;
  });
}

/**
 * Waits until `check` holds.
 * @param {() => Promise<boolean>} check
 * @param {number} timeout
 * @param {string} what
 */
async function until(check, timeout, what) {
  const deadline = Date.now() + timeout;
  while (!(await check().catch(() => false))) {
    assert.ok(Date.now() < deadline, `${what}: not within ${timeout} ms`);
    await delay(250);
  }
}

/**
 * Frames the watch page's peer connection has decoded.
 * @param {import('./harness.mjs').Page} page
 */
function watchFrames(page) {
  return page.evaluate(async () => {
    /** @type {RTCPeerConnection | null} */
    const pc = /** @type {any} */ (window).moimWatch.pc;
    let frames = 0;
    (await pc?.getStats())?.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') frames = s.framesDecoded ?? 0;
    });
    return frames;
  });
}

/**
 * Two people meet in a room whose node then goes (`end`); both must be back in the room on
 * a live node and see each other again.
 * @param {string} label
 * @param {string} what
 * @param {(node: import('./harness.mjs').Server) => Promise<void>} end
 */
function losingTheRoomsNode(label, what, end) {
  describe(`a meeting whose node ${what}`, () => {
    /** @type {{ url: string, stop: () => void }} */
    let redis;
    /** @type {import('./harness.mjs').Server[]} */
    let nodes = [];
    /** @type {import('./harness.mjs').Browser} */
    let browser;
    /** @type {import('./harness.mjs').Page[]} */
    const pages = [];
    const room = uniqueRoom(label);
    let host = -1;

    before(async () => {
      ({ redis, nodes } = await startCluster(label));
      browser = await launchBrowser();
      host = await placeRoom(browser, nodes, room, label);
      // Two people open the link on the two other nodes (their load balancer's choice).
      for (const [i, name] of ['Ada', 'Grace'].entries()) {
        const page = await newPage(browser, `${label}-${name.toLowerCase()}`);
        pages.push(page);
        await joinWithApp(page, nodes[(host + 1 + i) % 3], room, name);
      }
      await Promise.all(pages.map((page) => waitForFramesDecodedRising(page, REMOTE_CAMERA_VIDEOS)));
    });

    after(async () => {
      await browser?.close();
      for (const node of nodes) await node.stop();
      redis?.stop();
    });

    test('both are back in the room on a live node and see each other again', async () => {
      const sid = () => /** @type {any} */ (window).moimRoom.localParticipant.sid;
      const before = await Promise.all(pages.map((page) => page.evaluate(sid)));
      const started = Date.now();
      const ended = end(nodes[host]);
      const back = await Promise.all(
        pages.map(async (page, i) => {
          // Back in the room: joined again (a new participant) and connected.
          await page.waitForFunction(
            (old) => {
              const room = /** @type {any} */ (window).moimRoom;
              const state = document.querySelector('#connection-state')?.getAttribute('data-state');
              return room.localParticipant.sid && room.localParticipant.sid !== old && state === 'connected';
            },
            before[i],
            { timeout: 20_000 },
          );
          const connected = Date.now() - started;
          await waitForFramesDecodedRising(page, REMOTE_CAMERA_VIDEOS, { timeout: 20_000 });
          return { connected, seeing: Date.now() - started };
        }),
      );
      await ended;
      const urls = await Promise.all(pages.map((page) => page.evaluate(() => /** @type {any} */ (window).moimRoom.signal.url)));
      assert.ok(urls.every((url) => url !== wsUrl(nodes[host])), urls.join(', '));
      console.log(
        `${label}: back in the room after ${back.map((b) => b.connected).join(' and ')} ms, ` +
          `seeing each other after ${back.map((b) => b.seeing).join(' and ')} ms`,
      );
    });
  });
}

losingTheRoomsNode('failover', 'dies', (node) => node.crash());
losingTheRoomsNode('drain', 'drains', (node) => node.stop());

/**
 * A token for the node API, from `moim token --node-admin`.
 * @returns {Promise<string>}
 */
function nodeAdminToken() {
  return new Promise((resolve, reject) => {
    execFile(MOIM_BIN, ['token', '--node-admin', '--identity', 'ops'], (err, stdout) =>
      err ? reject(err) : resolve(stdout.trim()),
    );
  });
}
