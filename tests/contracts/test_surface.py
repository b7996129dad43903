"""What the contract can do at all: its ABI and the opcodes in its runtime bytecode."""

from brownie import web3

ALLOWED_FUNCTIONS = {
    ("post", "nonpayable"),
    ("vote", "nonpayable"),
    ("postBySig", "nonpayable"),
    ("voteBySig", "nonpayable"),
    ("batch", "nonpayable"),
    ("getPost", "view"),
    ("voteOf", "view"),
    ("postCount", "view"),
    ("nonces", "view"),
    ("DOMAIN_SEPARATOR", "view"),
    ("eip712Domain", "view"),
}
FORBIDDEN_OPCODES = {0xFF: "SELFDESTRUCT", 0xF4: "DELEGATECALL", 0xF2: "CALLCODE"}
PUSH1, PUSH32 = 0x60, 0x7F


def opcodes(code: bytes) -> list[int]:
    """The opcodes of runtime code, skipping PUSH data and the trailing CBOR metadata."""
    metadata_length = int.from_bytes(code[-2:], "big")
    assert code[-2 - metadata_length] in (0xA1, 0xA2, 0xA3), "runtime code must end with CBOR metadata"
    body = code[: -2 - metadata_length]
    found, pc = [], 0
    while pc < len(body):
        op = body[pc]
        found.append(op)
        pc += 1 + (op - PUSH1 + 1 if PUSH1 <= op <= PUSH32 else 0)
    return found


def test_abi_has_only_posting_voting_their_signed_and_batch_forms_and_views(Board):
    functions = {(item["name"], item["stateMutability"]) for item in Board.abi if item["type"] == "function"}
    assert functions == ALLOWED_FUNCTIONS
    assert {item["type"] for item in Board.abi} == {"constructor", "function", "event", "error"}
    constructor = next(item for item in Board.abi if item["type"] == "constructor")
    assert constructor["inputs"] == [] and constructor["stateMutability"] == "nonpayable"


def test_every_reply_and_vote_names_its_target_by_id_and_digest(Board):
    inputs = {
        item["name"]: [(i["name"], i["type"]) for i in item["inputs"]]
        for item in Board.abi
        if item["type"] == "function" and item["name"] in ("post", "vote")
    }
    assert inputs == {
        "post": [("digest", "bytes32"), ("parentId", "uint256"), ("parentDigest", "bytes32")],
        "vote": [("postId", "uint256"), ("postDigest", "bytes32"), ("direction", "int8")],
    }
    structs = {
        item["name"]: [c["name"] for c in item["inputs"][0]["components"]]
        for item in Board.abi
        if item["type"] == "function" and item["name"] in ("postBySig", "voteBySig")
    }
    assert structs["postBySig"][:4] == ["author", "digest", "parentId", "parentDigest"]
    assert structs["voteBySig"][:4] == ["voter", "postId", "postDigest", "direction"]


def test_abi_declares_exactly_the_indexer_events(Board):
    events = {
        item["name"]: [(i["name"], i["type"], i["indexed"]) for i in item["inputs"]]
        for item in Board.abi
        if item["type"] == "event"
    }
    assert events == {
        "PostCreated": [
            ("postId", "uint256", True),
            ("parentId", "uint256", True),
            ("author", "address", True),
            ("digest", "bytes32", False),
        ],
        "VoteCast": [
            ("postId", "uint256", True),
            ("voter", "address", True),
            ("direction", "int8", False),
            ("upvotes", "uint128", False),
            ("downvotes", "uint128", False),
        ],
        "NonceUsed": [("signer", "address", True), ("nonce", "uint256", False)],
        "EIP712DomainChanged": [],
    }


def test_deployed_runtime_code_has_no_selfdestruct_delegatecall_or_callcode(board):
    code = bytes(web3.eth.get_code(board.address))
    found = {FORBIDDEN_OPCODES[op] for op in opcodes(code) if op in FORBIDDEN_OPCODES}
    assert found == set()


def test_opcode_walk_skips_push_data_but_sees_real_opcodes():
    metadata = bytes([0xA1, 0x00, 0x00]) + (3).to_bytes(2, "big")
    assert opcodes(bytes([0x60, 0xFF, 0x00]) + metadata) == [0x60, 0x00]
    assert opcodes(bytes([0x7F]) + b"\xf4" * 32 + bytes([0xF2]) + metadata) == [0x7F, 0xF2]
