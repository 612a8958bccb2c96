// The network lab: a client network that is not loopback. A network namespace is joined
// to this one by a veth pair (10.99.N.1 here, 10.99.N.2 in the namespace); a server started
// with `host: lab.hostAddress` listens on this side, a browser launched with
// `lab.launchBrowser()` runs inside the namespace, and the namespace's own iptables rules
// block what a firewall would. Needs root (as the test script runs in CI).

import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import {
  CHROMIUM_ARGS,
  REMOTE_AUDIO,
  REMOTE_CAMERA_VIDEOS,
  RESULTS_DIR,
  delay,
  joinWithApp,
  launchBrowser,
  newPage,
  uniqueRoom,
  waitForAudioPacketsRising,
  waitForFramesDecodedRising,
} from './harness.mjs';

const run = promisify(execFile);

/** Why the lab cannot run here, or null when it can (it tries a namespace once). */
export const LAB_UNAVAILABLE = (() => {
  if (process.getuid?.() !== 0) return 'the network lab needs root (network namespaces, iptables)';
  try {
    execFileSync('ip', ['netns', 'add', 'moim-lab-probe'], { stdio: 'pipe' });
    execFileSync('ip', ['netns', 'del', 'moim-lab-probe'], { stdio: 'pipe' });
    execFileSync('iptables', ['--version'], { stdio: 'pipe' });
  } catch (e) {
    return `the network lab cannot run here: ${/** @type {Error} */ (e).message}`;
  }
  return null;
})();

/**
 * Chromium flags that let pages of `url` (a lab address) use the camera and microphone, as
 * they may on localhost: over plain HTTP the origin is treated as secure; over HTTPS the
 * test's self-signed certificate is accepted (an operator's comes from a public CA).
 * @param {string} url
 */
export function trusting(url) {
  if (url.startsWith('https:')) return ['--ignore-certificate-errors'];
  return [`--unsafely-treat-insecure-origin-as-secure=${url}`];
}

/**
 * @typedef {object} Lab
 * @property {string} namespace
 * @property {string} hostAddress this side of the veth pair: where servers listen
 * @property {string} clientAddress the namespace's side
 * @property {(...args: string[]) => Promise<void>} iptables adds a rule inside the namespace
 * @property {(kbit: number | null) => Promise<void>} limitDownlink caps what reaches the
 *   namespace at `kbit` kbit/s (a token bucket, `tc tbf`, queueing up to 300 ms, dropping
 *   beyond), or lifts the cap (`null`)
 * @property {(extraArgs?: string[]) => Promise<import('playwright-core').Browser>} launchBrowser
 *   Chromium inside the namespace
 * @property {() => Promise<string>} changeAddress gives the namespace a new address
 *   (10.99.N.3) and takes the old one away, as a network change does, silently breaking
 *   every connection made from it; returns the new address
 * @property {() => Promise<void>} remove
 */

/**
 * Creates lab network `index` (1 to 250), removing what a crashed run left of it.
 * @param {number} index
 * @returns {Promise<Lab>}
 */
export async function createLab(index) {
  const namespace = `moim-lab-${index}`;
  const outside = `moimlab${index}a`;
  const inside = `moimlab${index}b`;
  const hostAddress = `10.99.${index}.1`;
  const clientAddress = `10.99.${index}.2`;
  await remove(namespace, outside);
  const ip = (/** @type {string[]} */ ...args) => run('ip', args);
  const within = (/** @type {string[]} */ ...args) => run('ip', ['netns', 'exec', namespace, ...args]);
  await ip('netns', 'add', namespace);
  await ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', inside);
  await ip('link', 'set', inside, 'netns', namespace);
  await withoutIpv6(outside, inside, within);
  await ip('addr', 'add', `${hostAddress}/24`, 'dev', outside);
  await ip('link', 'set', outside, 'up');
  await within('ip', 'addr', 'add', `${clientAddress}/24`, 'dev', inside);
  await within('ip', 'link', 'set', inside, 'up');
  await within('ip', 'link', 'set', 'lo', 'up');
  await within('ip', 'route', 'add', 'default', 'via', hostAddress);
  // Playwright starts "Chromium"; this starts it inside the namespace.
  const wrapper = path.join(RESULTS_DIR, `chromium-in-${namespace}.sh`);
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  fs.writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${namespace} /usr/bin/chromium "$@"\n`, { mode: 0o755 });
  return {
    namespace,
    hostAddress,
    clientAddress,
    iptables: async (...args) => {
      await within('iptables', ...args);
    },
    limitDownlink: async (kbit) => {
      if (kbit === null) {
        await run('tc', ['qdisc', 'del', 'dev', outside, 'root']).catch(() => {});
        return;
      }
      await run('tc', ['qdisc', 'replace', 'dev', outside, 'root', 'tbf', 'rate', `${kbit}kbit`, 'burst', '16kb', 'latency', '300ms']);
    },
    launchBrowser: (extraArgs = []) =>
      chromium.launch({ executablePath: wrapper, headless: true, args: [...CHROMIUM_ARGS, ...extraArgs] }),
    changeAddress: async () => {
      const next = `10.99.${index}.3`;
      // The new address stays when the old one (the subnet's first) goes.
      await within('sh', '-c', `echo 1 > /proc/sys/net/ipv4/conf/${inside}/promote_secondaries`);
      await within('ip', 'addr', 'add', `${next}/24`, 'dev', inside);
      await within('ip', 'addr', 'del', `${clientAddress}/24`, 'dev', inside);
      await within('ip', 'route', 'replace', 'default', 'via', hostAddress);
      return next;
    },
    remove: () => remove(namespace, outside),
  };
}

/**
 * Turns IPv6 off on both ends of a veth pair before it comes up. Otherwise the kernel adds
 * a link-local address a second or two later, and a Chromium on the host that starts
 * loading a page just then aborts it with ERR_NETWORK_CHANGED.
 * @param {string} outside
 * @param {string} inside
 * @param {(...args: string[]) => Promise<unknown>} within runs a command in the namespace
 */
async function withoutIpv6(outside, inside, within) {
  const off = (/** @type {string} */ link) => `echo 1 > /proc/sys/net/ipv6/conf/${link}/disable_ipv6`;
  // A kernel without IPv6 has nothing to turn off.
  await run('sh', ['-c', off(outside)]).catch(() => {});
  await within('sh', '-c', off(inside)).catch(() => {});
}

/**
 * Deletes a lab's namespace and its veth pairs, if they exist.
 * @param {string} namespace
 * @param {string[]} outside
 */
async function remove(namespace, ...outside) {
  for (const link of outside) await run('ip', ['link', 'del', link]).catch(() => {});
  await run('ip', ['netns', 'del', namespace]).catch(() => {});
}

/**
 * @typedef {{ protocol: string, candidateType: string, relayProtocol?: string }} LocalCandidate
 */

/**
 * The local candidate of each of the page's peer connections' selected pairs (publisher,
 * then subscriber), once both have one and `settled` holds of them (or as they are after
 * 20 s: null for one that has none). Chromium may select one pair first and move to a
 * better one once that one answers too.
 * @param {import('./harness.mjs').Page} page
 * @param {(candidates: LocalCandidate[]) => boolean} [settled]
 * @returns {Promise<(LocalCandidate | null)[]>}
 */
export async function selectedCandidates(page, settled = () => true) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const candidates = await page.evaluate(async () => {
      const room = /** @type {any} */ (window).moimRoom;
      const out = [];
      for (const pc of [room.publisherPc, room.subscriberPc]) {
        const stats = await pc.getStats();
        /** @type {any} */
        let local = null;
        stats.forEach((/** @type {any} */ s) => {
          if (s.type !== 'transport' || !s.selectedCandidatePairId) return;
          const pair = stats.get(s.selectedCandidatePairId);
          const c = stats.get(pair.localCandidateId);
          if (c) local = { protocol: c.protocol, candidateType: c.candidateType, relayProtocol: c.relayProtocol };
        });
        out.push(local);
      }
      return out;
    });
    const all = /** @type {LocalCandidate[]} */ (candidates.filter((c) => c !== null));
    if ((all.length === candidates.length && settled(all)) || Date.now() > deadline) return candidates;
    await delay(250);
  }
}

/**
 * What each of the page's peer connections (publisher, then subscriber) knows of ICE: its
 * states, its local candidates and its candidate pairs. For the message of a failed
 * assertion, so that a run that could not connect says how far it came.
 * @param {import('./harness.mjs').Page} page
 * @returns {Promise<string>}
 */
export async function iceReport(page) {
  const report = await page.evaluate(async () => {
    const room = /** @type {any} */ (window).moimRoom;
    const out = [];
    for (const pc of [room.publisherPc, room.subscriberPc]) {
      if (!pc) {
        out.push(null);
        continue;
      }
      const stats = await pc.getStats();
      /** @type {string[]} */
      const candidates = [];
      /** @type {string[]} */
      const pairs = [];
      stats.forEach((/** @type {any} */ s) => {
        if (s.type === 'local-candidate') {
          candidates.push(`${s.candidateType}/${s.protocol}${s.relayProtocol ? `/${s.relayProtocol}` : ''} ${s.address}:${s.port}`);
        } else if (s.type === 'candidate-pair') {
          pairs.push(`${s.state} sent=${s.requestsSent ?? 0} answered=${s.responsesReceived ?? 0}`);
        }
      });
      out.push({ ice: pc.iceConnectionState, gathering: pc.iceGatheringState, candidates, pairs });
    }
    return out;
  }).catch((/** @type {Error} */ e) => `no report: ${e.message}`);
  return JSON.stringify(report);
}

/**
 * @typedef {object} Meeting
 * @property {import('./harness.mjs').Page} ada on the open network
 * @property {import('./harness.mjs').Page} grace inside the lab
 * @property {() => Promise<void>} close closes both browsers
 */

/**
 * Ada, in a browser on the open network, and Grace, in one inside the lab, join one room
 * through the app.
 * @param {Lab} lab
 * @param {import('./harness.mjs').Server} server
 * @param {string} name names the room and the pages' screenshots
 * @param {string[]} [labArgs] more Chromium flags for Grace's browser
 * @returns {Promise<Meeting>}
 */
export async function meetAcrossTheLab(lab, server, name, labArgs = []) {
  /** @type {import('playwright-core').Browser[]} */
  const browsers = [];
  const close = async () => {
    for (const browser of browsers) await browser.close();
  };
  try {
    const open = await launchBrowser(trusting(server.url));
    browsers.push(open);
    const walled = await lab.launchBrowser([...trusting(server.url), ...labArgs]);
    browsers.push(walled);
    const room = uniqueRoom(name);
    const ada = await newPage(open, `${name}-ada`);
    const grace = await newPage(walled, `${name}-grace`);
    await joinWithApp(ada, server, room, 'Ada');
    await joinWithApp(grace, server, room, 'Grace');
    return { ada, grace, close };
  } catch (e) {
    // A browser left open would keep the test process alive after the failure.
    await close();
    throw e;
  }
}

/**
 * Waits until each sees and hears the other.
 * @param {Pick<Meeting, 'ada' | 'grace'>} meeting
 */
export async function seeAndHearEachOther({ ada, grace }) {
  await Promise.all([
    waitForFramesDecodedRising(grace, REMOTE_CAMERA_VIDEOS),
    waitForFramesDecodedRising(ada, REMOTE_CAMERA_VIDEOS),
    waitForAudioPacketsRising(grace, REMOTE_AUDIO),
    waitForAudioPacketsRising(ada, REMOTE_AUDIO),
  ]);
}
