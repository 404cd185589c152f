#!/usr/bin/env python3
"""Hostile clients against the real stylizer-server. Rows 4, 5, 7 and 8: still
images and styles.

What every test checks, and how to run one: README.md; shared parts:
hostile_case.py.
"""
import math
import os
import time
import unittest

from hostile_case import (CALL_TIMEOUT_S, Code, FLT_MAX, HostileTestCase,
                          call_image, grpc, media, pb, raw_image)


class ImageRowsTest(HostileTestCase):
    """Rows 4, 5, 7 and 8: still images and styles."""

    @classmethod
    def bomb(cls):
        if not hasattr(cls, "_bomb"):
            cls._bomb = media.zlib_bomb()
        return cls._bomb

    def assert_bomb_cheap(self, encoded):
        start = time.monotonic()
        code, details, response = call_image(self.stub, pb.StylizeImageRequest(
            image=pb.Image(encoded=encoded), styles=[pb.Style(index=0)]))
        elapsed = time.monotonic() - start
        # The pixels are fine: serving them (ignoring or bounding the
        # ancillary chunk) or refusing the chunk are both acceptable.
        self.assert_status(code, details, (Code.OK, Code.INVALID_ARGUMENT),
                           "png", "chunk", "metadata", "profile", "text")
        if code == Code.OK:
            self.assertEqual(len(response.images), 1)
        # A 16x16 image takes well under a second; 15 s is a wide margin
        # against a loaded machine, and far below inflating 1 GiB twice.
        self.assertLess(elapsed, 15, "a 16x16 PNG took this long")
        # The memory check in tearDown catches the inflated chunk.

    def test_row4_png_ztxt_bomb(self):
        """FAILS ON main @ 65128ad: OK after 10-33 s and +2-3 GB RSS."""
        self.assert_bomb_cheap(media.png_with_ztxt_bomb(self.bomb()))

    def test_row4_png_iccp_bomb(self):
        """FAILS ON main @ 65128ad: OK after 10-33 s and +2-3 GB RSS."""
        self.assert_bomb_cheap(media.png_with_iccp_bomb(self.bomb()))

    def test_row7_jpeg_cut_at_25_percent(self):
        """FAILS ON main @ 65128ad: OK with a half-grey picture."""
        data = media.jpeg(os.path.join(self.tmp, "whole.jpg"))
        code, details, _ = call_image(self.stub, pb.StylizeImageRequest(
            image=pb.Image(encoded=data[:len(data) // 4]),
            styles=[pb.Style(index=0)]))
        self.assert_status(code, details, Code.INVALID_ARGUMENT,
                           "truncated", "incomplete", "corrupt", "jpeg",
                           "decode")

    def test_row7_png_bad_crc(self):
        """FAILS ON main @ 65128ad: OK with a half-grey picture."""
        code, details, _ = call_image(self.stub, pb.StylizeImageRequest(
            image=pb.Image(encoded=media.png(64, 64, bad_idat_crc=True)),
            styles=[pb.Style(index=0)]))
        self.assert_status(code, details, Code.INVALID_ARGUMENT,
                           "crc", "corrupt", "png", "decode", "checksum")

    def test_row8_blend_flt_max_weights(self):
        """FAILS ON main @ 65128ad: INVALID_ARGUMENT "weight is inf". Two
        equal weights of one style are that style."""
        image = raw_image(48, 32)
        code, details, blended = call_image(self.stub, pb.StylizeImageRequest(
            image=image, styles=[pb.Style(blend=pb.StyleBlend(
                indices=[0, 0], weights=[FLT_MAX, FLT_MAX]))]))
        self.assertEqual(code, Code.OK, details)
        code, details, plain = call_image(self.stub, pb.StylizeImageRequest(
            image=image, styles=[pb.Style(index=0)]))
        self.assertEqual(code, Code.OK, details)
        a = blended.images[0].image.raw.rgb
        b = plain.images[0].image.raw.rgb
        self.assertEqual(len(a), len(b))
        mean_diff = sum(abs(x - y) for x, y in zip(a, b)) / len(a)
        self.assertLess(mean_diff, 2.0, "blend [0,0] differs from style 0")

    # -- beyond the table ----------------------------------------------------

    def test_extra_bad_blends_are_refused(self):
        cases = [
            ([0, 1], [0, 0], "zero"),
            ([0, 1], [math.nan, 1], "weight"),
            ([0, 1], [-1, 1], "negative"),
            ([0, 1], [1], "weight"),
            ([0, 99], [1, 1], "range"),
            ([], [], "indices"),
        ]
        for indices, weights, word in cases:
            with self.subTest(indices=indices, weights=weights):
                code, details, _ = call_image(
                    self.stub, pb.StylizeImageRequest(
                        image=raw_image(16, 16),
                        styles=[pb.Style(blend=pb.StyleBlend(
                            indices=indices, weights=weights))]))
                self.assert_status(code, details, Code.INVALID_ARGUMENT, word)

    def test_extra_wrong_field_combinations(self):
        cases = [
            ("no image", pb.StylizeImageRequest(styles=[pb.Style(index=0)]),
             ("image",)),
            ("raw size mismatch", pb.StylizeImageRequest(
                image=pb.Image(raw=pb.RawImage(width=16, height=16,
                                               rgb=b"\x00" * 100))),
             ("bytes", "768")),
            ("raw zero width", pb.StylizeImageRequest(
                image=pb.Image(raw=pb.RawImage(width=0, height=16))),
             ("width",)),
            ("empty style", pb.StylizeImageRequest(
                image=raw_image(16, 16), styles=[pb.Style()]),
             ("style",)),
            ("style out of range", pb.StylizeImageRequest(
                image=raw_image(16, 16), styles=[pb.Style(index=1000)]),
             ("range", "1000")),
            ("too many styles", pb.StylizeImageRequest(
                image=raw_image(16, 16),
                styles=[pb.Style(index=0)] * 65),
             ("65", "64", "styles")),
            ("unknown output format", pb.StylizeImageRequest(
                image=raw_image(16, 16), styles=[pb.Style(index=0)],
                output_format=99), ("format",)),
            ("empty encoded", pb.StylizeImageRequest(
                image=pb.Image(encoded=b""), styles=[pb.Style(index=0)]),
             ("empty", "image")),
            ("garbage encoded", pb.StylizeImageRequest(
                image=pb.Image(encoded=os.urandom(4096)),
                styles=[pb.Style(index=0)]), ("png", "jpeg", "decode")),
            ("huge PNG header", pb.StylizeImageRequest(
                image=pb.Image(encoded=media.png_header_only(100000, 100000)),
                styles=[pb.Style(index=0)]), ("pixels", "limit", "100000")),
        ]
        for name, request, words in cases:
            with self.subTest(name):
                code, details, _ = call_image(self.stub, request)
                self.assert_status(code, details, Code.INVALID_ARGUMENT,
                                   *words)

    def test_extra_malformed_protobuf_bytes(self):
        """Bytes that are not a StylizeImageRequest at all."""
        method = self.server.channel.unary_unary(
            "/stylizer.v1.Stylizer/StylizeImage",
            request_serializer=lambda b: b, response_deserializer=lambda b: b)
        for name, payload in [
                ("truncated varint", b"\x0a\xff\xff\xff\xff\xff"),
                ("length beyond the end", b"\x0a\x40\x12\x3e\x08"),
                ("wrong wire type", b"\x0d\x00\x00\x00"),
                ("random", os.urandom(512))]:
            with self.subTest(name):
                try:
                    method(payload, timeout=CALL_TIMEOUT_S)
                    code, details = Code.OK, ""
                except grpc.RpcError as e:
                    code, details = e.code(), e.details() or ""
                # gRPC's own parser answers before the service: its callback
                # API fails a unary call whose request does not parse with
                # UNIMPLEMENTED and no message, which the service cannot
                # change. What matters is a clean error and a server that
                # lives on.
                self.assertIn(code, (Code.INVALID_ARGUMENT, Code.INTERNAL,
                                     Code.UNIMPLEMENTED), details)

    def test_extra_tiny_deadline_on_a_big_image(self):
        code, details, _ = call_image(
            self.stub, pb.StylizeImageRequest(image=raw_image(1024, 768)),
            timeout=0.05)
        self.assertEqual(code, Code.DEADLINE_EXCEEDED, details)


if __name__ == "__main__":
    unittest.main()
