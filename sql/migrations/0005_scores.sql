-- Machine scores, keyed by review and by the model versions that produced them.
-- Views read only the rows of the versions marked current in model_versions.

-- The 44 KOTE emotions, in the order of the emotion head's outputs.
CREATE TABLE emotion_labels (
    idx   INTEGER PRIMARY KEY,
    label VARCHAR NOT NULL UNIQUE
);
INSERT INTO emotion_labels VALUES
    (0, '불평/불만'), (1, '환영/호의'), (2, '감동/감탄'), (3, '지긋지긋'), (4, '고마움'),
    (5, '슬픔'), (6, '화남/분노'), (7, '존경'), (8, '기대감'), (9, '우쭐댐/무시함'),
    (10, '안타까움/실망'), (11, '비장함'), (12, '의심/불신'), (13, '뿌듯함'), (14, '편안/쾌적'),
    (15, '신기함/관심'), (16, '아껴주는'), (17, '부끄러움'), (18, '공포/무서움'), (19, '절망'),
    (20, '한심함'), (21, '역겨움/징그러움'), (22, '짜증'), (23, '어이없음'), (24, '없음'),
    (25, '패배/자기혐오'), (26, '귀찮음'), (27, '힘듦/지침'), (28, '즐거움/신남'), (29, '깨달음'),
    (30, '죄책감'), (31, '증오/혐오'), (32, '흐뭇함(귀여움/예쁨)'), (33, '당황/난처'), (34, '경악'),
    (35, '부담/안_내킴'), (36, '서러움'), (37, '재미없음'), (38, '불쌍함/연민'), (39, '놀람'),
    (40, '행복'), (41, '불안/걱정'), (42, '기쁨'), (43, '안심/신뢰');

-- Sentiment and emotions of one review by one pair of model versions.
CREATE TABLE scores (
    review_key        VARCHAR NOT NULL,
    sentiment_version VARCHAR NOT NULL,
    emotion_version   VARCHAR NOT NULL,
    sentiment         TINYINT NOT NULL,      -- 1 positive, 0 negative
    p_positive        FLOAT NOT NULL,        -- probability of positive, 0–1
    emotions          FLOAT[44] NOT NULL,    -- KOTE intensities (sigmoid), 0–1, emotion_labels order
    top_emotions      VARCHAR[] NOT NULL,    -- labels of the strongest emotions, strongest first
    emotion_point     FLOAT NOT NULL,        -- mean of the top-2 intensities >= 0.4, else of the top-2
    scored_at         TIMESTAMPTZ NOT NULL,
    run_id            VARCHAR NOT NULL,
    PRIMARY KEY (review_key, sentiment_version, emotion_version)
);

-- Sentence embedding for similarity (float16 bytes, L2-normalized), per similarity version.
CREATE TABLE embeddings (
    review_key         VARCHAR NOT NULL,
    similarity_version VARCHAR NOT NULL,
    dim                SMALLINT NOT NULL,
    vector             BLOB NOT NULL,        -- little-endian float16 × dim
    run_id             VARCHAR NOT NULL,
    PRIMARY KEY (review_key, similarity_version)
);

-- Similarity clusters per title (recomputed for titles whose reviews changed).
CREATE TABLE clusters (
    title_id           VARCHAR NOT NULL,
    similarity_version VARCHAR NOT NULL,
    cluster_id         INTEGER NOT NULL,     -- 0 = largest cluster of the title
    size               INTEGER NOT NULL,
    representative_key VARCHAR NOT NULL,     -- the most central review
    keywords           VARCHAR[] NOT NULL,   -- nouns weighted per cluster (c-TF-IDF), best first
    computed_at        TIMESTAMPTZ NOT NULL,
    run_id             VARCHAR NOT NULL,
    PRIMARY KEY (title_id, similarity_version, cluster_id)
);

CREATE TABLE cluster_members (
    review_key         VARCHAR NOT NULL,
    title_id           VARCHAR NOT NULL,
    similarity_version VARCHAR NOT NULL,
    cluster_id         INTEGER NOT NULL,
    PRIMARY KEY (review_key, similarity_version)
);
