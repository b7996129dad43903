"""A JSON-RPC proxy in front of a real node that lies as a test tells it to (issue 23).

It forwards every request (batched or not) to the node and answers as the node did, except where a lie is set:

* ``call_posts``: getPost answers (``eth_call``) carry other fields (digest, upvotes, ...), ABI-encoded as real ones;
* ``proof_values``: ``eth_getProof`` states other slot values, its proof nodes left as they are (a lazy liar);
* ``header_fields``: ``eth_getBlockByNumber`` states other header fields and keeps the block's real hash;
* ``forge_code``: the forged state's Board account gets this codeHash (another contract at the address);
* ``drop_keys``: these slots' entries left out of ``eth_getProof``'s storageProof;
* ``refuse``: methods answered with an error, as a node that does not serve them (``eth_getProof`` withheld);
* ``storage_values``: ``eth_getStorageAt`` of these keys answers these words (the reader's storage reads, issue 22);
* ``log_parents``: the ``PostCreated`` logs of these post ids name this parent (their indexed parent topic);
* ``forge``: the cleverest liar who has read the code: slot values are changed *in the state*, i.e. the storage
  trie's path to each is rebuilt, the Board account's storageRoot and the state trie's path to it too, the
  header's stateRoot set to the forged root and the header's hash recomputed from its fields; every answer of
  this proxy (getPost calls, proofs, the header) is then consistent with the forged state. Only a second source
  that gives the real block's hash can tell.

CORS is answered as a public RPC does, so the reader's browser may ask it. Every lie is applied at any block.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import rlp
from eth_abi.abi import decode, encode
from eth_utils.crypto import keccak

from backend.devchain import free_port

GET_POST = keccak(text="getPost(uint256)")[:4]
POST_FIELDS = ["author", "parentId", "digest", "createdAt", "upvotes", "downvotes"]
POST_TYPES = ["address", "uint256", "bytes32", "uint64", "uint128", "uint128"]
# the header fields of a shanghai block, in the order its hash covers them (later forks append theirs)
HEADER_FIELDS = [
    "parentHash", "sha3Uncles", "miner", "stateRoot", "transactionsRoot", "receiptsRoot", "logsBloom", "difficulty",
    "number", "gasLimit", "gasUsed", "timestamp", "extraData", "mixHash", "nonce", "baseFeePerGas", "withdrawalsRoot",
    "blobGasUsed", "excessBlobGas", "parentBeaconBlockRoot", "requestsHash",
]  # fmt: skip
INTEGER_FIELDS = {"difficulty", "number", "gasLimit", "gasUsed", "timestamp", "baseFeePerGas", "blobGasUsed"}
INTEGER_FIELDS |= {"excessBlobGas"}


def header_hash(block: dict[str, Any]) -> str:
    """keccak256 of the RLP of the header's fields (those the block has), as 0x-hex."""
    fields: list[bytes] = []
    for name in HEADER_FIELDS:
        if name not in block or block[name] is None:
            continue
        value = int(block[name], 16) if name in INTEGER_FIELDS else bytes.fromhex(block[name][2:])
        fields.append(value.to_bytes((value.bit_length() + 7) // 8, "big") if isinstance(value, int) else value)
    return "0x" + keccak(rlp.encode(fields)).hex()


def slot_key(post_id: int, mapping_slot: int, offset: int = 0) -> str:
    """The storage key of member ``offset`` of ``mapping(uint256 => T)`` at ``mapping_slot``, as 32-byte 0x-hex."""
    base = int.from_bytes(keccak(encode(["uint256", "uint256"], [post_id, mapping_slot])), "big")
    return "0x" + ((base + offset) % 2**256).to_bytes(32, "big").hex()


# --- a Merkle-Patricia trie known only along proven paths: enough to change values that exist -------------------

Node = list[Any]


def _nibbles(data: bytes) -> list[int]:
    return [n for byte in data for n in (byte >> 4, byte & 15)]


def _path_of(encoded: bytes) -> tuple[list[int], bool]:
    """A leaf's or extension's hex-prefix path: (nibbles, is_leaf)."""
    flag = encoded[0] >> 4
    nibbles = _nibbles(encoded)
    return (nibbles[1:] if flag & 1 else nibbles[2:]), flag >= 2


class PartialTrie:
    """The nodes of some proofs under one root; values of keys on those paths can be changed, and proven again."""

    def __init__(self, root: str, proofs: list[list[str]]) -> None:
        self.db: dict[bytes, bytes] = {}
        for proof in proofs:
            for node in proof:
                encoded = bytes.fromhex(node[2:])
                self.db[keccak(encoded)] = encoded
        self.root = bytes.fromhex(root[2:])

    def _node(self, ref: Any) -> Node:
        return list(ref) if isinstance(ref, list) else list(rlp.decode(self.db[bytes(ref)]))

    def _store(self, node: Node, top: bool = False) -> Any:
        encoded = rlp.encode(node)
        if len(encoded) < 32 and not top:
            return node  # embedded in its parent, as the trie does
        digest = keccak(encoded)
        self.db[digest] = encoded
        return digest

    def _set(self, ref: Any, path: list[int], value: bytes, top: bool) -> Any:
        node = self._node(ref)
        if len(node) == 17:
            node[path[0]] = self._set(node[path[0]], path[1:], value, False)
        else:
            own, leaf = _path_of(node[0])
            if path[: len(own)] != own or (leaf and len(own) != len(path)):
                raise KeyError("the key is not in the trie: this liar only changes values that exist")
            node[1] = value if leaf else self._set(node[1], path[len(own) :], value, False)
        return self._store(node, top)

    def set(self, key: bytes, value: bytes) -> None:
        """Give hashed ``key`` the leaf value ``value`` (RLP bytes); the root changes."""
        self.root = self._set(self.root, _nibbles(keccak(key)), value, True)

    def prove(self, key: bytes) -> list[str]:
        """The proof of ``key`` under the current root (hashed nodes along its path)."""
        nodes, ref, path = [], self.root, _nibbles(keccak(key))
        while True:
            if isinstance(ref, list):
                node = ref
            else:
                encoded = self.db[bytes(ref)]
                nodes.append("0x" + encoded.hex())
                node = list(rlp.decode(encoded))
            if len(node) == 17:
                if not path or node[path[0]] in (b"", []):
                    break
                ref, path = node[path[0]], path[1:]
            else:
                own, leaf = _path_of(node[0])
                if leaf or path[: len(own)] != own:
                    break
                ref, path = node[1], path[len(own) :]
        return nodes


def _word(value: int) -> bytes:
    encoded: bytes = rlp.encode(value.to_bytes((value.bit_length() + 7) // 8, "big"))
    return encoded


class LyingRpc:
    """The proxy; set its lies (attributes) at any time; ``asked`` records every method it was asked."""

    def __init__(self, upstream: str, board: str) -> None:
        self.upstream, self.board = upstream, board.lower()
        self.call_posts: dict[int, dict[str, Any]] = {}
        self.proof_values: dict[str, int] = {}
        self.header_fields: dict[str, str] = {}
        self.forge: dict[str, int] = {}
        self.refuse: set[str] = set()
        self.forge_code: str | None = None
        self.drop_keys: set[str] = set()
        self.storage_values: dict[str, int] = {}
        self.log_parents: dict[int, int] = {}
        self.asked: list[str] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._client = httpx.Client(timeout=30)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def clear(self) -> None:
        """Tell the truth again."""
        self.call_posts, self.proof_values, self.header_fields, self.forge, self.refuse = {}, {}, {}, {}, set()
        self.forge_code, self.drop_keys = None, set()
        self.storage_values, self.log_parents = {}, {}

    # --- upstream ---
    def _send(self, payload: Any) -> Any:
        response = self._client.post(self.upstream, json=payload)
        response.raise_for_status()
        return response.json()

    def _call(self, method: str, params: list[Any]) -> Any:
        answer = self._send({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    # --- forging ---
    def _forged(self, tag: str, keys: list[str]) -> tuple[dict[str, Any], str]:
        """eth_getProof of ``keys`` at ``tag`` in the forged state, and the forged state root."""
        block = self._call("eth_getBlockByNumber", [tag, False])
        wanted = sorted({*keys, *self.forge})
        real = self._call("eth_getProof", [self.board, wanted, block["number"]])
        storage = PartialTrie(real["storageHash"], [item["proof"] for item in real["storageProof"]])
        for key, value in self.forge.items():
            storage.set(bytes.fromhex(key[2:]), _word(value))
        account = PartialTrie(block["stateRoot"], [real["accountProof"]])
        code_hash = bytes.fromhex((self.forge_code or real["codeHash"])[2:])
        fields = [int(real["nonce"], 16), int(real["balance"], 16), storage.root, code_hash]
        address = bytes.fromhex(self.board[2:])
        account.set(address, rlp.encode([f.to_bytes((f.bit_length() + 7) // 8, "big") if isinstance(f, int) else f
                                          for f in fields]))  # fmt: skip
        values = {item["key"]: int(item["value"], 16) for item in real["storageProof"]}
        proof = {
            **real,
            "codeHash": "0x" + code_hash.hex(),
            "storageHash": "0x" + storage.root.hex(),
            "accountProof": account.prove(address),
            "storageProof": [
                {
                    "key": key,
                    "value": hex(self.forge.get(key, values.get(key, 0))),
                    "proof": storage.prove(bytes.fromhex(key[2:])),
                }
                for key in keys
            ],
        }
        return proof, "0x" + account.root.hex()

    # --- the lies ---
    def _lie(self, request: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        method, params, result = request.get("method"), request.get("params") or [], answer.get("result")
        if method in self.refuse:
            return {
                "jsonrpc": "2.0",
                "id": request.get("id"),
                "error": {"code": -32601, "message": f"{method} is not served"},
            }
        if result is None:
            return answer
        if method == "eth_call" and self.call_posts:
            data = bytes.fromhex(str(params[0].get("data", "0x"))[2:])
            if data[:4] == GET_POST:
                post_id = int.from_bytes(data[4:36], "big")
                if post_id in self.call_posts:
                    fields = dict(zip(POST_FIELDS, decode(POST_TYPES, bytes.fromhex(result[2:])), strict=True))
                    fields |= self.call_posts[post_id]
                    return {**answer, "result": "0x" + encode(POST_TYPES, [fields[f] for f in POST_FIELDS]).hex()}
        if method == "eth_getStorageAt" and str(params[0]).lower() == self.board:
            key = "0x" + int(str(params[1]), 16).to_bytes(32, "big").hex()
            if key in self.storage_values:
                return {**answer, "result": "0x" + self.storage_values[key].to_bytes(32, "big").hex()}
        if method == "eth_getLogs" and self.log_parents and isinstance(result, list):
            logs = []
            for log in result:
                post_id = int(log["topics"][1], 16) if len(log.get("topics") or []) == 4 else 0
                if str(log.get("address")).lower() == self.board and post_id in self.log_parents:
                    topics = list(log["topics"])
                    topics[2] = "0x" + self.log_parents[post_id].to_bytes(32, "big").hex()
                    log = {**log, "topics": topics}
                logs.append(log)
            return {**answer, "result": logs}
        if method == "eth_getProof" and str(params[0]).lower() == self.board:
            if self.forge or self.forge_code:
                result = self._forged(params[2], [str(k) for k in params[1]])[0]
            if self.drop_keys:
                kept = [item for item in result["storageProof"] if item["key"] not in self.drop_keys]
                result = {**result, "storageProof": kept}
            if self.proof_values:
                result = {**result, "storageProof": [
                    {**item, "value": hex(self.proof_values[item["key"]])} if item["key"] in self.proof_values else item
                    for item in result["storageProof"]
                ]}  # fmt: skip
            return {**answer, "result": result}
        if method in ("eth_getBlockByNumber", "eth_getBlockByHash"):
            block = dict(result)
            if self.forge or self.forge_code:
                block["stateRoot"] = self._forged(block["number"], [])[1]
                block["hash"] = header_hash(block)
            block |= self.header_fields
            return {**answer, "result": block}
        return answer

    def answer(self, payload: Any) -> Any:
        """What this proxy answers to ``payload`` (one request or a batch)."""
        answers = self._send(payload)
        requests = payload if isinstance(payload, list) else [payload]
        answered = answers if isinstance(answers, list) else [answers]
        by_id = {a.get("id"): a for a in answered}
        with self._lock:
            self.asked.extend(str(r.get("method")) for r in requests)
            lied = [self._lie(r, by_id[r.get("id")]) if r.get("id") in by_id else None for r in requests]
        kept = [a for a in lied if a is not None]
        return kept if isinstance(payload, list) else kept[0]

    # --- serving ---
    def start(self) -> LyingRpc:
        """Serve on 127.0.0.1 in a thread."""
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _headers(self, length: int) -> None:
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Access-Control-Allow-Headers", "content-type")
                self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
                self.send_header("Content-Length", str(length))

            def do_OPTIONS(self) -> None:
                self.send_response(204)
                self._headers(0)
                self.end_headers()

            def do_POST(self) -> None:
                payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                body = json.dumps(proxy.answer(payload)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self._headers(len(body))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._client.close()


@contextmanager
def lying_rpc(upstream: str, board: str) -> Iterator[LyingRpc]:
    """A started proxy in front of ``upstream`` for the Board at ``board``; stopped on exit."""
    proxy = LyingRpc(upstream, board).start()
    try:
        yield proxy
    finally:
        proxy.stop()
