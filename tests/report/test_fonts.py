from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from core.fonts import HangulFontMissing, _system_fonts, has_hangul, pick

NANUM = Path("/usr/share/fonts/truetype/nanum/NanumGothic.ttf")
needs_nanum = pytest.mark.skipif(not NANUM.exists(), reason="fonts-nanum not installed")


def _dejavu() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


# Two label sets alike in everything but which Hangul syllables they hold: same lengths, same
# values, so the same bars and layout. Drawn without Hangul glyphs every syllable is the same
# empty box (tofu) and the two plots are identical pixel for pixel.
LABELS_A = {"감동/감탄": 0.5, "짜증": 0.25}
LABELS_B = {"기쁨/슬픔": 0.5, "분노": 0.25}


def _no_hangul_font(monkeypatch: pytest.MonkeyPatch) -> None:
    from core import fonts

    def missing(preferred: str | None = None) -> str:
        raise HangulFontMissing("no font with Hangul glyphs found; install fonts-nanum")

    monkeypatch.setattr(fonts, "hangul_font", missing)


def _f1_plot(labels: Mapping[str, float], path: Path) -> np.ndarray:
    """plot_per_label_f1's PNG, as RGBA pixels, drawn from matplotlib's default settings as in
    a fresh process (an earlier test's plot may have left the Hangul font in rcParams)."""
    import matplotlib
    from matplotlib import image

    from models import evaluate

    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        return image.imread(evaluate.plot_per_label_f1(labels, path))


def test_no_hangul_font_fails_naming_the_package() -> None:
    dejavu = _dejavu()
    assert dejavu.exists() and not has_hangul(dejavu)
    with pytest.raises(HangulFontMissing, match="fonts-nanum"):
        pick([dejavu])


def test_a_named_font_without_hangul_is_refused() -> None:
    with pytest.raises(HangulFontMissing, match=r"report\.font = 'DejaVu Sans'"):
        pick([_dejavu()], preferred="DejaVu Sans")


@needs_nanum
def test_nanum_gothic_regular_is_preferred() -> None:
    found = pick(_system_fonts())
    assert found.name == "NanumGothic.ttf" and has_hangul(found)
    assert pick([_dejavu(), NANUM]) == NANUM  # a Hangul font wins over any other
    assert pick([_dejavu()], preferred=str(NANUM)) == NANUM  # a file path works too


@needs_nanum
def test_training_plots_draw_korean_labels_with_the_hangul_font(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matplotlib
    from matplotlib import font_manager

    from models import evaluate

    drawn_a = _f1_plot(LABELS_A, tmp_path / "a.png")
    drawn_b = _f1_plot(LABELS_B, tmp_path / "b.png")
    with monkeypatch.context() as m:
        _no_hangul_font(m)
        tofu_a = _f1_plot(LABELS_A, tmp_path / "tofu_a.png")
        tofu_b = _f1_plot(LABELS_B, tmp_path / "tofu_b.png")
    # the premise: as boxes, the two label sets look the same
    assert np.array_equal(tofu_a, tofu_b)
    # with the Hangul font each syllable is its own glyph: the plots differ, in the labels only
    assert drawn_a.shape == drawn_b.shape == tofu_a.shape
    differs = np.any(drawn_a != drawn_b, axis=-1)
    assert differs.any(), "the Hangul labels were drawn as boxes"
    cols = np.flatnonzero(differs.any(axis=0))
    assert cols.max() < drawn_a.shape[1] // 2  # the y tick labels, left of the bars
    with matplotlib.rc_context():
        plt = evaluate._pyplot()
        family = plt.rcParams["font.family"][0]
        found = Path(font_manager.findfont(font_manager.FontProperties(family=family)))
        assert has_hangul(found)  # the family resolves to a font that draws 감동


def test_training_plots_fall_back_without_a_hangul_font(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _no_hangul_font(monkeypatch)
    with caplog.at_level("WARNING", logger="kreview.models.evaluate"):
        pixels = _f1_plot({"감동/감탄": 0.5, "짜증": 0.25}, tmp_path / "f1.png")
    # training goes on: the plot is written, 6 x 3 in at 110 dpi, with its two bars in green
    assert pixels.shape == (330, 660, 4)
    green = np.all(np.abs(pixels[..., :3] - np.array([0x2C, 0xA0, 0x2C]) / 255) < 0.02, axis=-1)
    bar_starts = np.diff(green.any(axis=1).astype(int)) == 1  # rows where a bar begins
    assert green.sum() > 1000 and np.count_nonzero(bar_starts) == 2
    assert "fonts-nanum" in caplog.text and "boxes" in caplog.text
