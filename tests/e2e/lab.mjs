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
import { CHROMIUM_ARGS, RESULTS_DIR } from './harness.mjs';

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
 * Chromium flags that let pages of `url` (a lab address over plain HTTP) use the camera
 * and microphone, as they may on localhost.
 * @param {string} url
 */
export function trusting(url) {
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
    remove: () => remove(namespace, outside),
  };
}

/**
 * Deletes a lab's namespace and its veth pair, if they exist.
 * @param {string} namespace
 * @param {string} outside
 */
async function remove(namespace, outside) {
  await run('ip', ['link', 'del', outside]).catch(() => {});
  await run('ip', ['netns', 'del', namespace]).catch(() => {});
}
