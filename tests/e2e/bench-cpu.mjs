// Benchmark: the server's CPU use and memory with a small meeting.
//
// Four participants (each in its own browser context) join one room through the web app and
// stay for 60 s with camera and microphone on. The server's CPU time is read from
// /proc/<pid>/stat before and after; the result is the average share of one core, plus the
// server's peak resident memory (VmHWM).
//
//   node tests/e2e/bench-cpu.mjs [--participants 4] [--seconds 60]

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import {
  REMOTE_CAMERA_VIDEOS,
  delay,
  joinWithApp,
  launchBrowser,
  newPage,
  startServer,
  uniqueRoom,
  waitForFramesDecodedRising,
} from './harness.mjs';

const { values } = parseArgs({
  options: {
    participants: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '60' },
  },
});
const participants = Number(values.participants);
const seconds = Number(values.seconds);
const ticksPerSecond = clockTicks();

const server = await startServer('bench-cpu');
const browser = await launchBrowser();
try {
  const room = uniqueRoom('bench-cpu');
  const pages = [];
  for (let i = 0; i < participants; i++) {
    const page = await newPage(browser, `bench-cpu-${i}`);
    await joinWithApp(page, server, room, `Participant ${i + 1}`);
    pages.push(page);
  }
  await Promise.all(
    pages.map((page) => waitForFramesDecodedRising(page, REMOTE_CAMERA_VIDEOS, { count: participants - 1 })),
  );
  console.log(`${participants} participants connected; measuring for ${seconds} s…`);

  const before = cpuTicks(server.pid);
  const startedAt = process.hrtime.bigint();
  await delay(seconds * 1000);
  const after = cpuTicks(server.pid);
  const wall = Number(process.hrtime.bigint() - startedAt) / 1e9;

  const cpuSeconds = (after - before) / ticksPerSecond;
  const memory = memoryKiB(server.pid);
  console.log(`server CPU: ${((cpuSeconds / wall) * 100).toFixed(1)} % of one core (${cpuSeconds.toFixed(2)} s over ${wall.toFixed(1)} s)`);
  console.log(`server peak RSS: ${(memory.peak / 1024).toFixed(1)} MiB (now ${(memory.current / 1024).toFixed(1)} MiB)`);
} finally {
  await browser.close();
  await server.stop();
}

/**
 * User plus system CPU time of a process, in clock ticks.
 * @param {number} pid
 */
function cpuTicks(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces; count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return utime + stime;
}

/**
 * Peak and current resident set size, in KiB.
 * @param {number} pid
 */
function memoryKiB(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  /** @param {string} key */
  const read = (key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { peak: read('VmHWM'), current: read('VmRSS') };
}

function clockTicks() {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}
