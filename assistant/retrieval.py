"""Hybrid retrieval: FAISS (dense) and FTS5 (BM25) fused by reciprocal rank, packed to a token budget."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from assistant.kinds import MemoryKind
from assistant.memory import ALTERNATIVE, Memory, MemoryStore
from assistant.periods import period_of, periods_in


def note_line(memory: Memory) -> str:
    """A retrieved memory as a list item in the prompt, under its day header.

    A plain list reads as background to a model; quote marks and bracketed dates were copied
    into a small model's replies ("> [23 November 2026] > Python: …").
    """
    return "- " + memory.line().replace("\n", "\n  ")


def day_header(memory: Memory) -> str:
    return f"From {memory.day_label}:"

RRF_K = 10  # measured on LoCoMo dev (60 -> 10: +6 points at 512 tokens); see bench/RESULTS.md
DENSE_K = 120  # candidates per search (60 -> 120: +0.5 points at 512 with the passage score below)
KEYWORD_K = 120
# A turn in a passage of matching turns is more likely what was asked about than one alone:
# a candidate gains this share of the best fused score among the turns up to CONTEXT_WINDOW
# before or after it in its conversation (LoCoMo dev +6 points at 512 tokens; bench/RESULTS.md).
CONTEXT_SHARE = 0.5
CONTEXT_WINDOW = 2
# A memory from a period the query names ("in July 2022", "last week") ranks at this multiple
# of its score (LoCoMo at 512 tokens: dev +2 points, held out +2.5; bench/RESULTS.md).
PERIOD_BOOST = 4.0
NEIGHBOR_SHARE = 0.5  # a neighbour of a hit ranks at this share of the hit's fused score
MIN_SIMILARITY = 0.2  # below this cosine, a note without a keyword match is noise
# What the assistant said ranks at this share of its fused score: the user's own words are the
# facts; a small model's replies can be wrong and were fed back as if they were true.
ASSISTANT_SHARE = 0.5
IN_WINDOW_SHOWN = 5  # matches already in the conversation that the panel lists
# The relevance floor: a memory enters the window only with evidence that it bears on the message.
# A search hit is an *anchor* when its meaning is close (dense cosine >= FLOOR_DENSE), or close enough
# and it shares a distinctive word with the message (FLOOR_DENSE_WORD), or it shares FLOOR_WORDS
# distinctive words. A word is distinctive when at most COMMON_SHARE of the memories hold it (never
# fewer than COMMON_MIN, never more than COMMON_MAX): "caroline" in a conversation with Caroline, or "hi" in a chat that
# greets every day, says nothing. With no anchor nothing is retrieved; with anchors, the turns around
# them in their conversation, the hits close in meaning (FLOOR_KEEP) and those whose fused score is at
# least FLOOR_RELATIVE of the best anchor's come along. What the assistant said needs ASSISTANT_MARGIN
# more cosine, and shared words alone never make it an anchor: its words are evidence only of what was
# said, and its earlier mistakes must not come back as facts.
# Calibrated on the tuning part of bench/data/noise.jsonl and on LoCoMo dev; see bench/RESULTS.md.
FLOOR_DENSE = 0.55
FLOOR_DENSE_WORD = 0.35
FLOOR_WORDS = 2
FLOOR_KEEP = 0.45
FLOOR_RELATIVE = 0.5
ASSISTANT_MARGIN = 0.1
COMMON_SHARE = 0.02
COMMON_MIN = 8
COMMON_MAX = 200  # a word in more memories than this is common in any store (and costs a longer scan)
# A question about the user's own things ("what is the name of my pet?") needs memory even where its
# wording is far from the note's ("My dog Oscar loves ..." is 0.38): for such a question the user's own
# words and notes are anchors from FLOOR_DENSE_WORD on.
_PERSONAL = re.compile(r"\b(?:my|mine|our|ours)\b", re.IGNORECASE)
BELOW_FLOOR = "below the relevance floor"
BELOW_FLOOR_SHOWN = 5  # candidates left out by the floor that the panel lists

_STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
    nor not now of off on once only or other our ours ourselves out over own same she should so some such than
    that the their theirs them themselves then there these they this those through to too under until up very
    was we were what when where which while who whom why will with would you your yours yourself yourselves
    did does dont do's what's whats tell know get got like also ever one""".split()
)
_WORD = re.compile(r"[\w']+", re.UNICODE)
# Words of greetings and small talk: a chat that says "hi" in every session makes "hi" rare enough
# to look distinctive, but sharing it is no evidence that a memory helps (the relevance floor).
_SMALL_TALK = frozenset(
    """hi hello hey hiya yo thanks thank ok okay yes yeah yep no nope bye goodbye good morning evening night
    lol haha cool nice great wow sure please sorry welcome cheers fine today tonight""".split()
)


def _usable(memory: Memory, include_pinned: bool) -> bool:
    """Excluded memories and answers set aside by Regenerate never reach a prompt; pinned ones are
    placed by the context window, so retrieval skips them unless asked."""
    if memory.excluded or memory.source == ALTERNATIVE:
        return False
    return include_pinned or not memory.pinned


def keywords(query: str) -> list[str]:
    """The words of a query worth matching: lower-cased, no stopwords, in order, unique."""
    out: list[str] = []
    for word in _WORD.findall(query.lower()):
        word = word.strip("'")
        if word.endswith("'s"):
            word = word[:-2]
        if len(word) > 1 and word not in _STOPWORDS and word not in out:
            out.append(word)
    return out


@dataclass
class Hit:
    """One retrieved memory with its scores and the reason a person can read."""

    memory: Memory
    tokens: int
    dense: float | None = None
    dense_rank: int | None = None
    keyword: float | None = None
    keyword_rank: int | None = None
    fused: float = 0.0
    context: float = 0.0  # what matching turns around it added to ``fused``
    period: str = ""  # the period named in the query that it falls in ("in July 2022")
    via: str = "search"  # "pinned", "search" or "neighbor"
    matched: list[str] = field(default_factory=list)
    distinctive: int = 0  # distinctive query words it holds (see COMMON_SHARE)
    reason: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "memory_id": self.memory.id,
            "kind": self.memory.kind,
            "text": self.memory.text,
            "display": self.memory.display(),
            "tokens": self.tokens,
            "dense": self.dense,
            "keyword": self.keyword,
            "fused": round(self.fused, 6),
            "via": self.via,
            "pinned": self.memory.pinned,
            "reason": self.reason,
        }


@dataclass
class RetrievalResult:
    hits: list[Hit]
    budget: int
    used_tokens: int
    embed_s: float  # the query's embedding (0 when an earlier window of the same query made it)
    search_s: float  # the rest of retrieve(): index sync, searches, scoring, packing
    in_window: list[Hit] = field(default_factory=list)  # matches skipped: their message is in the window
    waited_s: float = 0.0  # how long retrieve() waited for an embedding started before it (start_query)
    below_floor: list[Hit] = field(default_factory=list)  # the best candidates the relevance floor left out


def _age(created: str, now: dt.datetime) -> str:
    try:
        then = dt.datetime.fromisoformat(created)
    except ValueError:
        return ""
    if then.tzinfo is None:
        then = then.replace(tzinfo=dt.UTC)
    days = (now - then).days
    if days <= 0:
        return "today"
    if days == 1:
        return "yesterday"
    if days < 60:
        return f"{days} days ago"
    return then.strftime("%d %b %Y")


class Retriever:
    """Retrieves memories for a query within a token budget."""

    def __init__(
        self,
        memories: MemoryStore,
        count_tokens: Callable[[str], int],
        *,
        neighbors: int = 1,
        neighbor_share: float = NEIGHBOR_SHARE,
        keyword_weight: float = 1.0,
        rrf_k: int = RRF_K,
        min_similarity: float = MIN_SIMILARITY,
        context_share: float = CONTEXT_SHARE,
        context_window: int = CONTEXT_WINDOW,
        period_boost: float = PERIOD_BOOST,
        dense_k: int = DENSE_K,
        keyword_k: int = KEYWORD_K,
        floor: bool = True,
    ) -> None:
        self.memories = memories
        self.count_tokens = count_tokens
        self.neighbors = neighbors
        self.neighbor_share = neighbor_share
        self.keyword_weight = keyword_weight
        self.rrf_k = rrf_k
        self.min_similarity = min_similarity
        self.context_share = context_share
        self.context_window = context_window
        self.period_boost = period_boost
        self.dense_k = dense_k
        self.keyword_k = keyword_k
        self.floor = floor
        self._token_cache: dict[tuple[int, str], int] = {}
        self._last_query: tuple[str, np.ndarray] | None = None
        self._pending: tuple[str, Future[tuple[np.ndarray, float]]] | None = None

    def tokens_of(self, memory: Memory) -> int:
        """Tokens of the memory's quoted line in a prompt (see assistant.context.note_parts)."""
        line = note_line(memory)
        key = (memory.id, line)
        n = self._token_cache.get(key)
        if n is None:
            n = self._token_cache[key] = self.count_tokens(line) + 1  # + the newline
        return n

    def header_tokens(self, memory: Memory) -> int:
        """Tokens of the day header that groups notes of one day."""
        key = (-1, memory.day_label)
        n = self._token_cache.get(key)
        if n is None:
            n = self._token_cache[key] = self.count_tokens(day_header(memory)) + 1
        return n

    def start_query(self, query: str) -> None:
        """Start embedding ``query`` on the embedder's worker thread for the retrieve() that follows,
        so a turn stores its message, reads its history and tokenizes it meanwhile."""
        if (self._last_query is not None and self._last_query[0] == query) or (
            self._pending is not None and self._pending[0] == query
        ):
            return
        self._pending = (query, self.memories.embedder.start(query))

    def _embed_query(self, query: str) -> tuple[np.ndarray, float]:
        """The query's vector and the seconds its embedding took (0 when it was made before)."""
        # The panel previews a window and the turn then builds it again: embed once.
        if self._last_query is not None and self._last_query[0] == query:
            return self._last_query[1], 0.0
        pending, self._pending = self._pending, None
        if pending is not None and pending[0] == query:
            vec, seconds = pending[1].result()
        else:
            vec, seconds = self.memories.embedder.encode_one_timed(query)
        self._last_query = (query, vec)
        return vec, seconds

    # -- candidate search ------------------------------------------------------

    def dense_search(self, query_vec: np.ndarray, k: int = DENSE_K) -> list[tuple[int, float]]:
        ids, scores = self.memories.index.search(query_vec, k)
        return [(int(i), float(s)) for i, s in zip(ids, scores, strict=True)]

    def keyword_search(self, words: list[str], k: int = KEYWORD_K) -> list[tuple[int, float]]:
        if not words:
            return []
        match = " OR ".join('"' + w.replace('"', "") + '"' for w in words)
        rows = self.memories.store.query(
            "SELECT rowid AS id, bm25(memories_fts) AS score FROM memories_fts WHERE memories_fts MATCH ? "
            "ORDER BY score LIMIT ?",
            [match, k],
        )
        return [(int(r["id"]), -float(r["score"])) for r in rows]

    def distinctive_words(self, words: list[str]) -> dict[str, set[int]]:
        """The query words few memories hold, each with the ids of the memories that hold it.

        Each count stops past the limit, so a frequent word costs a bounded scan, not a count of
        its whole posting list."""
        limit = min(COMMON_MAX, max(COMMON_MIN, int(COMMON_SHARE * self.memories.index.size)))
        out: dict[str, set[int]] = {}
        for word in words:
            if word in _SMALL_TALK:
                continue
            rows = self.memories.store.query(
                "SELECT rowid AS id FROM memories_fts WHERE memories_fts MATCH ? LIMIT ?",
                ['"' + word.replace('"', "") + '"', limit + 1],
            )
            if 0 < len(rows) <= limit:
                out[word] = {int(r["id"]) for r in rows}
        return out

    def _anchor(self, hit: Hit, small_talk: bool = False, personal: bool = False) -> bool:
        """Whether a search hit alone is evidence that memory bears on the query (the floor).

        ``small_talk``: the query holds nothing but greetings and small talk, whose meaning is close
        to every other greeting; then closeness of meaning alone is no evidence. ``personal``: the query
        asks about the user's own things, where the user's words need only FLOOR_DENSE_WORD."""
        by_assistant = hit.memory.speaker == "assistant" and hit.memory.kind == MemoryKind.MESSAGE
        margin = ASSISTANT_MARGIN if by_assistant else 0.0
        dense = hit.dense if hit.dense is not None else -1.0
        # A memory from the period the message names ("in June 2023") counts as one more word.
        words = hit.distinctive + (1 if hit.period else 0)
        return (
            (dense >= FLOOR_DENSE + margin and not small_talk)
            or (words >= 1 and dense >= FLOOR_DENSE_WORD + margin)
            or (words >= FLOOR_WORDS and not margin)  # the assistant's words need closeness in meaning too
            or (personal and not margin and dense >= FLOOR_DENSE_WORD)
        )

    def _apply_floor(self, hits: dict[int, Hit], small_talk: bool = False, personal: bool = False) -> list[Hit]:
        """Leave out of ``hits`` what has no evidence of relevance; returns what was left out, best first.

        Kept: the anchors (see _anchor), the messages around an anchor in its conversation (the
        passage the answer sits in), and with any anchor, the hits close in meaning (FLOOR_KEEP)."""
        anchors = [h for h in hits.values() if self._anchor(h, small_talk, personal)]
        near: set[tuple[int | None, int]] = set()
        for h in anchors:
            if h.memory.kind == MemoryKind.MESSAGE:
                for mid in range(h.memory.id - self.context_window, h.memory.id + self.context_window + 1):
                    near.add((h.memory.conversation_id, mid))
        best = max((h.fused for h in anchors), default=0.0)
        left: list[Hit] = []
        for mid, hit in list(hits.items()):
            keep = bool(anchors) and (
                self._anchor(hit, small_talk, personal)
                or (hit.memory.kind == MemoryKind.MESSAGE and (hit.memory.conversation_id, mid) in near)
                or (hit.dense or -1.0) >= FLOOR_KEEP
                or hit.fused >= FLOOR_RELATIVE * best
            )
            if not keep:
                left.append(hits.pop(mid))
        return sorted(left, key=lambda h: -h.fused)

    # -- the whole thing ---------------------------------------------------------

    def retrieve(
        self,
        query: str,
        *,
        budget: int,
        skip_message_ids: Iterable[int] = (),
        exclude_message_ids: Iterable[int] = (),
        include_pinned: bool = False,
        now: dt.datetime | None = None,
        query_vec: np.ndarray | None = None,
        floor: bool | None = None,
    ) -> RetrievalResult:
        """Memories for ``query`` best first, packed into ``budget`` tokens.

        Excluded memories never come back; pinned ones are placed by the
        context window, so they are skipped here unless ``include_pinned``.
        ``skip_message_ids``: messages already in the window (listed as such, not returned);
        ``exclude_message_ids``: messages that are no candidates at all (the one being answered,
        stored before its window is built: it would match itself and push the rest down a rank,
        so the window would differ from the one previewed before it was sent).
        ``floor``: apply the relevance floor (default: the retriever's setting); a search the user
        asks for shows every match.
        """
        floor = self.floor if floor is None else floor
        now = now or dt.datetime.now(dt.UTC)
        exclude = set(exclude_message_ids)
        skip = set(skip_message_ids) | exclude
        t0 = time.perf_counter()
        self.memories.sync_index()  # another process may have added or forgotten memories
        words = keywords(query)
        extra = len(exclude)  # room for the excluded, so as many others come back as without them
        # What needs no query vector first: it runs while an embedding started by start_query()
        # finishes. The keyword matches, without the excluded messages' own memories, and their rows.
        keyword = self.keyword_search(words, self.keyword_k + extra)
        mine = self.memories.message_memory_ids(exclude) if exclude else set()
        if mine:
            keyword = [k for k in keyword if k[0] not in mine]
        keyword = keyword[: self.keyword_k]
        in_keyword = {mid for mid, _ in keyword}
        distinctive = self.distinctive_words(words) if floor else {}
        rows = self.memories.get_many(in_keyword)
        periods = periods_in(query, now) if self.period_boost != 1.0 else []
        embed_s = waited = 0.0
        qvec = None
        if query_vec is not None:
            qvec = query_vec
        elif self.memories.index.size:
            t1 = time.perf_counter()
            qvec, embed_s = self._embed_query(query)
            waited = time.perf_counter() - t1
        dense = self.dense_search(qvec, self.dense_k + extra) if qvec is not None else []
        dense = [d for d in dense if d[0] not in mine][: self.dense_k]
        # Rows only for candidates that can be kept: a dense match below min_similarity without a
        # keyword match is dropped below whatever it is (it still holds its rank, and lends no
        # passage weight).
        rows.update(
            self.memories.get_many(
                [mid for mid, s in dense if mid not in in_keyword and round(s, 4) >= self.min_similarity]
            )
        )
        fused: dict[int, float] = {}
        dense_by_id = {mid: (rank, score) for rank, (mid, score) in enumerate(dense)}
        keyword_by_id = {mid: (rank, score) for rank, (mid, score) in enumerate(keyword)}
        for mid, (rank, _) in dense_by_id.items():
            fused[mid] = fused.get(mid, 0.0) + 1.0 / (self.rrf_k + rank + 1)
        for mid, (rank, _) in keyword_by_id.items():
            fused[mid] = fused.get(mid, 0.0) + self.keyword_weight / (self.rrf_k + rank + 1)
        # Only real matches lend weight to the turns around them (see the filter below).
        matching = {
            mid: score
            for mid, score in fused.items()
            if mid in keyword_by_id or (mid in dense_by_id and dense_by_id[mid][1] >= self.min_similarity)
        }
        context = self._passage_scores(matching, rows)
        hits: dict[int, Hit] = {}
        in_window: list[Hit] = []
        for mid, score in sorted(((m, s + context.get(m, 0.0)) for m, s in fused.items()), key=lambda kv: -kv[1]):
            memory = rows.get(mid)
            if memory is None or not _usable(memory, include_pinned):
                continue
            if memory.speaker == "assistant" and memory.kind == MemoryKind.MESSAGE:
                score *= ASSISTANT_SHARE
            period = period_of(memory.created, periods)
            if period is not None:
                score *= self.period_boost
            hit = Hit(memory=memory, tokens=0, fused=score, context=context.get(mid, 0.0))
            hit.period = period.text if period is not None else ""
            if mid in dense_by_id:
                hit.dense_rank, hit.dense = dense_by_id[mid][0], round(dense_by_id[mid][1], 4)
            if mid in keyword_by_id:
                hit.keyword_rank, hit.keyword = keyword_by_id[mid][0], round(keyword_by_id[mid][1], 4)
                low = memory.text.lower()
                hit.matched = [w for w in words if w in low][:4]
            hit.distinctive = sum(1 for ids in distinctive.values() if mid in ids)
            # Unrelated notes cost prompt time and distract a small model: keep only real matches.
            if hit.keyword is None and (hit.dense or 0.0) < self.min_similarity:
                continue
            if memory.message_id is not None and memory.message_id in skip:
                if len(in_window) < IN_WINDOW_SHOWN:
                    hit.reason = self._reason(hit, now)
                    in_window.append(hit)
                continue
            # Counted only now: a match already in the window is not quoted, so it costs nothing.
            hit.tokens = self.tokens_of(memory)
            hits[mid] = hit
        if floor and qvec is not None:
            # A hit with one distinctive word that ranked past the dense search: its similarity decides
            # (see _anchor), so the floor judges it on both.
            unknown = [mid for mid, h in hits.items() if h.dense is None and h.distinctive + bool(h.period) == 1]
            for mid, score in self.memories.index.similarity(qvec, unknown).items():
                hits[mid].dense = round(score, 4)
        small_talk = not [w for w in words if w not in _SMALL_TALK]
        personal = "?" in query and _PERSONAL.search(query) is not None
        below = self._apply_floor(hits, small_talk, personal) if floor else []
        if self.neighbors:
            self._add_neighbors(hits, skip, include_pinned)
        ranked = sorted(hits.values(), key=lambda h: -h.fused)
        chosen: list[Hit] = []
        days: set[str] = set()
        used = 0
        for hit in ranked:
            # Notes of one day share a header, so a day's first note pays for it.
            cost = hit.tokens + (0 if hit.memory.day_label in days else self.header_tokens(hit.memory))
            if used + cost > budget:
                continue
            used += cost
            days.add(hit.memory.day_label)
            hit.reason = self._reason(hit, now)
            chosen.append(hit)
            if budget - used < 8:
                break
        return RetrievalResult(
            hits=chosen, budget=budget, used_tokens=used, embed_s=embed_s,
            search_s=time.perf_counter() - t0 - waited, in_window=in_window, waited_s=waited,
            below_floor=[self._left_out(h, now) for h in below[:BELOW_FLOOR_SHOWN]],
        )

    def _left_out(self, hit: Hit, now: dt.datetime) -> Hit:
        hit.tokens = hit.tokens or self.tokens_of(hit.memory)
        hit.reason = f"{BELOW_FLOOR}: {self._reason(hit, now)}"
        return hit

    def _passage_scores(self, fused: dict[int, float], rows: dict[int, Memory]) -> dict[int, float]:
        """What each message candidate gains from matching turns around it.

        A conversation's topic runs over several turns, and a question's answer sits among
        them; a lone turn that happens to share words with the question is more often noise.
        Each message gains ``context_share`` of the best fused score among the candidate
        messages of its conversation at most ``context_window`` ids away (ids follow the order
        in which messages were stored; a note between two turns only narrows the window).
        """
        if not self.context_share or not self.context_window:
            return {}
        gains: dict[int, float] = {}
        for mid, memory in rows.items():
            if memory.kind != MemoryKind.MESSAGE:
                continue
            best = 0.0
            for other in range(mid - self.context_window, mid + self.context_window + 1):
                near = rows.get(other)
                if (
                    other != mid
                    and near is not None
                    and near.kind == MemoryKind.MESSAGE
                    and _usable(near, include_pinned=True)
                    and near.conversation_id == memory.conversation_id
                ):
                    best = max(best, fused.get(other, 0.0))
            if best:
                gains[mid] = self.context_share * best
        return gains

    def _add_neighbors(self, hits: dict[int, Hit], skip: set[int], include_pinned: bool) -> None:
        """The turns just before and after a message hit often hold the rest of the answer."""
        seeds = sorted((h for h in hits.values() if h.memory.kind == MemoryKind.MESSAGE), key=lambda h: -h.fused)[:12]
        n = self.neighbors
        # One read for every seed's neighbourhood (it was one query per seed).
        near = self.memories.get_many(
            sorted({i for seed in seeds for i in range(seed.memory.id - n, seed.memory.id + n + 1)})
        )
        wanted: dict[int, tuple[float, Hit]] = {}
        for seed in seeds:
            m = seed.memory
            for mid in range(m.id - n, m.id + n + 1):
                other = near.get(mid)
                if mid == m.id or other is None or other.kind != MemoryKind.MESSAGE:
                    continue
                if other.conversation_id != m.conversation_id:
                    continue
                score = seed.fused * self.neighbor_share
                if mid not in hits and score > wanted.get(mid, (0.0, seed))[0]:
                    wanted[mid] = (score, seed)
        for mid, (score, _seed) in wanted.items():
            memory = near[mid]
            if not _usable(memory, include_pinned):
                continue
            if memory.message_id is not None and memory.message_id in skip:
                continue
            hits[mid] = Hit(memory=memory, tokens=self.tokens_of(memory), fused=score, via="neighbor")

    @staticmethod
    def _reason(hit: Hit, now: dt.datetime) -> str:
        parts = []
        if hit.via == "neighbor":
            parts.append("next to a match")
        if hit.memory.speaker == "assistant" and hit.memory.kind == MemoryKind.MESSAGE:
            parts.append("said by Glassmind, so ranked below what you said")
        if hit.matched:
            parts.append("matched " + ", ".join(f"'{w}'" for w in hit.matched))
        if hit.dense is not None:
            parts.append(f"similar {hit.dense:.2f}")
        if hit.context and hit.via != "neighbor":
            parts.append("among other matching turns")
        if hit.period:
            parts.append(f"from the time asked about ('{hit.period}')")
        age = _age(hit.memory.created, now)
        if age:
            parts.append(age)
        return "; ".join(parts)
