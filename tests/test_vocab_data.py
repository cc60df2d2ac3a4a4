import numpy as np
import pytest
import torch

from charlm.data import build_corpus, check_trainable, get_batch, load_corpus
from charlm.errors import DataError
from charlm.text import decode_bytes, read_text
from charlm.vocab import UNK_ID, CharVocab
from tests.helpers import poems_slice


def test_vocab_round_trip_chinese_and_unknown():
    text = "床前明月光，疑是地上霜。\nHello, world!"
    vocab = CharVocab.from_chars(text)
    enc = vocab.encode(text)
    assert enc.unknown == ()
    assert vocab.decode(enc.ids) == text
    assert UNK_ID not in enc.ids
    restored = CharVocab.from_json(vocab.to_json())
    assert restored.chars == vocab.chars

    enc = vocab.encode("月光🙂ß月")
    assert enc.unknown == ("🙂", "ß")
    assert enc.ids[2] == UNK_ID and enc.ids[3] == UNK_ID
    dropped = vocab.encode("月光🙂ß月", unknown="drop")
    assert vocab.decode(dropped.ids) == "月光月" and dropped.dropped == 2
    with pytest.raises(KeyError, match="🙂"):
        vocab.encode("🙂", unknown="error")


def test_chinese_corpus_trains_like_english():
    corpus = build_corpus(poems_slice(20_000), name="poems")
    assert corpus.vocab.size > 1000
    assert corpus.ids.dtype == np.uint16
    assert corpus.vocab.decode(corpus.ids[:50].tolist()) == poems_slice(50)


def test_encode_array_matches_encode():
    text = "abc 世界\n" * 10
    vocab = CharVocab.from_chars(text)
    assert vocab.encode_array(text).tolist() == vocab.encode(text).ids


@pytest.mark.parametrize(
    "raw, expected",
    [
        (b"\xef\xbb\xbfhello\r\nworld\r\n", "hello\nworld\n"),
        ("h\u00e9llo\r\n".encode("utf-16"), "h\u00e9llo\n"),
        ("h\u00e9llo 世界".encode(), "h\u00e9llo 世界"),
    ],
)
def test_decode_encodings(raw, expected):
    assert decode_bytes(raw) == expected


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"", "empty"),
        (b"   \n\n\t ", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"caf\xe9 au lait", "not valid UTF-8"),
        (bytes(range(1, 32)) * 50, "binary"),
    ],
)
def test_decode_errors_name_the_problem(raw, message):
    with pytest.raises(DataError, match=message):
        decode_bytes(raw, name="upload.txt")


def test_read_text_names_the_file(tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("déjà vu".encode("latin-1"))
    with pytest.raises(DataError, match="latin1.txt"):
        read_text(bad)
    with pytest.raises(DataError, match="no such file"):
        read_text(tmp_path / "missing.txt")
    big = tmp_path / "big.txt"
    big.write_text("a" * 2000)
    with pytest.raises(DataError, match="limit"):
        read_text(big, max_bytes=1000)


def test_split_is_contiguous_last_ten_percent(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("".join(chr(ord("a") + i % 26) for i in range(1000)))
    corpus = load_corpus(p)
    train, val = corpus.split(0.1)
    assert len(train) == 900 and len(val) == 100
    assert np.array_equal(np.concatenate([train, val]), corpus.ids)


def test_too_short_text_is_a_clear_error():
    corpus = build_corpus("short text")
    train, val = corpus.split(0.1)
    with pytest.raises(DataError, match="fewer than one training window"):
        check_trainable(train, val, block_size=64)


def test_batches_are_shifted_windows_and_reproducible():
    ids = np.arange(1, 200, dtype=np.uint16)
    x1, y1 = get_batch(ids, 4, 8, torch.Generator().manual_seed(0))
    x2, y2 = get_batch(ids, 4, 8, torch.Generator().manual_seed(0))
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert torch.equal(x1[:, 1:], y1[:, :-1])
