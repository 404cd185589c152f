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
from unittest import mock

import numpy as np
import torch
from PIL import Image

from stylizer_training.data import find_styles, read_photo_list
from stylizer_training.images import load_rgb, random_crop
from stylizer_training.network import FastStylizationNetwork, cin_names
from stylizer_training.trainer import format_eta, style_schedule

TRAINING_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TRAINING_DIR)
import train  # noqa: E402


def write_image(path, seed, size=(40, 30)):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)


def write_dataset(d, photo_count, blue="blue.png"):
    """Paintings red.png and `blue` and `photo_count` photos under d; returns
    the styles and photos folders."""
    styles, photos = os.path.join(d, "styles"), os.path.join(d, "photos")
    os.makedirs(styles)
    os.makedirs(photos)
    write_image(os.path.join(styles, "red.png"), 1)
    write_image(os.path.join(styles, blue), 2)
    for i in range(photo_count):
        write_image(os.path.join(photos, f"p{i}.png"), 10 + i)
    return styles, photos


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


def run_train(argv, out=None):
    """(exit status, stderr) of train.main(argv); stdout goes to `out` if given."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out or io.StringIO()):
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

    def test_wide_greyscale_images_are_scaled_not_clipped(self):
        # A 16-bit greyscale PNG opens as mode I; convert("RGB") clipped it at
        # 255 of 65535, so it loaded almost white.
        ramp = (np.arange(4 * 64).reshape(4, 64) * 257).astype(np.uint16)
        with tempfile.TemporaryDirectory() as d:
            files = {"png16.png": Image.fromarray(ramp),  # reopens as I
                     "tif16.tif": Image.fromarray(ramp),  # reopens as I;16
                     "int32.tif": Image.fromarray(ramp.astype(np.int32)),
                     "float.tif": Image.fromarray(ramp.astype(np.float32) / 65535)}
            want = torch.from_numpy(ramp / 65535.0).float()
            for name, im in files.items():
                with self.subTest(name=name):
                    im.save(os.path.join(d, name))
                    got = load_rgb(os.path.join(d, name))
                    self.assertEqual(tuple(got.shape), (3, 4, 64))
                    self.assertLessEqual(float((got - want).abs().max()), 0.5 / 255 + 1e-6)
            Image.fromarray(ramp.astype(np.float32)).save(os.path.join(d, "big.tif"))
            with self.assertRaisesRegex(ValueError, r"big.tif: F greyscale image with values "
                                                    r"0\.\.65535, outside 0\.\.1"):
                load_rgb(os.path.join(d, "big.tif"))

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
            styles, photos = write_dataset(d, 3, blue="blue.jpg")
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


class SetupErrorTest(unittest.TestCase):
    """Every input is read and checked before training starts; a bad one is
    one line on stderr and exit status 2 (they were tracebacks, exit status 1)."""

    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        cls.styles, cls.photos = os.path.join(d, "styles"), os.path.join(d, "photos")
        os.makedirs(cls.styles)
        os.makedirs(cls.photos)
        write_image(os.path.join(cls.styles, "red.png"), 1)
        write_image(os.path.join(cls.styles, "blue.png"), 2)
        for i in range(3):
            write_image(os.path.join(cls.photos, f"p{i}.png"), 10 + i)
        cls.common = ["--styles", cls.styles, "--style-names", "red,blue", "--size", "16",
                      "--style-size", "24", "--batch", "2", "--threads", "1",
                      "--loss-net", "filterbank", "--steps", "1"]
        cls.ckpt = os.path.join(d, "run.ckpt")
        rc, err = run_train(cls.common + ["--content", cls.photos, "--checkpoint", cls.ckpt])
        assert rc == 0, err

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def assertRefused(self, argv, message, out=None):
        fresh = self.path("fresh.ckpt")
        rc, err = run_train(argv + ["--checkpoint", fresh], out)
        self.assertEqual(rc, 2, err)
        self.assertRegex(err, r"^train: error: [^\n]*\n$")  # one line
        self.assertIn(message, err)
        self.assertFalse(os.path.exists(fresh))  # before the first step

    def test_missing_or_bad_inputs_are_refused_before_training(self):
        d = self.tmp.name
        os.makedirs(self.path("empty"), exist_ok=True)
        with open(self.path("broken.png"), "wb") as f:
            f.write(b"not an image")
        with open(self.path("list.txt"), "w") as f:
            f.write("photos/p0.png\nphotos/gone.png\n")
        torch.save(FastStylizationNetwork(2).state_dict(), self.path("sd2.pt"))
        torch.save(FastStylizationNetwork(3).state_dict(), self.path("sd3.pt"))
        content = self.common + ["--content", self.photos]
        cases = [
            (self.common + ["--content", self.path("nodir")],
             "train: error: --content: no such image file or directory: " + self.path("nodir")),
            (self.common + ["--content", self.path("empty")], "no content photos"),
            (self.common + ["--photos", self.path("nolist.txt")],
             "cannot read the photo list " + self.path("nolist.txt")),
            (self.common + ["--photos", self.path("list.txt")],
             f"content photo {d}/photos/gone.png of {self.path('list.txt')} is missing"),
            (self.common + ["--content", self.photos, self.path("broken.png")],
             "cannot identify image file"),
            (self.common + ["--content", self.photos, "--styles", self.photos],
             "no painting for style(s) red, blue"),
            (content + ["--content-tap", "5"],
             "--content-tap 5: the filterbank loss network has 5 taps (0 to 4)"),
            (content + ["--content-tap", "-1"], "--content-tap -1"),
            (content + ["--loss-net", "vgg16", "--loss-weights", self.path("none.pth")],
             "--loss-weights: no file"),
            (content + ["--loss-net", "vgg16", "--loss-weights", self.ckpt],
             "not a torchvision VGG-16 state_dict"),
            (content + ["--loss-net", "vgg16", "--loss-weights", self.path("broken.png")],
             "broken.png: cannot read VGG-16 weights"),
            (content + ["--init", self.path("sd3.pt")],
             "holds 3 styles and records no names; --style-names gives 2 (red,blue)"),
            (content + ["--init", self.ckpt, "--style-names", "red,green"],
             f"--init {self.ckpt} has the styles red,blue; --style-names red,green names "
             "green, which it does not have"),
        ]
        for argv, message in cases:
            with self.subTest(argv=argv[len(self.common):]):
                self.assertRefused(argv, message)
        # A missing photo of the default list: the content photos are installed
        # by a script.
        with open(self.path("default.txt"), "w") as f:
            f.write("heldout held.png\n/no/such/photo.jpg\n")
        with mock.patch.object(train, "DEFAULT_PHOTOS", self.path("default.txt")):
            self.assertRefused(self.common, "content photo /no/such/photo.jpg of "
                               f"{self.path('default.txt')} is missing: run "
                               "scripts/install-training-data.sh or give --content")
        # A plain state_dict is not a train.py checkpoint: it was a KeyError.
        rc, err = run_train(["--checkpoint", self.path("sd2.pt"), "--export",
                             self.path("x.pt"), "--export-only"])
        self.assertEqual(rc, 2)
        self.assertRegex(err, r"^train: error: checkpoint .*sd2.pt is not a train.py checkpoint"
                              r".*export_seed.py --checkpoint.*--init[^\n]*\n$")
        self.assertFalse(os.path.exists(self.path("x.pt")))

    def test_init_takes_style_rows_by_name(self):
        # They were copied by index: the fine-tune of "blue" started from red's.
        init = torch.load(self.ckpt)["model"]
        fresh = self.path("swapped.ckpt")
        out = io.StringIO()
        rc, err = run_train(self.common + ["--content", self.photos, "--checkpoint", fresh,
                                           "--init", self.ckpt, "--style-names", "blue,red",
                                           "--lr", "0"], out)  # lr 0: the weights stay
        self.assertEqual(rc, 0, err)
        self.assertIn("style rows taken by name (its styles red,blue; this run's blue,red)",
                      out.getvalue())
        got = torch.load(fresh)["model"]
        for prefix, _ in cin_names():
            key = prefix + ".embed.weight"
            self.assertTrue(torch.equal(got[key], init[key][[1, 0]]), key)
        self.assertTrue(torch.equal(got["conv1.weight"], init["conv1.weight"]))
        # A subset, by name; a bare state_dict by index, which is printed.
        self.assertTrue(torch.equal(train.init_weights(self.ckpt, ["blue"])[
            "instance_norm1.embed.weight"], init["instance_norm1.embed.weight"][1:]))
        bare = self.path("bare.pt")
        torch.save(init, bare)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            state = train.init_weights(bare, ["blue", "red"])
        self.assertIn("records no style names; its style rows are taken by index: "
                      "0 -> blue, 1 -> red", out.getvalue())
        self.assertTrue(torch.equal(state["instance_norm_last.embed.weight"],
                                    init["instance_norm_last.embed.weight"]))

    def test_content_leaves_out_the_held_out_photos(self):
        # They were trained on when --content named their folder.
        with open(self.path("held.txt"), "w") as f:
            f.write("heldout photos/p1.png\n")
        link = self.path("link")
        if not os.path.exists(link):
            os.symlink(self.photos, link)  # the same photo by another path
        fresh = self.path("held.ckpt")
        out = io.StringIO()
        rc, err = run_train(self.common + ["--content", link, "--photos", self.path("held.txt"),
                                           "--checkpoint", fresh], out)
        self.assertEqual(rc, 0, err)
        self.assertIn(f"left out 1 held-out photo(s) of {self.path('held.txt')}", out.getvalue())
        self.assertIn("training 2 styles on 2 photos", out.getvalue())
        self.assertRefused(self.common + ["--content", os.path.join(link, "p1.png"),
                                          "--photos", self.path("held.txt")],
                           "no content photos that are not held out")


class ResumeTest(unittest.TestCase):
    def test_a_resumed_run_equals_an_uninterrupted_one(self):
        # --stat swd drew other projections after a resume: its generator was
        # not in the checkpoint.
        torch.set_num_threads(1)
        with tempfile.TemporaryDirectory() as d:
            styles, photos = write_dataset(d, 2)
            for extra in ([], ["--stat", "swd"]):
                with self.subTest(extra=extra):
                    common = ["--styles", styles, "--style-names", "red,blue", "--content",
                              photos, "--size", "16", "--style-size", "24", "--batch", "2",
                              "--threads", "1", "--loss-net", "filterbank"] + extra
                    a, b = os.path.join(d, "a.ckpt"), os.path.join(d, "b.ckpt")
                    for f in (a, b):
                        if os.path.exists(f):
                            os.remove(f)
                    self.assertEqual(run_train(common + ["--checkpoint", a, "--steps", "4"])[0], 0)
                    self.assertEqual(run_train(common + ["--checkpoint", b, "--steps", "2"])[0], 0)
                    self.assertEqual(run_train(common + ["--checkpoint", b, "--steps", "4"])[0], 0)
                    wa, wb = torch.load(a)["model"], torch.load(b)["model"]
                    self.assertEqual(torch.load(b)["step"], 4)
                    for k in wa:
                        self.assertTrue(torch.equal(wa[k], wb[k]), k)


class CheckpointRefusalTest(unittest.TestCase):
    """A damaged checkpoint, and options a resumed run would ignore, are refused."""

    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        styles, photos = write_dataset(d, 1)
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
