"""A board worth looking at: about forty posts in a few topics, votes, and one deep thread (screenshots, density)."""

from __future__ import annotations

from dataclasses import dataclass

from tests.support.browser import COLLAPSE_SCORE, Stack

TITLES = [
    ("What would you keep forever if nothing could be deleted?", "meta"),
    ("Tide tables for the north coast, 2027", "sailing"),
    ("Show: a one-file reader that checks every post against the chain", "projects"),
    ("Why do sourdough starters die in winter?", "baking"),
    ("Reading group: The Dispossessed, chapters 1-3", "books"),
    ("Is a Wilson lower bound fair to new posts?", "meta"),
    ("Best offline maps for cycling in the Alps", "cycling"),
    ("Ask: how do you back up a browser key?", "help"),
    ("A field guide to moths of the Low Countries", "nature"),
    ("My grandfather's bread recipe, as he wrote it", "baking"),
    ("Long-exposure photos of the night ferry", "photos"),
    ("Gear list for a week on the Kungsleden", "hiking"),
    ("The quietest trains in Europe, measured", "travel"),
    ("How the lens counts votes, in plain words", "meta"),
    ("A small tool to pin a thread's files on your own node", "projects"),
    ("Lighthouses you can still climb", "travel"),
    ("Winter pruning: too late for apples?", "garden"),
    ("Which cheap microscope for a ten-year-old?", "help"),
    ("Poems about rivers: post your favourite", "books"),
    ("Repairing a 1970s radio, step by step", "projects"),
    ("Birdsong at 4 a.m.: what am I hearing?", "nature"),
    ("Crossing the Channel in a 6-metre boat", "sailing"),
    ("Seed swap: spring 2027", "garden"),
    ("Local history: the mills of the river Vecht", "history"),
    ("A map of every public piano in Amsterdam", "travel"),
    ("Fermenting hot sauce without a crock", "baking"),
    ("What is the smallest useful weather station?", "projects"),
    ("Knitting patterns from the 1940s, scanned", "crafts"),
    ("Where do the swifts go at night?", "nature"),
    ("Learning Finnish after fifty", "languages"),
    ("Chess puzzles that fooled me this week", "games"),
    ("A walk along the old tram line", "history"),
    ("How to read a tide gauge", "sailing"),
    ("Campfire bread on a stick, done right", "baking"),
    ("Second-hand lenses: what to check", "photos"),
    ("The best public libraries to work in", "books"),
    ("Growing tomatoes on a north balcony", "garden"),
    ("How much does a post cost in gas?", "meta"),
]
REPLIES = [
    "Good question. I keep letters, mostly: nothing else survives three moves.",
    "Letters, and the recipes in my mother's hand.",
    "Same here; scans of them, on two disks and a friend's node.",
    "A friend keeps hers on paper only. Paper is an archive too.",
    "Paper burns; chains do not. But chains need someone to run them.",
    "Which is why anyone can run one: that is the point of the board.",
    "And anyone can check it, which matters more to me.",
    "Deep enough now that it continues on its own page.",
    "Still here, one level further down.",
]


@dataclass
class SeededBoard:
    """What ``seed_board`` made: the thread's root, a reply in it, its deepest reply and every top-level post."""

    thread: int
    reply: int
    deep: int
    posts: list[int]


def seed_board(stack: Stack) -> SeededBoard:
    """Post the titles above from a handful of accounts, vote on them, and grow one thread nine replies deep."""
    posts = []
    for n, (title, topic) in enumerate(TITLES):
        body = f"{title}. A few lines of text, in **Markdown**, for post {n + 1}."
        posts.append(stack.post({"title": title, "body": body, "topic": topic}, account=1 + n % 5))
    for n, post in enumerate(posts):
        for account in range(1, 2 + (n * 7) % 9):
            stack.vote(post, 1 if (n + account) % 4 else -1, account)
    thread = posts[0]
    chain = [thread]
    for depth, text in enumerate(REPLIES):
        chain.append(stack.post({"body": text}, parent_id=chain[-1], account=2 + depth % 6))
    side = stack.post({"body": "A side branch: what about photos? They rot too."}, parent_id=thread, account=9)
    stack.post({"body": "Photos rot slower on paper than on phones."}, parent_id=side, account=10)
    folded = stack.post({"body": "Buy followers, cheap, today only!!!"}, parent_id=thread, account=11)
    for account in range(12, 12 - COLLAPSE_SCORE + 1):
        stack.vote(folded, -1, account)
    stack.vote(chain[1], 1, 8)
    stack.vote(chain[1], 1, 9)
    stack.wait_for(lambda: stack.api(f"/api/posts/{folded}")["post"]["collapsed"], "the spam to fold")
    stack.indexed(chain[-1])
    return SeededBoard(thread=thread, reply=chain[2], deep=chain[-1], posts=posts)
