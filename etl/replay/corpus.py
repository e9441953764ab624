"""Synthetic Korean reviews for the replay site: deterministic from a seed.

Films are named like real Korean releases (plus generated names past the built-in list, for
benchmarks). Review texts mix praise and complaints with the things that trip models up:
ㅋㅋ/ㅠㅠ runs, ^^, emoji (with skin tones and ZWJ sequences), a rating written in the text
("6.3점"), horror praise that sounds negative ("무서워요"), line breaks and spoilers.
Nothing here is a real person's review.
"""

from __future__ import annotations

import hashlib
import random
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

KST = ZoneInfo("Asia/Seoul")
# Reviews are dated back from here, so a corpus is the same whenever it is generated.
ANCHOR = datetime(2026, 11, 1, 12, 0, tzinfo=KST)
SITES = ("watcha", "naver")

# (name, year, genre). 올드보이 appears twice on purpose: a name clash only a year resolves.
DEMO_FILMS: tuple[tuple[str, int, str], ...] = (
    ("기생충", 2019, "drama"),
    ("올드보이", 2003, "thriller"),
    ("올드보이", 2013, "thriller"),
    ("부산행", 2016, "horror"),
    ("곡성", 2016, "horror"),
    ("괴물", 2006, "horror"),
    ("살인의 추억", 2003, "thriller"),
    ("택시운전사", 2017, "drama"),
    ("명량", 2014, "action"),
    ("극한직업", 2019, "comedy"),
    ("신과함께-죄와 벌", 2017, "fantasy"),
    ("베테랑", 2015, "action"),
    ("암살", 2015, "action"),
    ("도둑들", 2012, "action"),
    ("광해, 왕이 된 남자", 2012, "drama"),
    ("변호인", 2013, "drama"),
    ("국제시장", 2014, "drama"),
    ("아가씨", 2016, "thriller"),
    ("헤어질 결심", 2022, "romance"),
    ("범죄도시", 2017, "action"),
    ("범죄도시2", 2022, "action"),
    ("서울의 봄", 2023, "drama"),
    ("파묘", 2024, "horror"),
    ("밀수", 2023, "action"),
    ("엑시트", 2019, "comedy"),
    ("써니", 2011, "comedy"),
    ("건축학개론", 2012, "romance"),
    ("7번방의 선물", 2013, "drama"),
    ("마더", 2009, "thriller"),
    ("추격자", 2008, "thriller"),
    ("늑대소년", 2012, "romance"),
    ("과속스캔들", 2008, "comedy"),
    ("왕의 남자", 2005, "drama"),
    ("클래식", 2003, "romance"),
    ("장화, 홍련", 2003, "horror"),
    ("알포인트", 2004, "horror"),
    ("곤지암", 2018, "horror"),
    ("콘크리트 유토피아", 2023, "drama"),
    ("헌트", 2022, "action"),
    ("한산: 용의 출현", 2022, "action"),
    ("리틀 포레스트", 2018, "drama"),
    ("벌새", 2019, "drama"),
)
# Only in the replay: the demo's titles list asks for it, and the sites have never heard of it.
MISSING_TITLE = "존재하지 않는 영화"

_NAME_A = (
    "밤의",
    "푸른",
    "마지막",
    "잃어버린",
    "우리들의",
    "작은",
    "뜨거운",
    "조용한",
    "긴",
    "낯선",
)
_NAME_B = (
    "항구",
    "기억",
    "여름",
    "정원",
    "편지",
    "골목",
    "섬",
    "바다",
    "약속",
    "도시",
    "겨울",
    "노래",
)
_GENRES = ("drama", "thriller", "horror", "comedy", "romance", "action", "fantasy")

_POSITIVE = (
    "배우들 연기 미쳤다",
    "진짜 인생영화 등극",
    "두 번 봤는데 두 번 다 울었어요",
    "연출이 너무 좋아서 시간 가는 줄 몰랐다",
    "OST가 계속 귀에 맴돌아요",
    "마지막 장면에서 소름 돋았음",
    "감독님 다음 작품도 무조건 봅니다",
    "가족이랑 같이 보기 딱 좋은 영화",
    "이런 영화가 더 많이 나와야 한다",
    "배우 케미가 최고",
    "웃다가 울다가 정신없었네요",
    "러닝타임 내내 긴장감 장난 아님",
)
_NEGATIVE = (
    "기대했는데 너무 지루했다",
    "스토리가 산으로 감",
    "돈이 아까운 영화",
    "중반부터 졸았어요",
    "억지 감동 그만",
    "캐릭터들이 왜 저러는지 이해가 안 됨",
    "예고편이 전부였다",
    "결말이 너무 허무해요",
    "연기는 좋은데 각본이 별로",
    "광고에 속았다",
)
_NEUTRAL = (
    "그럭저럭 볼만했어요",
    "호불호 갈릴 듯",
    "한 번쯤은 볼 만함",
    "킬링타임용으로는 괜찮음",
    "생각했던 거랑은 좀 달랐다",
    "극장보다는 집에서 보기 좋은 영화",
)
_HORROR_PRAISE = (
    "무서워요 진짜 너무 무서워요",
    "밤에 혼자 보지 마세요 무서워서 잠 못 잠",
    "심장 약하신 분들은 비추 근데 너무 잘 만듦",
    "소리 지르면서 봤어요",
)
_COMEDY_PRAISE = ("배꼽 빠지는 줄", "대사 하나하나가 웃김", "극장에서 다 같이 빵 터짐")
_SPOILERS = (
    "범인이 사실 처음부터 옆에 있었다니",
    "주인공이 마지막에 죽을 줄은 몰랐음",
    "반전 알고 보니 더 소름",
    "결국 형이 범인이었네요",
)
# Composed phrases ("스토리가 생각보다 지루했음") keep texts varied across a large corpus.
_SUBJECTS = (
    "연기",
    "연출",
    "스토리",
    "음악",
    "영상미",
    "결말",
    "캐릭터",
    "대사",
    "분위기",
    "액션",
    "편집",
)
_ADVERBS = ("진짜", "너무", "완전", "정말", "생각보다", "은근", "꽤", "솔직히")
_PRED_POS = (
    "미쳤다",
    "최고였어요",
    "기대 이상",
    "좋았음",
    "압도적이었다",
    "훌륭함",
    "마음에 들어요",
)
_PRED_NEG = ("별로였다", "아쉬웠다", "지루했음", "엉망이었음", "실망스러웠어요", "산만했다")
_PRED_MID = ("그냥 그랬다", "무난했음", "나쁘지 않았어요", "평범했다", "애매했음")
_LAUGH = ("ㅋㅋ", "ㅋㅋㅋ", "ㅋㅋㅋㅋㅋ", "ㅎㅎ", "ㅋㅋㅋㅋㅋㅋㅋㅋ")
_CRY = ("ㅠㅠ", "ㅠㅠㅠ", "ㅜㅜ", "ㅠㅠㅠㅠㅠ", "ㅠ")
_EMOJI_POS = ("👍", "😭", "🔥", "❤️", "👍🏻", "🥹", "👏👏", "💯", "😍")
_EMOJI_NEG = ("😬", "🙄", "😴", "💤", "👎🏽", "🤦‍♀️")
_EMOJI_ANY = ("🍿", "🎬", "👨‍👩‍👧", "😱", "🤔")
_NICK_A = ("영화", "팝콘", "시네마", "무비", "주말", "심야", "별점", "극장")
_NICK_B = ("광", "러버", "덕후", "요정", "왕", "지기", "매니아", "친구")


@dataclass(frozen=True)
class Film:
    name: str
    year: int
    genre: str
    watcha_code: str  # Watcha's content code
    naver_os: str  # Naver's film id (the `os=` parameter)
    n_reviews: int  # on Watcha
    n_naver: int  # on Naver

    def count(self, site: str) -> int:
        return self.n_reviews if site == "watcha" else self.n_naver


@dataclass(frozen=True)
class Review:
    review_id: str  # the site's own id
    text: str
    stars: float  # 0.5–5.0 in steps of 0.5 (Naver shows stars × 2 as 1–10)
    author: str
    written_at: datetime
    likes: int
    spoiler: bool
    # Watcha: a comment left without a rating (the API's rating is null).
    unrated: bool = False
    # Watcha: flagged as improper by the site (kept, flagged, quarantined by the clean stage).
    improper: bool = False

    @property
    def rating(self) -> int | None:
        """As both sites give it: an integer 1–10 (10 = 5 stars); None when unrated."""
        return None if self.unrated else round(self.stars * 2)


def _stable_rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _code(prefix: str, *parts: object, length: int = 10) -> str:
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    rng = _stable_rng("code", prefix, *parts)
    return prefix + "".join(rng.choice(alphabet) for _ in range(length))


def film_names(count: int | None = None) -> list[tuple[str, int, str]]:
    """The built-in films, then generated ones ("푸른 항구", "밤의 편지 2"…) up to ``count``."""
    films = list(DEMO_FILMS)
    if count is None or count <= len(films):
        return films[: count if count is not None else len(films)]
    n = 0
    while len(films) < count:
        a, b = _NAME_A[n % len(_NAME_A)], _NAME_B[(n // len(_NAME_A)) % len(_NAME_B)]
        round_ = n // (len(_NAME_A) * len(_NAME_B))
        name = f"{a} {b}" + (f" {round_ + 1}" if round_ else "")
        films.append((name, 1990 + n % 35, _GENRES[n % len(_GENRES)]))
        n += 1
    return films


def _josa(word: str, after_consonant: str, after_vowel: str) -> str:
    """The particle form that fits the word's last syllable (받침 or not)."""
    last = ord(word[-1]) - 0xAC00
    has_final = 0 <= last < 11172 and last % 28 != 0
    return after_consonant if has_final else after_vowel


def review_text(rng: random.Random, stars: float, genre: str, spoiler: bool, title: str) -> str:
    """One review: 1–3 phrases in the rating's mood, with the usual decorations."""
    if stars >= 4:
        pool = list(_POSITIVE)
        pool += _HORROR_PRAISE if genre == "horror" else ()
        pool += _COMEDY_PRAISE if genre == "comedy" else ()
    elif stars <= 2:
        pool = list(_NEGATIVE)
    else:
        pool = list(_NEUTRAL) + list(_POSITIVE[:3]) + list(_NEGATIVE[:3])
    parts = rng.sample(pool, k=min(len(pool), rng.choice((0, 1, 1, 2))))
    preds = _PRED_POS if stars >= 4 else _PRED_NEG if stars <= 2 else _PRED_MID + _PRED_POS[:2]
    for _ in range(rng.choice((1, 1, 2))):
        subject = rng.choice(_SUBJECTS)
        phrase = f"{subject}{_josa(subject, '이', '가')} {rng.choice(_ADVERBS)} {rng.choice(preds)}"
        parts.insert(rng.randrange(len(parts) + 1), phrase)
    if rng.random() < 0.15:
        verb = rng.choice(
            (
                " 보고 왔어요",
                " 드디어 봤다",
                " 재관람",
                _josa(title, "은", "는") + " 기대 이상이었다",
            )
        )
        parts.insert(0, title + verb)
    if spoiler:
        parts.insert(rng.randrange(len(parts) + 1), rng.choice(_SPOILERS))
    out: list[str] = []
    for part in parts:
        roll = rng.random()
        if roll < 0.25:
            part += " " + rng.choice(_LAUGH if stars >= 3 else _CRY)
        elif roll < 0.4:
            part += rng.choice(_CRY)  # 감동ㅠㅠ: crying that is praise, glued to the word
        elif roll < 0.5:
            part += " ^^"
        out.append(part)
    sep = "\n" if rng.random() < 0.1 else rng.choice((" ", ". ", "! ", "... "))
    text = sep.join(out)
    roll = rng.random()
    if roll < 0.2:
        text += " " + rng.choice(_EMOJI_POS if stars >= 3 else _EMOJI_NEG)
    elif roll < 0.3:
        text += " " + rng.choice(_EMOJI_ANY)
    if rng.random() < 0.12:
        # A rating written in the text that need not match the stars given.
        text += f" {rng.choice((stars * 2, stars * 2 - 0.7, stars * 2 + 0.3)):.1f}점"
    return text


def _stars(rng: random.Random) -> float:
    # Skewed high, as on the real sites.
    return rng.choices(
        [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0],
        weights=[3, 3, 2, 4, 5, 9, 12, 18, 16, 28],
    )[0]


def make_review(rng: random.Random, site: str, film: Film, serial: int, when: datetime) -> Review:
    stars = _stars(rng)
    spoiler = rng.random() < 0.06
    # Naver ids are numbers, Watcha's short codes; both unique by construction.
    if site == "watcha":
        rid = _code("c", film.watcha_code, serial)
    else:
        rid = str(int(film.naver_os) * 10_000_000 + serial)
    text = review_text(rng, stars, film.genre, spoiler, film.name)
    author = rng.choice(_NICK_A) + rng.choice(_NICK_B) + str(rng.randrange(10, 99))
    likes = int(rng.paretovariate(1.3)) - 1
    # Drawn from their own generator, so the draws above (and every corpus made before these
    # fields existed) stay the same.
    extra = _stable_rng("extra", site, rid)
    if extra.random() < 0.12:
        # A long review: Naver cuts its shown text (펼쳐보기); the full text must survive.
        more = review_text(extra, stars, film.genre, False, film.name)
        text = f"{text}\n{more} {review_text(extra, stars, film.genre, False, film.name)}"
    return Review(
        review_id=rid,
        text=text,
        stars=stars,
        author=author,
        written_at=when,
        likes=likes,
        spoiler=spoiler,
        unrated=site == "watcha" and extra.random() < 0.05,
        improper=site == "watcha" and extra.random() < 0.02,
    )


class Corpus:
    """Films and their reviews on each site, newest first. Thread-safe; ``add_reviews`` posts
    newer reviews (for incremental-scrape tests)."""

    def __init__(
        self, seed: int = 7, n_titles: int | None = None, reviews_per_title: int | None = None
    ) -> None:
        self.seed = seed
        self._lock = threading.Lock()
        self.films: list[Film] = []
        used_os: set[str] = set()
        for name, year, genre in film_names(n_titles):
            rng = _stable_rng(seed, "count", name, year)
            if reviews_per_title is not None:
                count = n_naver = reviews_per_title
            else:
                # Most films have plenty; one in eight has too few for the default minimum.
                count = rng.randint(5, 25) if rng.random() < 0.125 else rng.randint(40, 220)
                n_naver = round(count * rng.uniform(0.6, 1.4))
            os_rng = _stable_rng(seed, "os", name, year)
            naver_os = str(os_rng.randrange(100_000, 999_999))
            while naver_os in used_os:
                naver_os = str(os_rng.randrange(100_000, 999_999))
            used_os.add(naver_os)
            self.films.append(
                Film(
                    name,
                    year,
                    genre,
                    _code("m", seed, name, year, length=7),
                    naver_os,
                    count,
                    n_naver,
                )
            )
        self._reviews: dict[tuple[str, str], list[Review]] = {}
        self._added: dict[tuple[str, str], int] = {}

    def film(self, name: str, year: int | None = None) -> Film:
        for film in self.films:
            if film.name == name and (year is None or film.year == year):
                return film
        raise KeyError(f"no film {name!r} {year or ''} in the replay corpus")

    def reviews(self, site: str, film: Film) -> list[Review]:
        """The film's reviews on ``site``, newest first (a copy)."""
        key = (site, film.watcha_code)
        with self._lock:
            if key not in self._reviews:
                self._reviews[key] = self._generate(site, film)
            return list(self._reviews[key])

    def _generate(self, site: str, film: Film) -> list[Review]:
        rng = _stable_rng(self.seed, site, film.name, film.year)
        when = ANCHOR - timedelta(minutes=rng.randint(5, 300))
        out = []
        for serial in range(film.count(site)):
            out.append(make_review(rng, site, film, serial, when))
            when -= timedelta(minutes=rng.randint(7, 60 * 30))
        return out

    def add_reviews(self, name: str, count: int, year: int | None = None) -> None:
        """Post ``count`` new reviews of a film on both sites (newer than all others)."""
        film = self.film(name, year)
        for site in SITES:
            current = self.reviews(site, film)
            with self._lock:
                done = self._added.get((site, film.watcha_code), 0)
                rng = _stable_rng(self.seed, "added", site, film.name, film.year, done)
                new = [
                    make_review(
                        rng,
                        site,
                        film,
                        1_000_000 + done + i,
                        ANCHOR + timedelta(hours=done + i + 1),
                    )
                    for i in range(count)
                ]
                self._reviews[(site, film.watcha_code)] = new[::-1] + current
                self._added[(site, film.watcha_code)] = done + count
        idx = self.films.index(film)
        self.films[idx] = replace(
            film, n_reviews=film.n_reviews + count, n_naver=film.n_naver + count
        )

    def search(self, query: str) -> list[Film]:
        """Films whose name contains the query or is contained in it (spaces ignored)."""
        q = "".join(query.split()).casefold()
        if not q:
            return []
        return [
            f
            for f in self.films
            if q in "".join(f.name.split()).casefold() or "".join(f.name.split()).casefold() in q
        ]
