// Moim behind Debian's nginx with the documented configuration (`deploy/nginx.conf`): two
// people open the meeting at nginx's HTTPS address, signal over WSS through it, and see
// and hear each other; plain HTTP at nginx's other port is sent on to HTTPS.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  REPO_ROOT, RESULTS_DIR, delay, freeTcpPort, joinWithApp, launchBrowser, newPage, selfSignedCertificate, startServer,
  uniqueRoom,
} from './harness.mjs';
import { seeAndHearEachOther } from './lab.mjs';

const DIR = path.join(RESULTS_DIR, 'nginx');

/**
 * The documented site, pointed at this test's Moim, certificate and ports, inside the
 * least of a main configuration that keeps nginx's files in `DIR`.
 * @param {{ moimPort: string, httpsPort: number, httpPort: number, cert: string, key: string }} at
 */
function configuration(at) {
  const site = fs.readFileSync(path.join(REPO_ROOT, 'deploy/nginx.conf'), 'utf8')
    .replace('127.0.0.1:7880', `127.0.0.1:${at.moimPort}`)
    .replace('listen 443 ssl;', `listen 127.0.0.1:${at.httpsPort} ssl;`)
    .replace('listen 80;', `listen 127.0.0.1:${at.httpPort};`)
    .replace('/etc/letsencrypt/live/meet.example.org/fullchain.pem', at.cert)
    .replace('/etc/letsencrypt/live/meet.example.org/privkey.pem', at.key);
  const sitePath = path.join(DIR, 'moim.conf');
  fs.writeFileSync(sitePath, site);
  const temp = (/** @type {string} */ name) => `${name}_temp_path ${path.join(DIR, name)};`;
  return `daemon off;
pid ${path.join(DIR, 'nginx.pid')};
error_log ${path.join(DIR, 'error.log')} info;
events {}
http {
  access_log ${path.join(DIR, 'access.log')};
  ${temp('client_body')} ${temp('proxy')} ${temp('fastcgi')} ${temp('uwsgi')} ${temp('scgi')}
  include ${sitePath};
}
`;
}

/**
 * Resolves once something accepts connections on `port`.
 * @param {number} port
 */
async function listening(port) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const open = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      }).on('error', () => resolve(false));
    });
    if (open) return;
    assert.ok(Date.now() < deadline, `nginx is not listening on ${port}; see ${DIR}/error.log`);
    await delay(100);
  }
}

describe('a meeting through nginx in front of Moim', () => {
  /** @type {import('./harness.mjs').Server} */
  let server;
  /** @type {import('node:child_process').ChildProcess} */
  let nginx;
  /** @type {import('playwright-core').Browser[]} */
  const browsers = [];
  let httpsPort = 0;
  let httpPort = 0;

  before(async () => {
    fs.rmSync(DIR, { recursive: true, force: true });
    fs.mkdirSync(DIR, { recursive: true });
    const { cert, key } = selfSignedCertificate(DIR, '127.0.0.1');
    server = await startServer('nginx');
    httpsPort = await freeTcpPort();
    httpPort = await freeTcpPort();
    const conf = path.join(DIR, 'nginx.conf');
    const moimPort = new URL(server.url).port;
    fs.writeFileSync(conf, configuration({ moimPort, httpsPort, httpPort, cert, key }));
    nginx = spawn('nginx', ['-c', conf, '-e', path.join(DIR, 'error.log')], { stdio: 'ignore' });
    await listening(httpsPort);
  });

  after(async () => {
    for (const browser of browsers) await browser.close();
    nginx?.kill('SIGQUIT');
    await server?.stop();
  });

  test('two people meet at the HTTPS address, signaling over WSS through nginx', async () => {
    const front = { ...server, url: `https://127.0.0.1:${httpsPort}` };
    // The test's certificate is self-signed; an operator's comes from a public CA.
    for (let i = 0; i < 2; i++) browsers.push(await launchBrowser(['--ignore-certificate-errors']));
    const room = uniqueRoom('nginx');
    const ada = await newPage(browsers[0], 'nginx-ada');
    const grace = await newPage(browsers[1], 'nginx-grace');
    await joinWithApp(ada, front, room, 'Ada');
    await joinWithApp(grace, front, room, 'Grace');
    // The app signals on its own origin: wss:// at nginx's address.
    assert.equal(await grace.evaluate(() => location.origin), front.url);
    await seeAndHearEachOther({ ada, grace });
  });

  test('plain HTTP at nginx is sent on to HTTPS', async () => {
    const res = await fetch(`http://127.0.0.1:${httpPort}/r/team?name=Ada`, { redirect: 'manual' });
    assert.equal(res.status, 308);
    assert.equal(res.headers.get('location'), 'https://127.0.0.1/r/team?name=Ada');
  });
});
