"""The real bootstrapped multilingual-e5-small: a few LoRA steps on NSMC, register, reload.

Skipped unless `kreview models bootstrap` has built the base in the repository's warehouse
and ../shared/data is present. Slow: it loads 470 MB of weights twice.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.warehouse import Warehouse
from models.base.encoder import registry_base_dir
from models.config import DEFAULT_BASE
from models.data import read_nsmc
from models.registry.bundle import load_current
from models.training.workflow import run_training
from tests.models.tiny_tasks import fast_request

REPO = Path(__file__).resolve().parents[2]
BASE = registry_base_dir(REPO / "warehouse" / "models", DEFAULT_BASE)
NSMC = REPO.parent / "shared" / "data" / "nsmc"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (BASE / "model.safetensors").is_file(), reason="base not bootstrapped"),
    pytest.mark.skipif(not NSMC.is_dir(), reason="../shared/data/nsmc not present"),
]


def test_lora_steps_on_the_real_base_register_and_reload(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "wh")
    # the default id resolves offline to the bootstrapped copy in this warehouse's registry
    (wh.models_dir / "base").mkdir(parents=True)
    (wh.models_dir / "base" / BASE.name).symlink_to(BASE)
    req = fast_request(
        "sentiment", {"sentiment": [str(NSMC / "ratings_train.txt.gz")]}, DEFAULT_BASE
    )
    req = replace(
        req,  # type: ignore[type-var]
        prefix="query: ",
        max_length=64,
        limit=96,
        eval_limit=64,
        hyper=replace(req.hyper, lr=3e-4, epochs=1),  # type: ignore[attr-defined]
    )
    out = run_training(req, wh)  # type: ignore[arg-type]
    cfg = out.info.config
    assert cfg["base"] == {**cfg["base"], "id": DEFAULT_BASE, "source": "registry"}
    assert cfg["base"]["hidden_size"] == 384
    # LoRA r=4 on 72 linear layers: 331,776 float32 values (1.3 MB) beside a 470 MB base
    assert (out.info.path / "adapter.safetensors").stat().st_size < 1_400_000

    models = load_current(wh.models_dir, device="cpu", tasks=("sentiment",))
    texts = list(read_nsmc(NSMC / "ratings_test.txt.gz").sample(16, 0).texts)
    got = models.predict(texts)["sentiment"]
    net = out.result.network
    from models.inference import TextInput, encode_texts, head_outputs

    pooled = encode_texts(net.encoder, TextInput(out.result.tokenizer, "query: ", 64), texts)
    want = head_outputs("sentiment", net.heads["sentiment"], pooled)
    np.testing.assert_allclose(got, want, atol=1e-4)
