"""The inbox query: replies to an author's posts and replies, newest first (keyset on the reply's id)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, aliased

from backend.db.models import Post
from backend.db.queries import OUT_FIELDS

_REPLY = Post.__table__
_PARENT = aliased(Post, name="parent")
_AUTHOR = bindparam("author", type_=_REPLY.c.author.type)
# ix_posts_author finds the author's posts, ix_posts_parent their replies; one's own replies are not news
_REPLIES_TO = (
    select(*(_REPLY.c[name] for name in OUT_FIELDS))
    .join(_PARENT, _REPLY.c.parent_id == _PARENT.id)
    .where(_PARENT.author == _AUTHOR, _REPLY.c.author != _AUTHOR)
    .order_by(_REPLY.c.id.desc())
    .limit(bindparam("n"))
)
_REPLIES_TO_AFTER = _REPLIES_TO.where(_REPLY.c.id < bindparam("after_id", type_=_REPLY.c.id.type))


def replies_to(session: Session, address: str, n: int, after_id: int | None = None) -> list[dict[str, Any]]:
    """The newest ``n`` replies others made to ``address``'s posts and replies, below ``after_id`` when given."""
    params: dict[str, Any] = {"author": address, "n": n}
    statement = _REPLIES_TO
    if after_id is not None:
        statement, params["after_id"] = _REPLIES_TO_AFTER, after_id
    result = session.execute(statement, params)
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result.all()]
