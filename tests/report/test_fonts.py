from __future__ import annotations

from pathlib import Path

import pytest

from etl.report.fonts import HangulFontMissing, _system_fonts, has_hangul, pick

NANUM = Path("/usr/share/fonts/truetype/nanum/NanumGothic.ttf")
needs_nanum = pytest.mark.skipif(not NANUM.exists(), reason="fonts-nanum not installed")


def _dejavu() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


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
def test_training_plots_draw_korean_labels_with_the_hangul_font(tmp_path: Path) -> None:
    import matplotlib
    from matplotlib import font_manager

    from models import evaluate

    with matplotlib.rc_context():
        plt = evaluate._pyplot()
        family = plt.rcParams["font.family"][0]
        found = Path(font_manager.findfont(font_manager.FontProperties(family=family)))
        assert has_hangul(found)  # the family resolves to a font that draws 감동
        png = evaluate.plot_per_label_f1({"감동/감탄": 0.5, "짜증": 0.25}, tmp_path / "f1.png")
    assert png.stat().st_size > 1000


def test_training_plots_fall_back_without_a_hangul_font(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import matplotlib

    from etl.report import fonts
    from models import evaluate

    def missing(preferred: str | None = None) -> str:
        raise HangulFontMissing("no font with Hangul glyphs found; install fonts-nanum")

    monkeypatch.setattr(fonts, "hangul_font", missing)
    with matplotlib.rc_context(), caplog.at_level("WARNING", logger="kreview.models.evaluate"):
        png = evaluate.plot_per_label_f1({"감동/감탄": 0.5}, tmp_path / "f1.png")
    assert png.stat().st_size > 1000  # training goes on: the plot is written
    assert "fonts-nanum" in caplog.text and "boxes" in caplog.text
