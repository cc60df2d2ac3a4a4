"""Checkpoint zips (charlm.storage.archive): a round trip, and an untrusted zip cannot write outside ``dest``."""

import zipfile

import pytest
import torch

from charlm.errors import CheckpointError
from charlm.models import ModelConfig, build_model
from charlm.storage.archive import MAX_MEMBERS, pack_checkpoint, unpack_checkpoint
from charlm.storage.checkpoint import CONFIG_FILE, MODEL_FILE, load_checkpoint, save_checkpoint
from charlm.vocab import CharVocab
from tests.helpers import TINY


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    vocab = CharVocab.from_chars("abc ")
    config = ModelConfig(arch="gru", vocab_size=vocab.size, **TINY["gru"])
    save_checkpoint(tmp_path / "ck", build_model(config), vocab, config)
    return tmp_path / "ck"


def test_pack_then_unpack_gives_back_the_same_checkpoint(checkpoint, tmp_path):
    zpath = pack_checkpoint(checkpoint, tmp_path / "m.zip", "m")
    assert sorted(zipfile.ZipFile(zpath).namelist()) == [f"m/{CONFIG_FILE}", f"m/{MODEL_FILE}"]
    (tmp_path / "out").mkdir()
    unpack_checkpoint(zpath, tmp_path / "out", max_bytes=1 << 30)
    for name in (CONFIG_FILE, MODEL_FILE):
        assert (tmp_path / "out" / name).read_bytes() == (checkpoint / name).read_bytes()
    assert load_checkpoint(tmp_path / "out").vocab.chars == load_checkpoint(checkpoint).vocab.chars


def test_member_paths_are_never_used_to_write(checkpoint, tmp_path):
    """``../../config.json`` is read, but written to ``dest/config.json``: nothing lands outside ``dest``."""
    zpath = tmp_path / "evil.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for name in (CONFIG_FILE, MODEL_FILE):
            zf.write(checkpoint / name, f"../../{name}")
        zf.writestr("../../outside.txt", "x")
    dest = tmp_path / "a" / "b" / "dest"
    dest.mkdir(parents=True)
    unpack_checkpoint(zpath, dest, max_bytes=1 << 30)
    assert sorted(p.name for p in dest.iterdir()) == [CONFIG_FILE, MODEL_FILE]
    assert not (tmp_path / "outside.txt").exists() and not (tmp_path / "a" / CONFIG_FILE).exists()


def test_a_training_folder_zip_gives_its_best_checkpoint(checkpoint, tmp_path):
    zpath = tmp_path / "run.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr(f"run/last/{CONFIG_FILE}", "not this one")
        zf.writestr(f"run/last/{MODEL_FILE}", "not this one")
        for name in (CONFIG_FILE, MODEL_FILE):
            zf.write(checkpoint / name, f"run/best/{name}")
    unpack_checkpoint(zpath, tmp_path, max_bytes=1 << 30)
    assert (tmp_path / CONFIG_FILE).read_bytes() == (checkpoint / CONFIG_FILE).read_bytes()


@pytest.mark.parametrize("problem", ["not a zip", "too many", "no pair", "too big"])
def test_bad_zips_are_refused_with_a_checkpoint_error(checkpoint, tmp_path, problem):
    zpath = tmp_path / "bad.zip"
    if problem == "not a zip":
        zpath.write_bytes(b"PK but not really")
    else:
        with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
            if problem == "too many":
                for i in range(MAX_MEMBERS + 1):
                    zf.writestr(f"f{i}", "")
            elif problem == "no pair":
                zf.write(checkpoint / CONFIG_FILE, CONFIG_FILE)
            else:  # a small zip that unpacks past the limit (a zip bomb in miniature)
                zf.writestr(CONFIG_FILE, "{}" + " " * 100_000)
                zf.writestr(MODEL_FILE, b"\0" * 100_000)
    words = {"not a zip": "not a valid zip", "too many": "holds", "no pair": "no folder", "too big": "more than"}
    with pytest.raises(CheckpointError, match=words[problem]):
        unpack_checkpoint(zpath, tmp_path, max_bytes=50_000)
