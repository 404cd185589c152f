"""Holding a stylizer-server's stream slots from a test, without stubs.

SlotHolder opens StylizeFrames streams that send nothing (raw bytes, so no
generated stubs are needed) until the server refuses one more: with
--max_concurrent_streams=1 the server is then busy for every stream until
the holder lets go.
"""
import threading
import time

import grpc


class SlotHolder:
    def __init__(self, address):
        self._channel = grpc.insecure_channel(address)
        self._release = threading.Event()
        self._frames = self._channel.stream_stream(
            "/stylizer.v1.Stylizer/StylizeFrames",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b)
        self._holders = []

    def _silent(self):
        self._release.wait(120)
        return
        yield  # a generator that yields nothing

    def hold_one(self, within_seconds=30):
        """Holds one slot; returns the trailing metadata of the refusal that
        shows it is held. Raises AssertionError if it never is."""
        holder = None
        deadline = time.monotonic() + within_seconds
        while time.monotonic() < deadline:
            # A probe that got in first refuses the holder: open it again.
            if holder is None or holder.done():
                holder = self._frames(self._silent())
                self._holders.append(holder)
                time.sleep(0.05)
            try:
                for _ in self._frames(iter([]), timeout=10):
                    pass
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    return dict(e.trailing_metadata() or ())
                raise
            time.sleep(0.05)  # the holder is not in yet
        raise AssertionError("the silent stream never took the slot")

    def free(self):
        """Lets go of every slot held."""
        for holder in self._holders:
            holder.cancel()
        self._release.set()

    def close(self):
        self.free()
        self._channel.close()
