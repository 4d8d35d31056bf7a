"""One poll of one mailbox: list, skip what the ledger already knows, fetch the rest in bounded
batches, run them through the pipeline (each message all-or-nothing, committed with a few
others, relaxed; in a large poll a child process parses them ahead, ``inbound.parse_ahead``),
make the batch durable with one synced commit, and only then move it out of the inbox. A thread
does the fetches and the moves, in the order they are asked for (the source is used by one
thread at a time): it fetches the next batch while one is handled, and moves a batch while the
next is handled. A crash anywhere loses nothing: a committed message still in the inbox is only
moved on the next poll, never processed again.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from mailtix.config.model import MailboxConfig
from mailtix.desks.outcome import Outcome, Source
from mailtix.domain.clock import utcnow
from mailtix.store import folder_moves
from mailtix.store.durability import durable_point, relaxed
from mailtix.store.models import FolderMove, MailboxState, Receipt, database_proxy

if TYPE_CHECKING:  # a poll with nothing new imports none of them
    from mailtix.desks.pipeline import Pipeline
    from mailtix.inbound.parse_ahead import Ahead, ParseAhead

    Fetched = tuple[list[tuple[Any, bytes]], list[Ahead] | None]

log = logging.getLogger(__name__)

BATCH_MESSAGES = 100
BATCH_BYTES = 32 * 1024 * 1024
PARSE_AHEAD_FROM = 50  # new messages from which a child process parses ahead of the pipeline
REFILE_PER_POLL = 100  # mails an agent's #spam or #notspam moves, at most, in one poll


class MailSource(Protocol):
    uidvalidity: int

    def list_keys(self) -> Sequence[Any]: ...
    def sizes(self, keys: Sequence[Any]) -> dict[Any, int]: ...
    def fetch(self, keys: Sequence[Any]) -> Iterator[tuple[Any, bytes]]: ...
    def move(self, keys: Sequence[Any], folder: str) -> None: ...
    def refile(
        self, message_ids: Sequence[str], from_folder: str, to_folder: str,
        confirm: Callable[[bytes], bool] | None = None,
    ) -> int: ...  # fmt: skip


@dataclass
class PollResult:
    mailbox: str
    outcomes: Counter[str] = field(default_factory=Counter)
    details: list[tuple[Any, Outcome]] = field(default_factory=list)
    moved: int = 0
    waiting: int = 0  # left in the folder after this poll (deferred)

    def add(self, key: Any, outcome: Outcome) -> None:
        self.outcomes[outcome.kind] += 1
        self.details.append((key, outcome))

    @property
    def handled(self) -> int:
        return sum(self.outcomes.values())

    def summary(self) -> str:
        parts = [f"{n} {kind}" for kind, n in sorted(self.outcomes.items())]
        return f"{self.mailbox}: " + (", ".join(parts) or "nothing new") + f"; {self.moved} moved"


def poll_mailbox(
    config: MailboxConfig,
    source: MailSource,
    pipeline: Callable[[], Pipeline],
    on_commit: Callable[[PollResult], None] | None = None,
    on_listed: Callable[[int], None] | None = None,
) -> PollResult:
    """Poll once, with the pipeline ``pipeline`` gives, asked for only when there is mail to
    handle (the pipeline's modules are most of what a poll imports). ``on_commit`` is called
    after every commit of handled messages (a group of up to ``desks.pipeline.GROUP_SIZE``):
    the daemon and ``poll --once`` have their sender send what was queued (acknowledgements)
    while the rest is read. Such a mail may leave before its batch is made durable;
    ``store.durability`` says what a power loss can then repeat. ``on_listed`` hears how many
    new messages the poll is about to read, before it reads them (``poll --once`` decides by
    it where its sender runs)."""
    result = PollResult(config.name)
    _check_uidvalidity(config.name, source.uidvalidity)
    keys = list(source.list_keys())
    known = _known_outcomes(config.name, source.uidvalidity, keys)
    leftovers = [k for k in keys if k in known]
    if leftovers:  # committed before a crash or a failed move: only the move is redone
        _move(source, config, {k: known[k] for k in leftovers}, result)
    fresh = [k for k in keys if k not in known]
    if on_listed is not None:
        on_listed(len(fresh))
    sizes = source.sizes(fresh)
    plan = list(_batches(fresh, sizes, config, pipeline, source, result))
    if plan:
        _handle_batches(config, source, pipeline(), plan, result, on_commit)
    _refile(config, source)
    _remember_high_water(config.name, source.uidvalidity, keys)
    result.waiting = max(0, len(keys) - result.moved)
    if result.handled:
        log.info("%s", result.summary())
    return result


def _handle_batches(
    config: MailboxConfig,
    source: MailSource,
    pipeline: Pipeline,
    plan: list[list[Any]],
    result: PollResult,
    on_commit: Callable[[PollResult], None] | None,
) -> None:
    """Each batch fetched (by a thread, while the one before is handled), run through the
    pipeline, made durable, then moved (by the thread, while the next is handled); parsed ahead
    by a child when the poll is large. A failed move is raised once the thread is past it:
    before the batch after next is handled (the next one is fetched already, and is handled),
    or at the end."""
    from mailtix.inbound.parse_ahead import ParseAhead
    from mailtix.outbound import letters_ahead

    new = sum(map(len, plan))
    ahead = None
    if new >= PARSE_AHEAD_FROM:  # the child parses, and makes the letters queued meanwhile
        ahead = ParseAhead.start(letters_ahead.child(pipeline.renderer))
    pool = ThreadPoolExecutor(1, thread_name_prefix="prefetch")
    moving: list[Future[int]] = []  # the batches' moves, in the order they were asked for
    try:
        pending = pool.submit(_fetch, source, plan[0], ahead)
        for later in [*plan[1:], None]:
            fetched, aheads = pending.result()  # a failed fetch is raised here
            _moved(moving[:-1], result)  # asked for before that fetch: done, or raised here
            del moving[:-1]
            if later is not None:  # fetched while this batch is handled
                pending = pool.submit(_fetch, source, later, ahead)
            done: dict[Any, str] = {}
            with relaxed():  # commits of a few messages each; made durable together by _move
                messages = [(raw, _source(config, source, key)) for key, raw in fetched]
                in_order = iter([key for key, _ in fetched])
                for committed in pipeline.process_batch(config.name, messages, aheads, ahead):
                    for outcome in committed:
                        key = next(in_order)
                        result.add(key, outcome)
                        done[key] = outcome.kind
                    if on_commit is not None:
                        on_commit(result)
            moving.append(pool.submit(_move_now, source, _durable(config, done)))
        _moved(moving, result)
    finally:
        pool.shutdown(wait=True)  # no fetch goes on using the source after the poll
        if ahead is not None:
            ahead.close()


def _refile(config: MailboxConfig, source: MailSource) -> None:
    """The moves an agent's ``#spam`` or ``#notspam`` asked for in this mailbox
    (``store.folder_moves``), up to REFILE_PER_POLL; one that fails is tried at the next poll
    and does not fail this one."""
    moves = folder_moves.pending(config.name, REFILE_PER_POLL)
    if not moves:
        return
    spam, processed = config.spam_folder, config.processed_folder
    try:
        for to_spam, (old, new) in ((True, (processed, spam)), (False, (spam, processed))):
            chosen = [m for m in moves if m.to_spam == to_spam]
            if chosen:
                moved = source.refile([m.message_id for m in chosen], old, new, _stored(chosen))
                log.info("%s: %d mail(s) moved to %s", config.name, moved, new)
    except Exception:  # a dropped connection: the moves wait for the next poll
        log.warning("%s: moving mail marked #spam/#notspam failed; trying again at the next "
                    "poll", config.name, exc_info=True)  # fmt: skip
        return
    folder_moves.done(moves)


def _stored(moves: list[FolderMove]) -> Callable[[bytes], bool]:
    """Whether a mail's bytes are those stored for one of ``moves``: a stranger's mail that
    reuses the Message-ID is not one of them."""
    hashes = {m.raw_sha256 for m in moves}
    return lambda raw: hashlib.sha256(raw).hexdigest() in hashes


def _fetch(source: MailSource, batch: list[Any], ahead: ParseAhead | None) -> Fetched:
    """The batch's mails, and their parses under way in ``ahead``."""
    fetched = list(source.fetch(batch))
    return fetched, (ahead.submit([raw for _, raw in fetched]) if ahead else None)


def _source(config: MailboxConfig, source: MailSource, key: Any) -> Source:
    uid = key if isinstance(key, int) else None
    return Source(config.name, source.uidvalidity, uid)


def _batches(
    keys: list[Any],
    sizes: dict[Any, int],
    config: MailboxConfig,
    pipeline: Callable[[], Pipeline],
    source: MailSource,
    result: PollResult,
) -> Iterator[list[Any]]:
    """Bounded batches of keys to download; oversized messages are quarantined unread."""
    batch: list[Any] = []
    volume = 0
    oversized: dict[Any, str] = {}
    for key in keys:
        size = sizes.get(key)
        if size is None:  # expunged meanwhile by someone else
            continue
        if size > config.max_message_bytes:
            outcome: Outcome = pipeline().quarantine_oversized(_source(config, source, key), size)
            result.add(key, outcome)
            oversized[key] = outcome.kind
            continue
        if batch and (len(batch) >= BATCH_MESSAGES or volume + size > BATCH_BYTES):
            yield batch
            batch, volume = [], 0
        batch.append(key)
        volume += size
    if batch:
        yield batch
    _move(source, config, oversized, result)


Moves = list[tuple[list[Any], str]]  # keys, and the folder they go to


def _move(
    source: MailSource, config: MailboxConfig, outcomes: dict[Any, str], result: PollResult
) -> None:
    result.moved += _move_now(source, _durable(config, outcomes))


def _durable(config: MailboxConfig, outcomes: dict[Any, str]) -> Moves:
    """The moves of the handled messages, once what the store knows of them is on disk."""
    moves = _destinations(config, outcomes)
    if moves:
        durable_point(config.name)
    return moves


def _destinations(config: MailboxConfig, outcomes: dict[Any, str]) -> Moves:
    """Which folder each handled message goes to (a deferred one stays for the next poll)."""
    bad = [k for k, kind in outcomes.items() if kind == "quarantined"]
    spam = [k for k, kind in outcomes.items() if kind == "spam"]
    good = [k for k, kind in outcomes.items() if kind not in ("quarantined", "deferred", "spam")]
    chosen = (
        (good, config.processed_folder),
        (bad, config.quarantine_folder),
        (spam, config.spam_folder),
    )
    return [(keys, folder) for keys, folder in chosen if keys]


def _move_now(source: MailSource, moves: Moves) -> int:
    for keys, folder in moves:
        source.move(keys, folder)
    return sum(len(keys) for keys, _ in moves)


def _moved(moving: list[Future[int]], result: PollResult) -> None:
    """Count the moves of ``moving`` (waited for); the first that failed is raised."""
    for move in moving:
        result.moved += move.result()


def _known_outcomes(mailbox: str, uidvalidity: int, keys: list[Any]) -> dict[Any, str]:
    uids = [k for k in keys if isinstance(k, int)]
    known: dict[Any, str] = {}
    for start in range(0, len(uids), 500):
        chunk = uids[start : start + 500]
        rows = Receipt.select(Receipt.uid, Receipt.outcome).where(
            (Receipt.mailbox == mailbox)
            & (Receipt.uidvalidity == uidvalidity)
            & Receipt.uid.in_(chunk)
        )
        known.update({int(r.uid or 0): str(r.outcome) for r in rows})
    return known


def _check_uidvalidity(mailbox: str, uidvalidity: int) -> None:
    state = MailboxState.get_or_none(MailboxState.mailbox == mailbox)
    with database_proxy.atomic():
        if state is None:
            MailboxState.create(mailbox=mailbox, uidvalidity=uidvalidity, updated_at=utcnow())
        elif state.uidvalidity is None:  # the row was made before the first poll
            state.uidvalidity, state.updated_at = uidvalidity, utcnow()
            state.save()
        elif state.uidvalidity != uidvalidity:
            log.warning(
                "%s: UIDVALIDITY changed %s -> %s; known messages matched by content",
                mailbox,
                state.uidvalidity,
                uidvalidity,
            )
            state.uidvalidity, state.last_uid, state.updated_at = uidvalidity, 0, utcnow()
            state.save()


def _remember_high_water(mailbox: str, uidvalidity: int, keys: list[Any]) -> None:
    uids = [k for k in keys if isinstance(k, int)]
    if not uids:
        return
    MailboxState.update(last_uid=max(uids), updated_at=utcnow()).where(
        (MailboxState.mailbox == mailbox)
        & (MailboxState.uidvalidity == uidvalidity)
        & (MailboxState.last_uid < max(uids))
    ).execute()
