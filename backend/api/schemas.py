"""Response and request models of the JSON API (errors are worded in ``backend.http.errors``).

Every JSON route declares one of these as its response model, so /openapi.json
describes exactly what it returns; every error is ``{"detail": "..."}``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.http.patterns import ADDRESS_PATTERN, BYTES32_PATTERN, POST_ID_MAX, SIGNATURE_PATTERN, UINT256_MAX

Address = Annotated[str, Field(pattern=ADDRESS_PATTERN, examples=["0x70997970C51812dc3A010C7d01b50e0d17dc79C8"])]
Bytes32 = Annotated[str, Field(pattern=BYTES32_PATTERN)]
Uint256 = Annotated[int, Field(ge=0, le=UINT256_MAX)]


class PostOut(BaseModel):
    """A post or reply as the index knows it."""

    id: int = Field(description="On-chain post id")
    author: str = Field(description="Checksum address of the author (the signer for relayed posts)")
    parent_id: int | None = Field(description="The post this replies to; null for a top-level post")
    root_id: int = Field(description="The top-level post of the thread")
    depth: int = Field(description="0 for a top-level post, 1 for its replies, ...")
    cid: str = Field(description="CIDv1 (raw, sha2-256) of the content: its IPFS address")
    digest: str = Field(description="The sha256 digest stored on chain, 0x + 64 hex")
    title: str | None = Field(description="Title of a top-level post; null for replies and unpinned content")
    body: str | None = Field(description="Markdown body; null unless the content is pinned and valid")
    content_status: Literal["pinned", "missing", "invalid"]
    content_error: str | None = Field(description="Why the content is invalid (one sentence); null unless invalid")
    topic: str | None = Field(
        description="The thread's topic (a lowercase slug; a reply's is its root's); null if none"
    )
    created_at: int = Field(description="Block timestamp, seconds since the epoch")
    block_number: int
    tx_hash: str
    upvotes: int
    downvotes: int
    score: int = Field(description="upvotes - downvotes")
    reply_count: int = Field(description="Direct replies")
    counted_upvotes: int = Field(
        description="Upvotes that count under the lens: voters active on the Board before this post (default),"
        " or the trusted voters only (lens=trusted)"
    )
    counted_downvotes: int = Field(description="Downvotes that count under the lens (as counted_upvotes)")
    counted_score: int = Field(description="counted_upvotes - counted_downvotes")
    collapsed: bool = Field(
        description="The lens's score <= the reader's fold threshold, or a muted author: shown folded, never hidden"
        " (see docs/ranking.md)"
    )
    muted: bool = Field(description="The author is in this request's mute list: folded for this request only")


class ChainFactsOut(BaseModel):
    """What a reader checks an answer against: ``postCount`` at ``block`` on the Board must equal ``posts``."""

    block: int = Field(description="The index's block: every row of this answer is as of this block")
    contract: str = Field(description="The Board's address")
    chain_id: int | None = Field(description="The chain the index follows")
    posts: int = Field(description="Posts (and replies) in the index at that block")


class FeedOut(BaseModel):
    """One page of a listing; pass next_cursor back as ``cursor`` for the next page."""

    posts: list[PostOut]
    next_cursor: str | None = Field(description="Opaque cursor of the next page; null on the last page")
    chain: ChainFactsOut | None = Field(
        description="The chain facts this answer was read at; null before the first block"
    )


class ReplyOut(PostOut):
    """A reply in an author's inbox, with links to it and to the post it answers."""

    url: str = Field(description="This reply's JSON permalink")
    parent_url: str = Field(description="The JSON of the post it answers (the author's)")


class RepliesOut(BaseModel):
    """Replies others made to an author's posts and replies, newest first; pass next_cursor back for more."""

    address: str
    replies: list[ReplyOut]
    next_cursor: str | None = Field(description="Opaque cursor of the next page; null on the last page")
    chain: ChainFactsOut | None = Field(
        description="The chain facts this answer was read at; null before the first block"
    )


class TopicOut(BaseModel):
    """A topic: a tag any top-level post may carry; nobody owns or moderates one."""

    topic: str
    posts: int = Field(description="Top-level posts in the topic")
    last_post_at: int = Field(description="Block timestamp of its newest post")
    url: str = Field(description="Its posts as JSON (/api/posts?topic=...; any sort)")


class TopicsOut(BaseModel):
    """Topics by activity, most recent post first."""

    topics: list[TopicOut]


class SearchHighlightOut(BaseModel):
    """Matched words wrapped in ``<mark>``, everything else HTML-escaped: safe to insert as HTML."""

    title: str | None = Field(description="The title, escaped, matches marked; null for replies")
    body: str | None = Field(description="Up to 240 characters of the body around the first match, escaped, marked")


class SearchPostOut(PostOut):
    """A post or reply matching a search, with links into its thread and its highlights."""

    url: str = Field(description="This post's JSON permalink (its replies under it)")
    thread_url: str = Field(description="The JSON of the thread it belongs to (its top-level post)")
    highlight: SearchHighlightOut


class SearchOut(BaseModel):
    """One page of search results; pass next_cursor back as ``cursor`` for the next page."""

    query: str = Field(description="The query as given")
    sort: Literal["relevance", "new", "top"]
    terms: list[str] = Field(description="The words and phrases searched for, all required, lowercased")
    results: list[SearchPostOut]
    next_cursor: str | None = Field(description="Opaque cursor of the next page; null on the last page")
    chain: ChainFactsOut | None = Field(
        description="The chain facts this answer was read at; null before the first block"
    )


class MoreRepliesOut(BaseModel):
    """Direct replies of a post left out of this document (page size, thread budget or depth)."""

    count: int = Field(description="How many direct replies are not shown here")
    cursor: str | None = Field(
        description="Pass as ``cursor`` to this post's URL for its next replies; null: the post's URL starts them"
    )
    url: str = Field(description="Where the next replies are: this post's URL, with the cursor when there is one")


class ThreadPostOut(PostOut):
    """A post with its replies, best first; ``more_replies`` says what was left out, null when nothing."""

    replies: list[ThreadPostOut]
    more_replies: MoreRepliesOut | None = Field(description="Direct replies not included here and where they are")
    url: str = Field(description="This post's JSON permalink")


class ThreadOut(BaseModel):
    """A post and its thread below it."""

    post: ThreadPostOut
    depth: int = Field(description="How many levels of replies were loaded")
    chain: ChainFactsOut | None = Field(
        description="The chain facts this answer was read at; null before the first block"
    )


class AuthorTotals(BaseModel):
    """What an author has written and received."""

    posts: int
    replies: int
    upvotes_received: int
    downvotes_received: int


class AuthorOut(BaseModel):
    """An author's posts and replies, newest first."""

    address: str
    totals: AuthorTotals
    posts: list[PostOut]
    next_cursor: str | None
    chain: ChainFactsOut | None = Field(
        description="The chain facts this answer was read at; null before the first block"
    )


class VotesOut(BaseModel):
    """A voter's current votes on the posts asked about, as the index knows them."""

    voter: str = Field(description="Checksum address of the voter")
    votes: dict[str, Literal[1, -1]] = Field(
        description="Post id -> +1 (up) or -1 (down); posts the voter has no standing vote on (never voted, "
        "withdrawn, or no such post) are left out"
    )


class Eip712Field(BaseModel):
    """One member of an EIP-712 struct type."""

    name: str
    type: str


class Eip712Domain(BaseModel):
    """The EIP-712 domain every signed action is bound to."""

    name: str
    version: str
    chainId: int
    verifyingContract: str


class Eip712Out(BaseModel):
    """Everything a wallet needs for eth_signTypedData_v4."""

    domain: Eip712Domain
    types: dict[str, list[Eip712Field]]
    primary_types: dict[str, str] = Field(description="Relay kind -> EIP-712 primary type")


class ImmutableOut(BaseModel):
    """One of Board's immutables: where its runtime code holds it, and the value it must hold at this address."""

    positions: list[list[int]] = Field(description="[start, length] byte ranges in the runtime code (solc's)")
    expected: str = Field(description="the 32-byte word it must hold for this address and chain, 0x-hex")
    meaning: str


class ContractOut(BaseModel):
    """Where the board lives and how to talk to it without us."""

    address: str
    chain_id: int
    deployment_block: int
    abi: list[dict[str, Any]]
    eip712: Eip712Out
    immutables: dict[str, ImmutableOut] = Field(
        description="every immutable of Board's runtime code by name: a look-alike holds another Board's values"
    )


class SignedPostIn(BaseModel):
    """An EIP-712 ``Post`` message as signed by its author, with the 65-byte signature."""

    model_config = ConfigDict(extra="forbid")

    author: Address
    digest: Bytes32
    parentId: Annotated[int, Field(ge=0, le=POST_ID_MAX)] = 0
    parentDigest: Annotated[
        Bytes32,
        Field(description="The digest of the post replied to (its id alone can change in a reorg); zero for top level"),
    ] = "0x" + "00" * 32
    nonce: Uint256
    deadline: Uint256
    signature: Annotated[str, Field(pattern=SIGNATURE_PATTERN, description="0x + r (32) + s (32) + v (1)")]


class SignedVoteIn(BaseModel):
    """An EIP-712 ``Vote`` message as signed by its voter, with the 65-byte signature."""

    model_config = ConfigDict(extra="forbid")

    voter: Address
    postId: Annotated[int, Field(ge=1, le=POST_ID_MAX)]
    postDigest: Annotated[
        Bytes32, Field(description="The digest of the post voted on (its id alone can change in a reorg)")
    ]
    direction: Annotated[int, Field(ge=-1, le=1, description="+1 up, -1 down, 0 withdraw")]
    nonce: Uint256
    deadline: Uint256
    signature: Annotated[str, Field(pattern=SIGNATURE_PATTERN, description="0x + r (32) + s (32) + v (1)")]


class RelayPostIn(SignedPostIn):
    """Relay one signed post."""

    kind: Literal["post"]


class RelayVoteIn(SignedVoteIn):
    """Relay one signed vote."""

    kind: Literal["vote"]


class RelayBatchIn(BaseModel):
    """Relay signed posts then signed votes in one all-or-nothing transaction."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["batch"]
    # 150 items at most: a batch is all or nothing and simulated whole, and 150 is ~10M gas (a third of a block)
    posts: Annotated[list[SignedPostIn], Field(max_length=50)] = []
    votes: Annotated[list[SignedVoteIn], Field(max_length=100)] = []


RelayIn = Annotated[RelayPostIn | RelayVoteIn | RelayBatchIn, Field(discriminator="kind")]


class NonceOut(BaseModel):
    """A signer's next EIP-712 nonce on the Board: the index's view at ``indexed_block``, plus pending relays."""

    address: str
    nonce: int = Field(description="what the next signed post or vote must carry")
    indexed_nonce: int = Field(description="one past the last nonce the index saw spent (0: none)")
    indexed_block: int = Field(description="the index's block: its view of the chain is as of this block")
    pending_tx: str | None = Field(
        description="a tx this server relayed for the signer that the index does not hold yet, when `nonce` follows it"
    )


class RelayOut(BaseModel):
    """The relayed transaction."""

    tx_hash: str
    kind: Literal["post", "vote", "batch"]


class ContentCountsOut(BaseModel):
    """Indexed posts by the state of their content, and the CIDs still being looked for."""

    pinned: int = Field(description="Posts whose content is pinned here and is a valid document")
    missing: int = Field(description="Posts whose content no source has given us yet")
    invalid: int = Field(description="Posts whose content was found but is not a valid document")
    queued: int = Field(description="CIDs in the retry queue, fetched again with backoff until pinned")
    progress: str = Field(
        description='Posts whose content was found and checked against its digest, of all: "content 1,234 of 1,240"'
    )


class ProviderLimitsOut(BaseModel):
    """What the node's provider taught the indexer since start: its limits and how often it pushed back."""

    throttled: bool = Field(description="The provider answered 429 (too many requests) within the last 30 s")
    throttles: int = Field(description="429 answers since start (each waited out as its Retry-After asked)")
    retries: int = Field(description="Requests sent again after 429, 5xx, a reset connection or a timeout")
    batch_size: int = Field(description="JSON-RPC calls sent per batch; smaller after a refused batch, 1: no batches")
    log_span: int | None = Field(description="Widest eth_getLogs block span the provider accepts; null: no limit met")
    split_batches: int = Field(description="Batches the provider refused, sent again in smaller parts")
    refused_ranges: int = Field(description="eth_getLogs ranges the provider refused, asked again smaller")


class IndexerStateOut(BaseModel):
    """The in-process indexer's own view, as its thread last left it."""

    running: bool = Field(description="The indexing loop is running")
    current: bool = Field(description="The indexer found the node's Board deployment and checked the index is of it")
    head_block: int | None = Field(description="The node's head when the indexer last asked; null until it has")
    indexed_block: int | None = Field(description="The checkpoint the indexer last read or wrote; null until then")
    target_block: int | None = Field(None, description="The block the finality rule lets the indexer reach now")
    finality: str = Field("", description="The rule in force: head minus confirmations, or a safe/finalized tag")
    behind: int | None = Field(None, description="Blocks from the checkpoint to target_block; null until known")
    caught_up: bool = Field(description="The checkpoint has reached target_block")
    error: str | None = Field(description="Why the last step failed; null once a step succeeds")
    reorgs: int = Field(description="Reorganisations rolled back since this process started")
    rebuilds: int = Field(description="Times the index was wiped for another chain or deployment since start")
    malformed_logs: int = Field(description="Logs skipped because they did not decode, since start")
    quarantined: int = Field(description="Posts stored as invalid and votes skipped because mapping them failed")
    updated_at: float = Field(description="When progress or error last changed, seconds since the epoch; 0 before")
    provider: ProviderLimitsOut | None = Field(None, description="The provider's limits as learned so far")


class IndexStatusOut(BaseModel):
    """The index's checkpoint, the chain and deployment it was built for, and what it holds.

    Every field read from the database is null when the database is unavailable (``error`` says so).
    """

    indexed_block: int | None = Field(description="Last block whose events are stored; null before the first")
    indexed_block_hash: str | None = Field(description="Hash of indexed_block; null before the first indexed block")
    chain_id: int | None = Field(description="Chain id the index was built for; null before a deployment was found")
    genesis_hash: str | None = Field(description="Hash of block 0 of the chain the index was built for")
    contract_address: str | None = Field(description="Checksum address of the Board the index was built for")
    deployment_block: int | None = Field(description="Block the indexed Board was deployed in")
    posts: int | None = Field(description="Posts and replies indexed")
    authors: int | None = Field(description="Distinct addresses that have posted or replied")
    votes: int | None = Field(description="Standing votes: one per voter and post, withdrawn votes left out")
    vote_events: int | None = Field(description="VoteCast events indexed, withdrawals and changes included")
    content: ContentCountsOut | None
    current: bool = Field(description="The index is of the node's chain and current deployment, with no error")
    lag: int | None = Field(description="Node head minus indexed_block, in blocks; null unless current")
    error: str | None = Field(description="Why the index is not current (database, chain, deployment or indexer)")
    finality: str | None = Field(None, description="The indexing rule in force, as the last indexer published it")
    behind: int | None = Field(None, description="Blocks the index is behind the rule's target, as last published")
    provider: ProviderLimitsOut | None = Field(
        None, description="Whether the node's provider throttles the indexer (whichever process runs it)"
    )
    indexer: IndexerStateOut | None = Field(description="Null when this process runs no indexer")
    counted_at: float | None = Field(
        description="When the counts were taken, seconds since the epoch (the indexer recounts every few seconds)"
    )
    published_at: float | None = Field(
        description="When an indexer (this process's or another's) last published its state; null before it has"
    )


class RelayStatusOut(BaseModel):
    """The relayer that pays for signed actions: who, what it holds, and what its policy lets it spend."""

    address: str | None = Field(description="Checksum address that pays; null when the node does not answer")
    balance_wei: int | None = Field(description="Its balance in wei (read at most every few seconds)")
    gas_per_hour: int = Field(description="Gas the relayer may spend an hour (INDELIBLE_RELAY_GAS_PER_HOUR)")
    gas_left_this_hour: int | None = Field(description="Gas of that budget free now (it refills continuously)")
    max_fee_gwei: float = Field(description="The most it pays per gas; above it the relay pauses (503)")
    error: str | None = Field(description="Why address, balance or budget are unknown; null otherwise")


class StatusOut(BaseModel):
    """Which node, chain and Board this server follows, and how far its index has got."""

    rpc_url: str = Field(
        description="The JSON-RPC node this server reads (INDELIBLE_RPC_URL): scheme, host and port only; "
        'a path, query or user info (where hosted nodes keep API keys) shows as "/…"'
    )
    chain_id: int | None = Field(description="The node's chain id; null when the node does not answer")
    head_block: int | None = Field(description="The node's latest block number; null when the node does not answer")
    contract_address: str | None = Field(description="Checksum address of the Board followed; null when none is found")
    deployment_block: int | None = Field(description="Block the Board was deployed in; null when none is found")
    error: str | None = Field(description="The first problem found (node, deployment, index), as a sentence; or null")
    index: IndexStatusOut
    relay: RelayStatusOut
