#!/usr/bin/env python3
"""Soak benchmark: many concurrent callers against one real stylizer-server.

N callers (default 64) run for a while (default 5 minutes) on loopback,
mixing the kinds of call a busy server meets:

  image       StylizeImage, 128x96 raw, 1-2 styles
  frames      StylizeFrames, 8 frames of 96x64, read as they come
  movie       StylizeVideo, a 2 s movie at max_side=64, 1-2 styles
  cancel      a movie or frame stream the caller cancels part way
  disconnect  a movie upload whose connection the caller closes half way
  slow        a movie or frame stream read with a pause before every message

Callers take the kinds in an interleaved order, so 6 or more run every
kind (see caller_kinds). It records the server's RSS every second (reported
per interval), every call's status code and latency, the work completed per
kind per interval (and after the deadline, for calls that end after it),
and the server's health at the end (alive, health SERVING, a normal image
served, RSS after the load), then prints markdown tables.

  python3 bench/soak/soak.py                         # 64 callers, 300 s
  python3 bench/soak/soak.py --duration 30 --callers 16 --interval 10
  python3 bench/soak/soak.py --address 127.0.0.1:50051 --pid 1234

By default it starts build/server/stylizer-server with the bundled model
(--precision=fp32); --server_flag adds flags. Not a CI test: see
docs/performance.md ("Soak").
"""
import argparse
import collections
import json
import os
import random
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# The hostile suite's harness: server process, stubs, media.
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "hostile"))
import harness  # noqa: E402
import media  # noqa: E402

grpc, pb, pb_grpc, health_pb, health_grpc = harness.stubs()

KINDS = ["image", "frames", "movie", "cancel", "disconnect", "slow"]
# How many of every 16 callers run each kind.
MIX = {"image": 6, "frames": 3, "movie": 2, "cancel": 2, "disconnect": 1,
       "slow": 2}
CALL_TIMEOUT_S = 120


def caller_kinds(n):
    """The kinds of n callers, interleaved: in every 16, one of each kind
    first (so that any n >= 6 runs every kind), then the rest of MIX in a
    smooth weighted round-robin (image, frames, image, movie, ...)."""
    extra = {k: MIX[k] - 1 for k in KINDS}
    credit = dict.fromkeys(KINDS, 0)
    pattern = list(KINDS)
    for _ in range(sum(extra.values())):
        for k in KINDS:
            credit[k] += extra[k]
        pick = max(KINDS, key=lambda k: credit[k])
        credit[pick] -= sum(extra.values())
        pattern.append(pick)
    return [pattern[i % len(pattern)] for i in range(n)]
# Outcomes a caller asked for (its own cancel or disconnect), not errors.
INTENDED = {"cancel": {"CANCELLED"}, "disconnect": {"CANCELLED",
                                                    "UNAVAILABLE"}}


def raw(width, height):
    return pb.Image(raw=pb.RawImage(width=width, height=height,
                                    rgb=media.raw_rgb(width, height)))


class Record:
    """Everything the callers and the sampler observed."""

    def __init__(self, t0, interval):
        self.t0 = t0
        self.interval = interval
        self.lock = threading.Lock()
        self.calls = []  # (kind, start, end, code, work units)
        self.rss = []  # (t, kB)
        self.messages = {}  # (kind, code) -> the first message seen

    def add(self, kind, start, code, work, message=""):
        with self.lock:
            self.calls.append((kind, start, time.monotonic(), code, work))
            self.messages.setdefault((kind, code), message)

    def bin_of(self, t):
        return int((t - self.t0) // self.interval)


class Caller(threading.Thread):
    def __init__(self, index, kind, address, channel, record, until, movie,
                 seed, n_styles):
        super().__init__(daemon=True)
        self.n_styles = n_styles
        self.index = index
        self.kind = kind
        self.address = address
        self.stub = pb_grpc.StylizerStub(channel)
        self.record = record
        self.until = until
        self.movie = movie
        self.rng = random.Random(seed)

    def styles(self):
        return [pb.Style(index=self.rng.randrange(self.n_styles))
                for _ in range(self.rng.choice((1, 2)))]

    def run(self):
        while time.monotonic() < self.until:
            start = time.monotonic()
            message = ""
            try:
                work = getattr(self, "call_" + self.kind)()
                code = "OK"
            except grpc.RpcError as e:
                code, work, message = e.code().name, 0, e.details() or ""
            except Exception as e:  # a client-side bug: show it, go on
                code, work = f"client:{type(e).__name__}", 0
                message = str(e)
            self.record.add(self.kind, start, code, work, message)
            if code in ("RESOURCE_EXHAUSTED", "UNAVAILABLE"):
                # Back off as a well-behaved client does before retrying.
                time.sleep(self.rng.uniform(0.5, 1.5))

    # Each call_* returns the work it got done (images or frames).

    def call_image(self):
        response = self.stub.StylizeImage(pb.StylizeImageRequest(
            image=raw(128, 96), styles=self.styles()), timeout=CALL_TIMEOUT_S)
        return len(response.images)

    def frame_requests(self, count=8):
        styles = self.styles()
        for i in range(count):
            yield pb.StylizeFramesRequest(sequence=i, image=raw(96, 64),
                                          styles=styles if i == 0 else [])

    def call_frames(self, pause=0.0):
        done = 0
        for _ in self.stub.StylizeFrames(self.frame_requests(),
                                         timeout=CALL_TIMEOUT_S):
            done += 1
            if pause:
                time.sleep(pause)
        return done

    def movie_requests(self, upload_pause=None):
        yield pb.StylizeVideoRequest(job=pb.VideoJob(
            styles=self.styles(), max_side=64, input_size=len(self.movie)))
        step = 16 << 10
        for i in range(0, len(self.movie), step):
            if upload_pause is not None and i >= len(self.movie) // 2:
                upload_pause()
            yield pb.StylizeVideoRequest(chunk=self.movie[i:i + step])

    def call_movie(self, pause=0.0):
        frames = 0
        for response in self.stub.StylizeVideo(self.movie_requests(),
                                               timeout=CALL_TIMEOUT_S):
            if response.HasField("summary"):
                frames = sum(o.frames for o in response.summary.outputs)
            if pause:
                time.sleep(pause)
        return frames

    def call_slow(self):
        # A reader that takes half a second over every message.
        if self.rng.random() < 0.5:
            return self.call_frames(pause=0.5)
        return self.call_movie(pause=0.5)

    def call_cancel(self):
        if self.rng.random() < 0.5:
            call = self.stub.StylizeFrames(self.frame_requests(64),
                                           timeout=CALL_TIMEOUT_S)
        else:
            call = self.stub.StylizeVideo(self.movie_requests(),
                                          timeout=CALL_TIMEOUT_S)
        timer = threading.Timer(self.rng.uniform(0.05, 2.0), call.cancel)
        timer.start()
        try:
            for _ in call:
                pass
        finally:
            timer.cancel()
        return 0

    def call_disconnect(self):
        # Its own connection, closed a moment after half the upload went
        # out: the server sees the transport go away, not a cancel from a
        # live client.
        channel = harness.channel(self.address)
        stub = pb_grpc.StylizerStub(channel)
        delay = self.rng.uniform(0.1, 1.0)
        closed = []

        def close_midway():
            if not closed:
                closed.append(threading.Timer(delay, channel.close))
                closed[0].start()
                time.sleep(delay + 1)  # the upload stalls meanwhile

        try:
            for _ in stub.StylizeVideo(self.movie_requests(
                    upload_pause=close_midway), timeout=CALL_TIMEOUT_S):
                pass
        finally:
            if closed:
                closed[0].join()
            channel.close()
        return 0


def sample_rss(pid, record, stop):
    while not stop.wait(1.0):
        kb = harness.proc_status_kb(pid, "VmRSS")
        if kb is None:
            return
        with record.lock:
            record.rss.append((time.monotonic(), kb))


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, int(round(q * (len(sorted_values) - 1))))
    return sorted_values[i]


def end_health(address, pid):
    """Alive, health status, a normal small image, a one-frame stream (a
    stream slot is free), RSS now."""
    channel = harness.channel(address)
    out = {"alive": pid is None or harness.proc_status_kb(pid, "VmRSS")
           is not None}
    try:
        out["health"] = health_pb.HealthCheckResponse.ServingStatus.Name(
            health_grpc.HealthStub(channel).Check(
                health_pb.HealthCheckRequest(service=""), timeout=10).status)
    except grpc.RpcError as e:
        out["health"] = e.code().name
    start = time.monotonic()
    try:
        pb_grpc.StylizerStub(channel).StylizeImage(pb.StylizeImageRequest(
            image=raw(32, 24), styles=[pb.Style(index=0)]), timeout=30)
        out["image"] = f"OK in {time.monotonic() - start:.2f} s"
    except grpc.RpcError as e:
        out["image"] = f"{e.code().name}: {e.details()}"
    try:
        answers = list(pb_grpc.StylizerStub(channel).StylizeFrames(iter([
            pb.StylizeFramesRequest(sequence=1, image=raw(32, 24),
                                    styles=[pb.Style(index=0)])]),
            timeout=30))
        out["frame stream"] = f"OK, {len(answers)} answer"
    except grpc.RpcError as e:
        out["frame stream"] = f"{e.code().name}: {e.details()}"
    if pid is not None:
        out["rss_mib"] = (harness.proc_status_kb(pid, "VmRSS") or 0) / 1024
        out["peak_rss_mib"] = (harness.proc_status_kb(pid, "VmHWM") or 0) / 1024
    channel.close()
    return out


def report(record, args, kinds, health, rss_idle_kb):
    lines = []
    add = lines.append
    bins = max(1, int(round(args.duration / args.interval)))
    add(f"## Soak: {args.callers} callers, {args.duration:g} s, "
        f"interval {args.interval:g} s\n")
    mix = collections.Counter(kinds)
    add("Callers: " + ", ".join(f"{k} {mix[k]}" for k in KINDS if mix[k]))
    add("")
    add("| kind | calls | OK | intended | errors by code | p50 s | p90 s "
        "| p99 s | max s | work done |")
    add("|---|---|---|---|---|---|---|---|---|---|")
    errors_total = 0
    for kind in KINDS:
        calls = [c for c in record.calls if c[0] == kind]
        if not calls:
            continue
        ok = sorted(c[2] - c[1] for c in calls if c[3] == "OK")
        intended = sum(1 for c in calls if c[3] in INTENDED.get(kind, ()))
        errors = collections.Counter(
            c[3] for c in calls
            if c[3] != "OK" and c[3] not in INTENDED.get(kind, ()))
        errors_total += sum(errors.values())
        work = sum(c[4] for c in calls)
        add(f"| {kind} | {len(calls)} | {len(ok)} | {intended} | "
            f"{', '.join(f'{k} {v}' for k, v in sorted(errors.items())) or '-'}"
            f" | {percentile(ok, .5):.2f} | {percentile(ok, .9):.2f} | "
            f"{percentile(ok, .99):.2f} | {max(ok, default=float('nan')):.2f}"
            f" | {work} |")
    add("")
    add("Work done is images (image), frames answered (frames, slow) and "
        "output frames (movie, slow), summed over the calls that finished; "
        "intended is the caller's own cancel or disconnect. Below, done "
        "counts the calls that ended OK (or as intended) in each interval; "
        "calls started before the end of the load that ended after it are in "
        "the last row.\n")
    header = "| interval | max RSS MiB | " + " | ".join(
        f"{k} done" for k in KINDS if mix[k]) + " |"
    add(header)
    add("|---" * (header.count("|") - 1) + "|")
    def row_of(t):  # its interval's row, or the last: after the end of the load
        if t >= record.t0 + args.duration:
            return bins
        return min(record.bin_of(t), bins - 1)

    for b in range(bins + 1):
        rss = [kb for t, kb in record.rss if row_of(t) == b]
        done = collections.Counter(
            c[0] for c in record.calls
            if (c[3] == "OK" or c[3] in INTENDED.get(c[0], ())) and
            row_of(c[2]) == b)
        start, end = b * args.interval, (b + 1) * args.interval
        label = (f"{start:g}-{end:g} s" if b < bins else
                 f"after the deadline ({args.duration:g} s)")
        add(f"| {label} | "
            f"{(max(rss) / 1024 if rss else float('nan')):.0f} | " +
            " | ".join(str(done[k]) for k in KINDS if mix[k]) + " |")
    add("")
    add("| server at the end | |")
    add("|---|---|")
    if rss_idle_kb:
        add(f"| RSS before the load | {rss_idle_kb / 1024:.0f} MiB |")
    for key, value in health.items():
        if isinstance(value, float):
            value = f"{value:.0f}"
        add(f"| {key} | {value} |")
    add(f"| unintended errors | {errors_total} |")
    add("")
    add("First message of each error:\n")
    for (kind, code), message in sorted(record.messages.items()):
        if code != "OK" and code not in INTENDED.get(kind, ()):
            add(f"* {kind} {code}: {message[:160]}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=300,
                        help="seconds of load (default 300)")
    parser.add_argument("--callers", type=int, default=64,
                        help="concurrent callers (default 64)")
    parser.add_argument("--interval", type=float, default=60,
                        help="seconds per row of the over-time table")
    parser.add_argument("--address", help="use a running server")
    parser.add_argument("--pid", type=int,
                        help="its process id, for RSS (with --address)")
    parser.add_argument("--server_flag", action="append", default=[],
                        help="extra flag for the server this starts")
    parser.add_argument("--json", help="also write the raw records here")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    tmp = harness.tmpdir("stylizer-soak-")
    server = None
    try:
        if args.address:
            address, pid = args.address, args.pid
        else:
            server = harness.ServerProcess(tmp, args.server_flag, name="soak")
            server.start()
            address, pid = server.address(), server.proc.pid
        movie_path = media.small_movie(os.path.join(tmp, "soak.mp4"),
                                       seconds=2, size="128x96", rate=10)
        with open(movie_path, "rb") as f:
            movie = f.read()
        kinds = caller_kinds(args.callers)
        missing = [k for k in KINDS if k not in kinds]
        if missing:
            print(f"soak: warning: with --callers {args.callers} no caller runs "
                  f"{', '.join(missing)} (6 or more run every kind)", file=sys.stderr)
        # A few shared connections, as a client fleet behind a few pods.
        channels = [harness.channel(address) for _ in range(4)]
        # The model's own style count: a fixed 8 made half the calls to a
        # 4-style server INVALID_ARGUMENT, reported as server errors.
        n_styles = len(pb_grpc.StylizerStub(channels[0]).GetModelInfo(
            pb.GetModelInfoRequest(), timeout=60).styles)
        rss_idle_kb = harness.proc_status_kb(pid, "VmRSS") if pid else None
        t0 = time.monotonic()
        record = Record(t0, args.interval)
        stop = threading.Event()
        sampler = None
        if pid:
            sampler = threading.Thread(target=sample_rss,
                                       args=(pid, record, stop), daemon=True)
            sampler.start()
        callers = [Caller(i, kind, address, channels[i % len(channels)],
                          record, t0 + args.duration, movie,
                          args.seed * 1000 + i, n_styles)
                   for i, kind in enumerate(kinds)]
        for c in callers:
            c.start()
        for c in callers:
            c.join(args.duration + CALL_TIMEOUT_S + 30)
        stop.set()
        time.sleep(2)  # let the last cancelled jobs wind down
        health = end_health(address, pid)
        health["callers still running"] = sum(c.is_alive() for c in callers)
        text = report(record, args, kinds, health, rss_idle_kb)
        print(text)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"calls": record.calls, "rss": record.rss,
                           "health": health}, f)
        for ch in channels:
            ch.close()
        ok = health["alive"] and health["image"].startswith("OK")
        return 0 if ok else 1
    finally:
        if server is not None:
            server.stop()
        harness.rmtree(tmp)


if __name__ == "__main__":
    sys.exit(main())
