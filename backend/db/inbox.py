"""The inbox query: replies to an author's posts and replies, newest first (keyset on the reply's id)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from backend.db.models import InboxEntry, Post
from backend.db.queries import OUT_FIELDS

_REPLY = Post.__table__
_ENTRY = InboxEntry.__table__
_AUTHOR = bindparam("author", type_=_ENTRY.c.recipient.type)
# the inbox table's key (recipient, reply_id) walked down from the newest, each reply then by its primary key:
# the author's other posts and their other replies are never read (the indexer leaves out one's own replies)
_REPLIES_TO = (
    select(*(_REPLY.c[name] for name in OUT_FIELDS))
    .select_from(_ENTRY)
    .join(_REPLY, _REPLY.c.id == _ENTRY.c.reply_id)
    .where(_ENTRY.c.recipient == _AUTHOR)
    .order_by(_ENTRY.c.reply_id.desc())
    .limit(bindparam("n"))
)
_REPLIES_TO_AFTER = _REPLIES_TO.where(_ENTRY.c.reply_id < bindparam("after_id", type_=_ENTRY.c.reply_id.type))


def replies_to(session: Session, address: str, n: int, after_id: int | None = None) -> list[dict[str, Any]]:
    """The newest ``n`` replies others made to ``address``'s posts and replies, below ``after_id`` when given."""
    params: dict[str, Any] = {"author": address, "n": n}
    statement = _REPLIES_TO
    if after_id is not None:
        statement, params["after_id"] = _REPLIES_TO_AFTER, after_id
    result = session.execute(statement, params)
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result.all()]
