#!/usr/bin/env python3
"""Calling stylizer-server from Python: a still image and a whole movie.

What another service does to use the API (docs/api.md), in one file:
* a deadline and an x-request-id on every call (the server logs the id);
* a busy server's refusal retried after the delay it asks for (the
  grpc-retry-pushback-ms trailer; RESOURCE_EXHAUSTED without it means the
  input is too large: never retried), and only before any answer arrived;
* StylizeVideo: the VideoJob first, then the movie in chunks from a second
  thread while the answers are read; each output's chunks appended to its
  file by output_index; progress printed;
* outputs named by style, <stem>.<style index>.<ext>, as the stylizer CLI
  names them by style name: an answer's output_index is the position of its
  style in the request (the style index itself when the request names none).

Stubs: generated from proto/stylizer/v1/stylizer.proto into a temporary
folder with grpc_tools (Debian: python3-grpc-tools) unless --stubs names a
folder that holds them. A real integration generates them once at build time:
  python3 -m grpc_tools.protoc -I proto --python_out=gen --grpc_python_out=gen \\
      proto/stylizer/v1/stylizer.proto

  stylize_client.py [--server HOST:PORT] [--token TOKEN] image IN OUT_DIR [STYLE...]
  stylize_client.py [--server HOST:PORT] [--token TOKEN] video IN OUT_DIR [STYLE...]
STYLE: a style index (0 or more); none means every style.
"""
import argparse
import importlib
import os
import subprocess
import sys
import tempfile
import time
import uuid

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.join(HERE, "..", "..", "proto")
CHUNK_BYTES = 256 * 1024
RETRIES = 5
# How gRPC reports a stream the server reset because its buffer quota is
# spent (HTTP/2 ENHANCE_YOUR_CALM): a busy server without a retry hint.
GRPC_QUOTA_REFUSAL = "RST_STREAM with error code 11"


def load_stubs(stubs_dir=None):
    """Returns (stylizer_pb2, stylizer_pb2_grpc). Without `stubs_dir` they
    are generated into a temporary folder, removed once they are imported
    (a service calling this example often left one behind per call)."""
    if stubs_dir is None:
        with tempfile.TemporaryDirectory(prefix="stylizer-stubs-") as tmp:
            return load_stubs(generate_stubs(tmp))
    sys.path.insert(0, stubs_dir)
    try:
        return (importlib.import_module("stylizer.v1.stylizer_pb2"),
                importlib.import_module("stylizer.v1.stylizer_pb2_grpc"))
    finally:
        sys.path.remove(stubs_dir)


def generate_stubs(out_dir):
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc",
                    "-I" + PROTO_ROOT, "--python_out=" + out_dir,
                    "--grpc_python_out=" + out_dir,
                    "stylizer/v1/stylizer.proto"], check=True)
    return out_dir


class Client:
    def __init__(self, server, pb, pb_grpc, token=None, timeout=600):
        self.pb = pb
        # grpcio's default receive limit is 4 MiB, and one StylizeImage
        # answer holds every style of the image (a 640x640 RAW image in 4
        # styles is 4.9 MB); the send limit is for large images and chunks.
        self.stub = pb_grpc.StylizerStub(grpc.insecure_channel(server, options=[
            ("grpc.max_receive_message_length", 256 << 20),
            ("grpc.max_send_message_length", 256 << 20)]))
        self.token = token
        self.timeout = timeout

    def metadata(self, request_id):
        md = [("x-request-id", request_id)]
        if self.token:
            md.append(("authorization", "Bearer " + self.token))
        return md

    def call(self, start, what):
        """Runs start(metadata) -> result, retrying a busy server (or one
        not reachable yet) before any answer arrived. `start` raises
        grpc.RpcError; it sets started[0] once an answer arrived."""
        request_id = uuid.uuid4().hex[:16]
        for attempt in range(RETRIES + 1):
            started = [False]
            try:
                return start(self.metadata(request_id), started)
            except grpc.RpcError as e:
                wait = retry_wait(e, attempt)
                if started[0] or wait is None or attempt == RETRIES:
                    raise SystemExit(f"{what} failed: {e.code().name}: "
                                     f"{e.details()} (request id "
                                     f"{request_id})")
                print(f"{what}: {e.code().name}, retry {attempt + 1} in "
                      f"{wait:.1f} s: {e.details()}", file=sys.stderr)
                time.sleep(wait)

    def image(self, path, out_dir, styles):
        with open(path, "rb") as f:
            data = f.read()
        request = self.pb.StylizeImageRequest(
            image=self.pb.Image(encoded=data),
            styles=[self.pb.Style(index=s) for s in styles],
            output_format=self.pb.IMAGE_FORMAT_PNG)

        def start(md, started):
            return self.stub.StylizeImage(request, metadata=md,
                                          timeout=self.timeout)
        response = self.call(start, "StylizeImage")
        stem = os.path.splitext(os.path.basename(path))[0]
        written = []
        for image in response.images:
            style = style_of(image.output_index, styles)
            out = os.path.join(out_dir, f"{stem}.{style}.png")
            with open(out, "wb") as f:
                f.write(image.image.encoded)
            written.append(out)
        return written

    def video(self, path, out_dir, styles):
        size = os.path.getsize(path)
        job = self.pb.VideoJob(styles=[self.pb.Style(index=s) for s in styles],
                               input_size=size)
        stem = os.path.splitext(os.path.basename(path))[0]

        def requests():
            yield self.pb.StylizeVideoRequest(job=job)
            with open(path, "rb") as f:  # read lazily, one chunk at a time
                while True:
                    chunk = f.read(CHUNK_BYTES)
                    if not chunk:
                        return
                    yield self.pb.StylizeVideoRequest(chunk=chunk)

        def start(md, started):
            files = {}
            done = False
            try:
                # grpc runs the request iterator on its own thread while the
                # answers are read here.
                for response in self.stub.StylizeVideo(
                        requests(), metadata=md, timeout=self.timeout):
                    started[0] = True
                    kind = response.WhichOneof("msg")
                    if kind == "accepted":
                        i = response.accepted.input
                        print(f"job {response.accepted.job_id}: {i.width}x"
                              f"{i.height}, ~{i.frames_estimate} frames",
                              file=sys.stderr)
                    elif kind == "progress":
                        p = response.progress
                        print(f"  {p.frames_done}/{p.frames_estimate} frames",
                              file=sys.stderr)
                    elif kind == "chunk":
                        c = response.chunk
                        if c.output_index not in files:
                            style = style_of(c.output_index, styles)
                            files[c.output_index] = open(os.path.join(
                                out_dir, f"{stem}.{style}.mp4.part"), "wb")
                        files[c.output_index].write(c.data)
                done = True
            finally:
                for f in files.values():
                    f.close()
                    if not done:  # a failed job leaves nothing behind
                        os.remove(f.name)
            written = []
            for index in sorted(files):
                part = files[index].name
                os.replace(part, part[:-len(".part")])
                written.append(part[:-len(".part")])
            return written

        return self.call(start, "StylizeVideo")


def style_of(output_index, styles):
    """The style index of the output at `output_index` of a request for
    `styles` (every style, in order, when empty)."""
    return styles[output_index] if styles else output_index


def style_index(text):
    """An argparse type: a style index, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a style index (0 or more)")
    return value


def retry_wait(error, attempt):
    """Seconds to wait before retrying `error`, or None if it is final."""
    code = error.code()
    pushback = dict(error.trailing_metadata() or ()).get(
        "grpc-retry-pushback-ms")
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        # Busy: the server says when. gRPC's own refusal when the server's
        # buffer quota is spent carries no hint but is busy too: 1 s.
        # Without a hint (or -1) otherwise: too large, final.
        if pushback is None and GRPC_QUOTA_REFUSAL in (error.details() or ""):
            return max(1.0, 0.25 * 2 ** attempt)
        if pushback is None or int(pushback) < 0:
            return None
        return max(int(pushback) / 1000, 0.25 * 2 ** attempt)
    if code == grpc.StatusCode.UNAVAILABLE:  # not up yet, or draining
        backoff = 0.25 * 2 ** attempt
        return max(int(pushback) / 1000, backoff) if pushback else backoff
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", default="localhost:50051")
    parser.add_argument("--token", default=None)
    parser.add_argument("--stubs", default=None,
                        help="folder with generated stylizer/v1 stubs")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("kind", choices=["image", "video"])
    parser.add_argument("input")
    parser.add_argument("out_dir")
    parser.add_argument("styles", nargs="*", type=style_index)
    args = parser.parse_args(argv)
    # Outputs are named by style: one style twice would name two alike.
    repeated = sorted({s for s in args.styles if args.styles.count(s) > 1})
    if repeated:
        parser.error(f"style {repeated[0]} is named twice")
    # A missing or unreadable input is one line, and makes no folder.
    try:
        with open(args.input, "rb"):
            pass
    except OSError as e:
        raise SystemExit(f"{args.input}: {e.strerror}")
    pb, pb_grpc = load_stubs(args.stubs)
    client = Client(args.server, pb, pb_grpc, args.token, args.timeout)
    try:
        os.makedirs(args.out_dir, exist_ok=True)
        run = client.image if args.kind == "image" else client.video
        for path in run(args.input, args.out_dir, args.styles):
            print(path)
    except OSError as e:
        raise SystemExit(f"{e.filename or args.out_dir}: {e.strerror}")


if __name__ == "__main__":
    main()
