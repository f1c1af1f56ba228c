"""Papers, their sightings, and fetch runs."""
from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable, Iterator

from sqlalchemy import case, func, insert, text, update
from sqlmodel import Session, select

from notifier.models import Paper
from notifier.outbox import FETCHED, FetchState
from notifier.batching import batched
from notifier.store.engine import _lock_key, _retry_race
from notifier.store.tables import FetchRun, PaperRow, Setting, Sighting, utcnow

INGEST_BATCH = 500        # papers per ingest transaction: a huge day never holds the write lock for long
# The Setting holding the latest digest cutoff taken (``take_cutoff``): papers are stamped first
# seen after it, and its row lock orders ingests and cutoffs between workers.
CUTOFF_KEY = "papers:cutoff"


@dataclass
class IngestResult:
    found: int = 0
    new: int = 0
    updated: int = 0

    def plus(self, other: IngestResult) -> IngestResult:
        return IngestResult(self.found + other.found, self.new + other.new, self.updated + other.updated)


class PapersMixin:
    # -- papers -------------------------------------------------------------------------------
    def ingest(self, papers: Iterable[Paper], *, source: str, digest_day: str | None) -> IngestResult:
        """Upsert papers and record their sightings, one transaction per INGEST_BATCH papers with
        one query for the stored papers and one for their sightings. A paper is new only the first time,
        and first seen after every digest cutoff taken before (``_stamp``)."""
        result = IngestResult()
        day = digest_day or utcnow().date().isoformat()
        for batch in batched(list(papers), INGEST_BATCH):
            result = result.plus(self._store_batch(batch, source, day))
        return result

    @_retry_race
    def _store_batch(self, batch: list[Paper], source: str, day: str) -> IngestResult:
        """One batch in one transaction; only a batch that lost a race to another worker runs again
        (the batches committed before it keep their counts)."""
        part = IngestResult()
        with self.session() as s:
            _ingest_batch(s, batch, source, day, _stamp(s), part)
        return part

    @_retry_race
    def take_cutoff(self) -> datetime:
        """Now, as a digest's cutoff: the papers first seen up to it are its candidates, later
        ones the next digest's (``planning.candidate_sets``). Taken under the row lock that every
        ingest holds shared until it commits (``_stamp``): an ingest still running commits first,
        so the candidates read after this see every paper stamped before it; an ingest after it
        stamps its papers later than it, whatever its clock says (stepped back, or another
        worker's running behind)."""
        now = utcnow()
        stamp = now.isoformat(timespec="microseconds")          # one width: compared as text
        with self.session() as s:
            later = case((Setting.value < stamp, stamp), else_=Setting.value)
            if not s.execute(update(Setting).where(Setting.key == CUTOFF_KEY).values(value=later)).rowcount:
                s.add(Setting(key=CUTOFF_KEY, value=stamp))
        return now

    def get_papers(self, ids: Iterable[str]) -> dict[str, Paper]:
        ids = list(ids)
        out: dict[str, Paper] = {}
        with self.reading() as s:
            for chunk in batched(ids, 500):
                for row in s.exec(select(PaperRow).where(PaperRow.id.in_(chunk))):
                    out[row.id] = _paper(row)
        return out

    def papers_since(self, since: datetime) -> list[Paper]:
        with self.reading() as s:
            rows = s.exec(select(PaperRow).where(PaperRow.first_seen_at >= since).order_by(PaperRow.first_seen_at))
            return [_paper(r) for r in rows]

    def papers_on_day(self, digest_day: str) -> list[Paper]:
        with self.reading() as s:
            rows = s.exec(select(PaperRow).join(Sighting, Sighting.paper_id == PaperRow.id)
                          .where(Sighting.digest_day == digest_day).distinct())
            return [_paper(r) for r in rows]

    def recent_papers(self, limit: int = 3000) -> list[Paper]:
        """The newest stored papers: the background corpus for term specificity (IDF)."""
        with self.reading() as s:
            rows = s.exec(select(PaperRow).order_by(PaperRow.first_seen_at.desc()).limit(limit))
            return [_paper(r) for r in rows]

    def sightings(self, paper_id: str) -> list[tuple[str, str]]:
        with self.reading() as s:
            rows = s.exec(select(Sighting).where(Sighting.paper_id == paper_id).order_by(Sighting.digest_day))
            return [(r.source, r.digest_day) for r in rows]

    def papers_version(self) -> tuple:
        """Changes whenever a paper is added or its stored fields change: (count, latest update)."""
        with self.reading() as s:
            return tuple(s.exec(select(func.count(), func.max(PaperRow.updated_at)).select_from(PaperRow)).one())

    def count_papers(self) -> int:
        with self.reading() as s:
            return s.exec(select(func.count()).select_from(PaperRow)).one()

    def prune_raw(self, older_than_days: int, now: datetime | None = None) -> int:
        cutoff = (now or utcnow()) - timedelta(days=older_than_days)
        with self.session() as s:
            rows = s.exec(select(PaperRow).where(PaperRow.raw.is_not(None), PaperRow.updated_at < cutoff)).all()
            for row in rows:
                row.raw = None
                s.add(row)
            return len(rows)

    def papers_seen_since(self, since: datetime) -> list[tuple[datetime, Paper]]:
        """(first seen, paper) of every paper first seen since ``since``, oldest first: the
        candidates of a whole batch, read and decoded once."""
        with self.reading() as s:
            rows = s.exec(select(PaperRow).where(PaperRow.first_seen_at >= since).order_by(PaperRow.first_seen_at))
            return [(r.first_seen_at, _paper(r)) for r in rows]

    def sighting_days(self, paper_ids: Iterable[str]) -> dict[str, list[str]]:
        """The digest days each of these papers was seen on, in order."""
        days: dict[str, list[str]] = {}
        with self.reading() as s:
            for chunk in batched(sorted(set(paper_ids)), 500):
                q = select(Sighting.paper_id, Sighting.digest_day).where(Sighting.paper_id.in_(chunk))
                for pid, day in s.exec(q.order_by(Sighting.digest_day)):
                    days.setdefault(pid, []).append(day)
        return days

    # -- fetch runs ---------------------------------------------------------------------------
    def start_fetch(self, source: str, digest_day: str | None) -> int:
        with self.session() as s:
            run = FetchRun(source=source, digest_day=digest_day)
            s.add(run)
            s.flush()
            return run.id

    def finish_fetch(self, run_id: int, *, outcome: str, **fields) -> bool:
        """Close a fetch run still `running` -> whether it was (one closed already keeps its outcome:
        a Ctrl-C after its `ok` was recorded is no interruption)."""
        with self.session() as s:
            run = s.get(FetchRun, run_id)
            if run.outcome != FetchState.RUNNING:
                return False
            run.outcome = outcome
            run.finished_at = utcnow()
            for key, value in fields.items():
                setattr(run, key, value)
            s.add(run)
            return True

    def last_fetch(self, source: str, outcome: str | Iterable[str] = FETCHED,
                   digest_day: str | None = None) -> FetchRun | None:
        outcomes = (outcome,) if isinstance(outcome, str) else tuple(outcome)
        with self.reading() as s:
            q = select(FetchRun).where(FetchRun.source == source, FetchRun.outcome.in_(outcomes))
            if digest_day is not None:
                q = q.where(FetchRun.digest_day == digest_day)
            return s.exec(q.order_by(FetchRun.id.desc()).limit(1)).first()

    def first_failure(self, source: str, after: FetchRun | None) -> FetchRun | None:
        """The first failed fetch of this source after ``after`` (its latest success; None: ever)."""
        with self.reading() as s:
            q = select(FetchRun).where(FetchRun.source == source, FetchRun.outcome == FetchState.FAILED)
            if after is not None:
                q = q.where(FetchRun.id > after.id)
            return s.exec(q.order_by(FetchRun.id).limit(1)).first()

    @contextmanager
    def fetch_claim(self, source: str, digest_day: str) -> Iterator[None]:
        """While held, no other worker fetches this source day. PostgreSQL: a session advisory
        lock on a connection of its own, waited for if another worker holds it, released at the
        end or when the holder's connection drops (a killed worker). SQLite: nothing to do, the
        local file lock makes this process the only one."""
        if not self.shared:
            yield
            return
        key = {"k": _lock_key(f"fetch:{source}:{digest_day}")}
        with self.engine.connect() as conn:
            self._guard(lambda: (conn.execute(text("SELECT pg_advisory_lock(:k)"), key), conn.commit()))
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), key)
                conn.commit()

    def close_interrupted_fetches(self, source: str, digest_day: str) -> int:
        """Runs of this source day still `running` when its fetch claim is taken were left by a
        process that died mid-fetch: they become `failed` instead of staying stuck."""
        with self.session() as s:
            return s.connection().execute(update(FetchRun).where(
                FetchRun.source == source, FetchRun.digest_day == digest_day, FetchRun.outcome == FetchState.RUNNING)
                .values(outcome=FetchState.FAILED, finished_at=utcnow(), error="interrupted: the fetching process died")).rowcount

    def failed_days(self, source: str, since_day: str) -> list[str]:
        """The digest days of this source from ``since_day`` on whose latest fetch failed, oldest first
        (one the operator interrupted since leaves it failed: it was not fetched)."""
        with self.reading() as s:
            latest = dict(s.exec(select(FetchRun.digest_day, FetchRun.outcome).where(
                FetchRun.source == source, FetchRun.digest_day >= since_day,
                FetchRun.outcome != FetchState.INTERRUPTED).order_by(FetchRun.id)).all())
        return sorted(day for day, outcome in latest.items() if outcome == FetchState.FAILED)

    def fetch_days(self, source: str, since_day: str) -> set[str]:
        """The digest days of this source from ``since_day`` on that a fetch was tried for and not
        interrupted by the operator (that one read nothing)."""
        with self.reading() as s:
            return set(s.exec(select(FetchRun.digest_day).where(
                FetchRun.source == source, FetchRun.digest_day >= since_day,
                FetchRun.outcome != FetchState.INTERRUPTED).distinct()))

    def fetch_sources(self) -> list[str]:
        with self.reading() as s:
            return sorted(set(s.exec(select(FetchRun.source)).all()))

    def failed_sources_since(self, since: datetime) -> list[str]:
        """Sources whose latest fetch since ``since`` failed."""
        failed = []
        for source in self.fetch_sources():
            last = self.last_fetch(source, outcome=FETCHED | {FetchState.FAILED})
            if last and last.outcome == FetchState.FAILED and last.started_at >= since:
                failed.append(source)
        return failed


def _stamp(s: Session) -> datetime:
    """When the papers an ingest transaction adds are first seen: now, or just after the latest
    digest cutoff if that is later (``Store.take_cutoff``); the cutoff's row is held shared (on
    PostgreSQL, and created if missing) until the transaction commits, so no cutoff is taken meanwhile."""
    row = s.exec(select(Setting).where(Setting.key == CUTOFF_KEY).with_for_update(read=True)).first()
    if row is None:
        s.add(Setting(key=CUTOFF_KEY, value=""))
        s.flush()
    now, latest = utcnow(), _latest_cutoff(row)
    return max(now, latest + timedelta(microseconds=1)) if latest is not None else now


def _latest_cutoff(row: Setting | None) -> datetime | None:
    return datetime.fromisoformat(row.value) if row is not None and row.value else None


def _ingest_batch(s: Session, batch: list[Paper], source: str, day: str, now: datetime, result: IngestResult) -> None:
    ids = list({p.arxiv_id for p in batch})
    rows = {r.id: r for r in s.exec(select(PaperRow).where(PaperRow.id.in_(ids)))}
    seen = {tuple(r) for r in s.exec(select(Sighting.paper_id, Sighting.source, Sighting.digest_day)
                                      .where(Sighting.paper_id.in_(ids)))}
    sightings = []
    for paper in batch:
        result.found += 1
        row = rows.get(paper.arxiv_id)
        if row is None:
            rows[paper.arxiv_id] = _paper_row(paper, now)
            s.add(rows[paper.arxiv_id])
            result.new += 1
        elif _merge(row, paper, now):
            s.add(row)
            result.updated += 1
        key = (paper.arxiv_id, paper.source or source, paper.digest_day or day)
        if key not in seen:
            seen.add(key)
            sightings.append({"paper_id": key[0], "source": key[1], "digest_day": key[2], "seen_at": now})
    s.flush()                 # the papers first: sightings refer to them
    if sightings:
        s.execute(insert(Sighting), sightings)


def _paper_row(p: Paper, now: datetime) -> PaperRow:
    return PaperRow(id=p.arxiv_id, version=p.version, title=p.title, abstract=p.abstract or "",
                    authors=json.dumps(p.authors), published=p.published, url=p.url or p.abs_url,
                    pdf_url=p.pdf_url, hf_url=p.hf_url, code_url=p.code_url, project_url=p.project_url,
                    upvotes=p.upvotes, comments=p.comments, categories=json.dumps(p.categories),
                    extra=json.dumps(p.extra), raw=json.dumps(p.raw) if p.raw is not None else None,
                    first_seen_at=now, updated_at=now)


def _merge(row: PaperRow, p: Paper, now: datetime) -> bool:
    """Fold a new sighting's metadata into the stored paper. True when something changed."""
    changed = False

    def put(attr, value):
        nonlocal changed
        if value not in (None, "", []) and getattr(row, attr) != value:
            setattr(row, attr, value)
            changed = True

    for attr in ("title", "abstract", "published", "pdf_url", "hf_url", "code_url", "project_url",
                 "upvotes", "comments", "version"):
        put(attr, getattr(p, attr))
    if p.authors:
        put("authors", json.dumps(_authors_kept(json.loads(row.authors), p.authors)))
    cats = sorted(set(json.loads(row.categories)) | set(p.categories))
    put("categories", json.dumps(cats))
    if p.extra:
        put("extra", json.dumps({**json.loads(row.extra), **p.extra}))
    if p.raw is not None and changed:
        row.raw = json.dumps(p.raw)
    if changed:
        row.updated_at = now
    return changed


def _authors_kept(stored: list[str], seen: list[str]) -> list[str]:
    """The author list a sighting leaves stored: its own, unless it names the same people; then the
    longer of the two. arXiv RSS adds affiliations in parentheses (``dc:creator``, see
    ``parse.split_creators``) and HF does not: a paper on both kept its RSS list instead of
    switching lists, and counting as updated (the matcher rebuilt), at every fetch."""
    if [_name(a) for a in stored] != [_name(a) for a in seen]:
        return seen
    return max(stored, seen, key=lambda names: sum(map(len, names)))     # the stored one on a tie


def _name(author: str) -> str:
    """An author as written without its affiliation: 'Ada Lovelace (Cambridge)' -> 'ada lovelace'."""
    return " ".join(author.split("(", 1)[0].casefold().split())


def _paper(row: PaperRow) -> Paper:
    return Paper(arxiv_id=row.id, version=row.version, title=row.title, abstract=row.abstract,
                 authors=json.loads(row.authors), published=row.published, url=row.url, pdf_url=row.pdf_url,
                 hf_url=row.hf_url, code_url=row.code_url, project_url=row.project_url, upvotes=row.upvotes,
                 comments=row.comments, categories=json.loads(row.categories), extra=json.loads(row.extra))

