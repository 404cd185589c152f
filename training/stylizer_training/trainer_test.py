"""Tests of the training loop, checkpoints, the photo list and train.py end to end."""
import contextlib
import io
import os
import shutil
import random
import sys
import tempfile
import unittest
import zipfile

import numpy as np
import torch
from PIL import Image

from stylizer_training.data import find_styles, read_photo_list
from stylizer_training.images import random_crop
from stylizer_training.trainer import format_eta, style_schedule

TRAINING_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TRAINING_DIR)
import train  # noqa: E402


def write_image(path, seed, size=(40, 30)):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)


def damage(src, dst):
    """Copies src to dst with one bit flipped inside its largest zip member's data."""
    with zipfile.ZipFile(src) as z:
        info = max(z.infolist(), key=lambda i: i.file_size)
    with open(src, "rb") as f:
        data = bytearray(f.read())
    header = data[info.header_offset:info.header_offset + 30]
    start = (info.header_offset + 30 + int.from_bytes(header[26:28], "little")
             + int.from_bytes(header[28:30], "little"))
    data[start + info.file_size // 2] ^= 0x40
    with open(dst, "wb") as f:
        f.write(data)


def run_train(argv):
    """(exit status, stderr) of train.main(argv)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = train.main(argv)
        except SystemExit as e:
            rc = e.code
    return rc, err.getvalue()


class PiecesTest(unittest.TestCase):
    def test_every_batch_holds_all_styles(self):
        rng = random.Random(0)
        for _ in range(5):
            self.assertEqual(sorted(style_schedule(8, 8, rng)), list(range(8)))
        rows = style_schedule(3, 7, rng)
        self.assertEqual(len(rows), 7)
        self.assertEqual(sorted(rows[:3]), [0, 1, 2])

    def test_format_eta(self):
        self.assertEqual(format_eta(3725), "1:02:05")
        self.assertEqual(format_eta(-4), "0:00:00")

    def test_random_crop(self):
        crop = random_crop(torch.rand(3, 30, 50), 16, random.Random(1))
        self.assertEqual(tuple(crop.shape), (3, 16, 16))

    def test_photo_list_and_styles(self):
        with tempfile.TemporaryDirectory() as d:
            lst = os.path.join(d, "list.txt")
            with open(lst, "w") as f:
                f.write("# comment\na.png\nheldout /abs/b.png  # note\n\n")
            train_photos, held = read_photo_list(lst)
            self.assertEqual(train_photos, [os.path.join(d, "a.png")])
            self.assertEqual(held, ["/abs/b.png"])
            write_image(os.path.join(d, "one.jpg"), 0)
            self.assertEqual(find_styles(d, ["one"]), [os.path.join(d, "one.jpg")])
            with self.assertRaises(FileNotFoundError):
                find_styles(d, ["one", "two"])


class TrainScriptTest(unittest.TestCase):
    def test_bad_arguments_are_refused_before_training(self):
        base = ["--checkpoint", "x.ckpt"]
        for extra in (["--checkpoint-every", "0"],  # was a ZeroDivisionError after step 1
                      ["--style-names", "a,1920"]):  # was refused only at the export
            with self.subTest(extra=extra):
                with self.assertRaises(SystemExit) as cm:
                    train.parse_args(base + extra)
                self.assertEqual(cm.exception.code, 2)
        self.assertEqual(train.parse_args(base + ["--style-names", "a, b"]).style_names,
                         ["a", "b"])

    def test_bad_values_are_refused_before_loading_anything(self):
        # Each was a traceback after the photos and the loss network loaded.
        base = ["--checkpoint", "x.ckpt"]
        for extra in (["--batch", "0"], ["--size", "0"], ["--size", "-4"],
                      ["--loss-seeds", "x"], ["--init", "no/such.ckpt"],
                      ["--styles", "no/such/dir"]):
            with self.subTest(extra=extra):
                rc, err = run_train(base + extra)
                self.assertEqual(rc, 2)
                self.assertIn("error: " + extra[0], err)
        self.assertEqual(train.parse_args(base + ["--loss-seeds", "1,2"]).loss_seeds, [1, 2])

    def test_the_seed_decides_the_starting_weights(self):
        from stylizer_training.trainer import Trainer
        with tempfile.TemporaryDirectory() as d:
            write_image(os.path.join(d, "p.png"), 1)
            painting = torch.rand(3, 24, 24)

            def first_weights(seed, before):
                torch.manual_seed(before)  # whatever came before
                opts = vars(train.parse_args(["--checkpoint", "x", "--seed", str(seed),
                                              "--size", "16", "--style-size", "24"]))
                opts["loss_seeds"] = [1]
                return Trainer(opts, [os.path.join(d, "p.png")], [painting],
                               log=lambda _: None).net.conv1.weight.detach().clone()

            self.assertTrue(torch.equal(first_weights(0, before=1), first_weights(0, before=2)))
            self.assertFalse(torch.equal(first_weights(0, before=1), first_weights(1, before=1)))

    def test_train_resume_export(self):
        from stylizer_training.export import load_archive_metadata
        torch.set_num_threads(1)
        with tempfile.TemporaryDirectory() as d:
            styles, photos = os.path.join(d, "styles"), os.path.join(d, "photos")
            os.makedirs(styles)
            os.makedirs(photos)
            write_image(os.path.join(styles, "red.png"), 1)
            write_image(os.path.join(styles, "blue.jpg"), 2)
            for i in range(3):
                write_image(os.path.join(photos, f"p{i}.png"), 10 + i)
            ckpt = os.path.join(d, "run.ckpt")
            common = ["--styles", styles, "--style-names", "red,blue", "--content", photos,
                      "--checkpoint", ckpt, "--size", "16", "--style-size", "24",
                      "--batch", "2", "--threads", "1", "--checkpoint-every", "1"]
            self.assertEqual(train.main(common + ["--steps", "2"]), 0)
            self.assertEqual(torch.load(ckpt)["step"], 2)
            archive = os.path.join(d, "model.pt")
            self.assertEqual(train.main(common + ["--steps", "3", "--export", archive]), 0)
            self.assertEqual(torch.load(ckpt)["step"], 3)
            meta = load_archive_metadata(archive)
            self.assertEqual([s["name"] for s in meta["styles"]], ["red", "blue"])
            self.assertEqual(meta["model"]["training"]["steps"], 3)
            module = torch.jit.load(archive)
            out = module(torch.rand(1, 3, 8, 12), torch.tensor([[0.5, 0.5]]))
            self.assertEqual(tuple(out.shape), (1, 3, 8, 12))
            fresh = os.path.join(d, "fresh.ckpt")
            self.assertEqual(train.main(common + ["--checkpoint", fresh, "--init", ckpt,
                                                       "--steps", "1", "--size", "20"]), 0)
            self.assertEqual(torch.load(fresh)["opts"]["size"], 20)
            self.assertEqual(train.main(["--checkpoint", os.path.join(d, "none.ckpt"),
                                         "--export", archive, "--export-only"]), 2)


class CheckpointRefusalTest(unittest.TestCase):
    """A damaged checkpoint, and options a resumed run would ignore, are refused."""

    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        styles, photos = os.path.join(d, "styles"), os.path.join(d, "photos")
        os.makedirs(styles)
        os.makedirs(photos)
        write_image(os.path.join(styles, "red.png"), 1)
        write_image(os.path.join(styles, "blue.png"), 2)
        write_image(os.path.join(photos, "p.png"), 10)
        cls.ckpt = os.path.join(d, "run.ckpt")
        cls.common = ["--styles", styles, "--style-names", "red,blue", "--content", photos,
                      "--size", "16", "--style-size", "24", "--batch", "2", "--threads", "1",
                      "--loss-net", "filterbank"]
        rc, err = run_train(cls.common + ["--checkpoint", cls.ckpt, "--steps", "1"])
        assert rc == 0, err
        cls.bad = os.path.join(d, "bad.ckpt")
        damage(cls.ckpt, cls.bad)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_a_damaged_checkpoint_is_refused(self):
        # torch.load never checks the CRCs: the damaged weights were exported
        # (under fresh CRCs), resumed, or used as --init without a word.
        archive = os.path.join(self.tmp.name, "bad.pt")
        fresh = os.path.join(self.tmp.name, "fresh.ckpt")
        for argv in (["--checkpoint", self.bad, "--export", archive, "--export-only"],
                     self.common + ["--checkpoint", self.bad, "--steps", "2"],
                     self.common + ["--checkpoint", fresh, "--init", self.bad, "--steps", "1"]):
            with self.subTest(argv=argv):
                rc, err = run_train(argv)
                self.assertEqual(rc, 2)
                self.assertRegex(err, r"^train: error: (checkpoint|--init file) .*bad.ckpt "
                                      r"is damaged: member .* fails its CRC-32 check")
                self.assertNotIn("Traceback", err)
        self.assertFalse(os.path.exists(archive))
        self.assertFalse(os.path.exists(fresh))

    def test_a_resumed_run_refuses_other_model_options_and_init(self):
        # They were dropped in silence: the old run went on as it was.
        resume = self.common + ["--checkpoint", self.ckpt, "--steps", "1"]
        rc, err = run_train(resume + ["--size", "20", "--lr", "0.5"])
        self.assertEqual(rc, 2)
        self.assertIn("--size (checkpoint: 16, given: 20); --lr (checkpoint: 0.001, given: 0.5)",
                      err)
        rc, err = run_train(resume + ["--init", self.ckpt])
        self.assertEqual(rc, 2)
        self.assertIn(f"--init {self.ckpt}: checkpoint {self.ckpt} exists", err)
        # The same command (also given with its defaults spelled out) resumes.
        self.assertEqual(run_train(resume + ["--lr", "1e-3", "--seed", "0"])[0], 0)
        # A run started with --init resumes with the same command.
        fresh = os.path.join(self.tmp.name, "init.ckpt")
        start = self.common + ["--checkpoint", fresh, "--init", self.ckpt]
        self.assertEqual(run_train(start + ["--steps", "1"])[0], 0)
        self.assertEqual(run_train(start + ["--steps", "2"])[0], 0)
        self.assertEqual(torch.load(fresh)["step"], 2)
        # Resumed, its --init is not read: it may be gone.
        gone = os.path.join(self.tmp.name, "gone.ckpt")
        shutil.copy(self.ckpt, gone)
        second = os.path.join(self.tmp.name, "second.ckpt")
        start = self.common + ["--checkpoint", second, "--init", gone]
        self.assertEqual(run_train(start + ["--steps", "1"])[0], 0)
        os.remove(gone)
        rc, err = run_train(start + ["--steps", "2"])
        self.assertEqual(rc, 0, err)
        # A checkpoint written before the start was recorded resumes with the
        # multi-stage command's --init (not read).
        old = os.path.join(self.tmp.name, "old.ckpt")
        ckpt = torch.load(second)
        del ckpt["opts"]["init"]
        torch.save(ckpt, old)
        rc, err = run_train(self.common + ["--checkpoint", old, "--init", gone, "--steps", "3"])
        self.assertEqual(rc, 0, err)
        self.assertEqual(torch.load(old)["step"], 3)


if __name__ == "__main__":
    unittest.main()
