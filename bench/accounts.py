#!/usr/bin/env python3
"""Accounts at size: sign-in cost, start-up time and API latency with 10,000 users and
100,000 recordings in the embedded SQLite database (docs/performance.md, "Accounts").

    python3 bench/accounts.py [--bin target/release/moim] [--users 10000] [--recordings 100000]

It makes a data directory, lets the server make its schema, fills the database with
python's sqlite3 (every user with the same argon2id hash, made once by `moim user add`),
then measures: the start-up (process start to /healthz 200), sign-ins one after the other
(latency and the server's CPU per sign-in), "My rooms" for a user owning 20 rooms, and a
room's library of 100 recordings (whose folders are on disk), each asked 200 times.
"""

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(binary, data, recordings, port):
    env = dict(os.environ, MOIM_DATA_DIR=data, MOIM_RECORDINGS_DIR=recordings, MOIM_LOG="warn",
               MOIM_TURN="0", MOIM_TURN_ADDR="127.0.0.1:0", MOIM_API_SECRET="s" * 64)
    began = time.monotonic()
    proc = subprocess.Popen([binary, "serve", "--http-port", str(port), "--udp-port", str(free_port()),
                             "--tcp-port", "0", "--rtmp-port", "0"], env=env)
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return proc, time.monotonic() - began
        except OSError:
            pass
        if proc.poll() is not None:
            sys.exit("the server exited")
        time.sleep(0.01)


def request(conn, method, path, body=None, cookie=None, csrf=None):
    headers = {"Content-Type": "application/json"}
    if cookie:
        headers["Cookie"] = f"moim_session={cookie}"
    if csrf:
        headers["Moim-CSRF"] = csrf
    began = time.monotonic()
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    data = response.read()
    took = time.monotonic() - began
    return response, data, took


def stats(name, times):
    times = sorted(times)
    p = lambda q: times[min(len(times) - 1, int(q * len(times)))] * 1000
    print(f"{name}: n={len(times)} p50={p(0.5):.2f} ms p99={p(0.99):.2f} ms mean={sum(times) / len(times) * 1000:.2f} ms")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default="target/release/moim")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--recordings", type=int, default=100_000)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="moim-accounts-bench-")
    data, recordings = os.path.join(work, "data"), os.path.join(work, "recordings")
    try:
        run(args, data, recordings)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args, data, recordings):
    env = dict(os.environ, MOIM_DATA_DIR=data)
    subprocess.run([args.bin, "user", "add", "--email", "u0@example.org", "--password", "bench password"],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    db = sqlite3.connect(os.path.join(data, "moim.db"))
    (hash_,) = db.execute("SELECT password_hash FROM users").fetchone()
    now = int(time.time())
    db.executemany(
        "INSERT INTO users (id, email, name, password_hash, admin, disabled, created_at, password_changed_at) "
        "VALUES (?, ?, ?, ?, 0, 0, ?, ?)",
        ((f"U_{n:024x}", f"u{n}@example.org", f"User {n}", hash_, now, now) for n in range(1, args.users)))
    (owner,) = db.execute("SELECT id FROM users WHERE email = 'u0@example.org'").fetchone()
    rooms = max(1, args.recordings // 100)
    settings = json.dumps({"guests": True})
    db.executemany("INSERT INTO owned_rooms (name, owner_id, settings, created_at) VALUES (?, ?, ?, ?)",
                   ((f"room-{n}", owner if n < 20 else f"U_{(n % (args.users - 1)) + 1:024x}", settings, now)
                    for n in range(rooms)))
    started = int(time.time() * 1000) - args.recordings * 1000
    db.executemany(
        "INSERT INTO recordings (id, room, kind, status, title, started_at, ended_at, bytes) "
        "VALUES (?, ?, 'composite', 'complete', ?, ?, ?, 1000000)",
        ((f"RC_{n:x}", f"room-{n % rooms}", f"Recording {n}", started + n * 1000, started + n * 1000 + 600_000)
         for n in range(args.recordings)))
    db.commit()
    db.close()
    # The folders of room-0's recordings, which the library reads.
    for n in range(0, args.recordings, rooms):
        folder = os.path.join(recordings, "room-0", f"RC_{n:x}")
        os.makedirs(folder)
        with open(os.path.join(folder, "manifest.json"), "w") as f:
            json.dump({"id": f"RC_{n:x}", "room": "room-0", "kind": "composite", "status": "complete",
                       "started_at": started + n * 1000, "ended_at": started + n * 1000 + 600_000,
                       "participants": [], "tracks": [],
                       "files": [{"file": "composite.webm", "codec": "vp8+opus", "offset_ms": 0,
                                  "duration_ms": 600000, "frames": 18000}]}, f)
    print(f"{args.users} users, {rooms} owned rooms, {args.recordings} recordings in SQLite "
          f"({os.path.getsize(os.path.join(data, 'moim.db')) / 1e6:.1f} MB)")

    port = free_port()
    startups = []
    for _ in range(3):
        proc, took = start(args.bin, data, recordings, port)
        startups.append(took)
        proc.terminate()
        proc.wait()
    stats("start-up to /healthz", startups)

    proc, _ = start(args.bin, data, recordings, port)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        times = []
        cpu_before = cpu_seconds(proc.pid)
        for n in range(50):
            email = f"u{random.randrange(1, args.users)}@example.org"
            response, _, took = request(conn, "POST", "/api/account/sign-in",
                                        {"email": email, "password": "bench password"})
            assert response.status == 200, response.status
            times.append(took)
        cpu = (cpu_seconds(proc.pid) - cpu_before) / 50
        stats("sign-in", times)
        print(f"sign-in: {cpu * 1000:.1f} ms of CPU each")
        response, data_, _ = request(conn, "POST", "/api/account/sign-in",
                                     {"email": "u0@example.org", "password": "bench password"})
        cookie = response.getheader("Set-Cookie").split(";")[0].split("=", 1)[1]
        csrf = json.loads(data_)["csrf"]
        for name, path in [("My rooms (20 rooms)", "/api/account/rooms"),
                           ("library (100 recordings)", "/api/account/rooms/room-0/recordings")]:
            times = []
            for _ in range(200):
                response, body, took = request(conn, "GET", path, cookie=cookie, csrf=csrf)
                assert response.status == 200, (response.status, body)
                times.append(took)
            stats(name, times)
        listed = json.loads(body)["recordings"]
        print(f"library: {len(listed)} listed")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
