"""Tests of the exporter: what it writes must be what the server reads."""
import contextlib
import io
import json
import os
import tempfile
import unittest
import zipfile

import torch

import export_seed
from stylizer_training.export import ExportError, export_archive


def archive_file(path, name):
    """The text of `name` (e.g. stylizer/styles.json) inside a saved archive."""
    with zipfile.ZipFile(path) as z:
        for entry in z.namelist():
            if entry.endswith("/extra/" + name):
                return z.read(entry).decode("utf-8")
    raise KeyError(name)


class ExportTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def test_nan_in_metadata_is_refused_at_export(self):
        # NaN is not JSON: the archive was written, and the server refused it
        # at load ("invalid JSON ... expected a value").
        state = export_seed.random_state_dict(2, 0)
        with self.assertRaisesRegex(ExportError, "NaN"):
            export_archive(state, ["a", "b"], self.path("nan.pt"),
                           {"training": {"final_loss": float("nan")}})
        self.assertFalse(os.path.exists(self.path("nan.pt")))

    def test_names_the_cli_cannot_choose_are_refused(self):
        # "1920" was read as an index by --styles, " mosaic" could not be
        # named at all (the CLI strips the reference), nor "a+b" or "all".
        state = export_seed.random_state_dict(2, 0)
        for bad in ("1920", " mosaic", "mosaic ", "a+b", "a,b", "a:b", "ALL", "", "a\nb"):
            with self.subTest(name=bad):
                with self.assertRaises(ExportError):
                    export_archive(state, [bad, "x"], self.path("bad.pt"), {})
                self.assertFalse(os.path.exists(self.path("bad.pt")))
        with self.assertRaisesRegex(ExportError, "unique"):
            export_archive(state, ["x", "x"], self.path("bad.pt"), {})
        # Names that start with a digit, or are not ASCII, are fine.
        export_archive(state, ["1920s", "nuit étoilée"], self.path("good.pt"), {})

    def test_spaces_after_the_commas_of_names_are_dropped(self):
        out = self.path("spaced.pt")
        self.assertEqual(export_seed.main(["--random", "2", "--names", "klimt, mosaic",
                                           "--out", out]), 0)
        styles = json.loads(archive_file(out, "stylizer/styles.json"))
        self.assertEqual([s["name"] for s in styles], ["klimt", "mosaic"])

    def test_the_gpu_path_of_the_module_is_checked_too(self):
        # CUDA tensors take ServingNetwork._batch, which the check never ran:
        # an archive whose GPU path was wrong was written.
        from stylizer_training import export, serving

        class WrongOnGpus(serving.ServingNetwork):
            def _batch(self, images: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
                out = torch.empty_like(images)
                for i in range(images.shape[0]):
                    out[i:i + 1] = self._image(images[i:i + 1], w[i:i + 1])
                return out.flip([1])  # blue and red swapped

        state = export_seed.random_state_dict(2, 0)
        export.ServingNetwork = WrongOnGpus
        try:
            with self.assertRaisesRegex(ExportError, "whole-batch"):
                export_archive(state, ["a", "b"], self.path("gpu.pt"), {})
        finally:
            export.ServingNetwork = serving.ServingNetwork
        self.assertFalse(os.path.exists(self.path("gpu.pt")))

    def test_a_trainer_checkpoint_keeps_its_style_names(self):
        # train.py saves its style names in the checkpoint's opts; the
        # conversion labelled the styles with the original's names instead.
        ckpt = {"model": export_seed.random_state_dict(2, 0), "step": 10,
                "opts": {"style_names": ["mosaic", "van_gogh"]}}
        torch.save(ckpt, self.path("run.ckpt"))
        out = self.path("run.pt")
        self.assertEqual(export_seed.main(["--checkpoint", self.path("run.ckpt"),
                                           "--out", out]), 0)
        styles = json.loads(archive_file(out, "stylizer/styles.json"))
        self.assertEqual([s["name"] for s in styles], ["mosaic", "van_gogh"])
        # --names still wins.
        self.assertEqual(export_seed.main(["--checkpoint", self.path("run.ckpt"),
                                           "--out", out, "--names", "x,y"]), 0)
        styles = json.loads(archive_file(out, "stylizer/styles.json"))
        self.assertEqual([s["name"] for s in styles], ["x", "y"])

    def test_an_archive_is_exported_again_with_its_names_and_metadata(self):
        # How models/default.pt takes a fix of the serving code: same
        # weights, names and metadata.
        first = self.path("first.pt")
        export_archive(export_seed.random_state_dict(2, 0), ["ink", "oil"], first,
                       {"name": "mine", "training": {"steps": 7}})
        again = self.path("again.pt")
        self.assertEqual(export_seed.main(["--archive", first, "--out", again]), 0)
        for name in ("stylizer/styles.json", "stylizer/model.json"):
            self.assertEqual(json.loads(archive_file(again, name)),
                             json.loads(archive_file(first, name)), name)
        a = torch.jit.load(first).state_dict()
        b = torch.jit.load(again).state_dict()
        self.assertTrue(all(torch.equal(a[k], b[k]) for k in a))
        self.assertEqual(export_seed.main(["--archive", self.path("none.pt"),
                                           "--out", again]), 2)

    def damaged_copy(self, path, name):
        """A copy of `path` with one bit changed in the middle (inside the
        weights: still finite numbers, which export); asserts that a member
        fails its CRC-32, and returns (copy, that member)."""
        with open(path, "rb") as f:
            data = bytearray(f.read())
        data[len(data) // 2] ^= 0x01
        out = self.path(name)
        with open(out, "wb") as f:
            f.write(data)
        with zipfile.ZipFile(out) as z:
            bad = z.testzip()
        self.assertIsNotNone(bad)
        return out, bad

    def test_damaged_weights_are_not_exported_again(self):
        # torch.jit.load and torch.load never check the members' CRC-32: an
        # archive or checkpoint damaged by a bad copy loaded, and the archive
        # written from it carried the damage under fresh CRCs, which the
        # server then served.
        first = self.path("first.pt")
        export_archive(export_seed.random_state_dict(2, 0), ["ink", "oil"], first, {})
        checkpoint = self.path("checkpoint.pt")
        torch.save(export_seed.random_state_dict(2, 0), checkpoint)
        for flag, source in (("--archive", first), ("--checkpoint", checkpoint)):
            with self.subTest(flag=flag):
                damaged, member = self.damaged_copy(source, "damaged.pt")
                out = self.path("again.pt")
                err = io.StringIO()
                with contextlib.redirect_stderr(err):
                    rc = export_seed.main([flag, damaged, "--out", out])
                self.assertEqual(rc, 2)
                self.assertIn(f"{damaged} is damaged: member {member} fails its CRC-32 "
                              "check; copy the file again", err.getvalue())
                self.assertFalse(os.path.exists(out))

    def test_an_unwritable_out_is_refused_in_one_line(self):
        # It was a traceback from open().
        out = self.path("no/such/dir/x.pt")
        os.makedirs(self.path("no"))
        with open(self.path("no/such"), "w"):
            pass  # a file where the directory should be
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            rc = export_seed.main(["--random", "1", "--out", out])
        self.assertEqual(rc, 2)
        self.assertRegex(err.getvalue(), f"^export_seed: error: cannot write {out}: ")
        self.assertNotIn("Traceback", err.getvalue())


if __name__ == "__main__":
    unittest.main()
