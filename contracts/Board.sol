// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

/// @title Indelible discussion board
/// @notice An append-only board: anyone posts a content digest (e.g. the sha256 behind an IPFS CID),
/// replies to a post, or votes on it, directly or through a relayer with an EIP-712 signature.
/// A reply or a vote names its target by id and digest, so it can only land on the post its sender saw.
/// Nothing can remove, edit or hide a post: there is no owner, no pause and no upgrade path.
/// @author Indelible
contract Board is EIP712 {
    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice A post was stored.
    /// @param postId The new post's id (1, 2, 3, ... without gaps).
    /// @param parentId The post it replies to, or 0 for a top-level post.
    /// @param author The account that wrote it (the signer for signed posts, not the relayer).
    /// @param digest The content digest.
    event PostCreated(uint256 indexed postId, uint256 indexed parentId, address indexed author, bytes32 digest);

    /// @notice A vote was cast, changed or withdrawn.
    /// @param postId The post voted on.
    /// @param voter The voter (the signer for signed votes, not the relayer).
    /// @param direction +1 up, -1 down, 0 withdrawn.
    /// @param upvotes The post's upvote tally after this vote.
    /// @param downvotes The post's downvote tally after this vote.
    event VoteCast(uint256 indexed postId, address indexed voter, int8 direction, uint128 upvotes, uint128 downvotes);

    /// @notice A signed action consumed a nonce, so nonces can be rebuilt from logs alone.
    /// @param signer The account whose nonce was used.
    /// @param nonce The nonce used; the signer's next nonce is this plus one.
    event NonceUsed(address indexed signer, uint256 nonce);

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice There is no post with this id.
    /// @dev Raised by vote, voteBySig, getPost and voteOf.
    error PostNotFound(uint256 postId);

    /// @notice A reply names a parent post that does not exist.
    /// @dev parentId 0 means top level and is always accepted.
    error ParentNotFound(uint256 parentId);

    /// @notice The post at this id is not the one the vote was meant for: its digest differs.
    /// @dev Happens when a reorganisation or a racing batch gave the id to another post.
    /// @param postId The post voted on.
    /// @param expected The digest of the post stored at postId.
    /// @param given The digest the voter named.
    error PostMismatch(uint256 postId, bytes32 expected, bytes32 given);

    /// @notice The post at this id is not the one the reply was meant for: its digest differs.
    /// @dev Also raised for a top-level post (parentId 0) whose parentDigest is not zero.
    /// @param parentId The post replied to.
    /// @param expected The digest of the post stored at parentId (zero for parentId 0).
    /// @param given The parent digest the author named.
    error ParentMismatch(uint256 parentId, bytes32 expected, bytes32 given);

    /// @notice A post must carry a non-zero digest.
    /// @dev A zero digest addresses no content.
    error ZeroDigest();

    /// @notice A vote direction must be -1, 0 or +1.
    /// @dev 0 withdraws an earlier vote.
    error InvalidDirection(int8 direction);

    /// @notice The signed message's deadline has passed.
    /// @dev Raised when block.timestamp > deadline.
    error SignatureExpired(uint256 deadline);

    /// @notice The signature is malformed or was not made by the claimed signer.
    /// @dev Covers bad v, high s (malleable), wrong signer and any tampered field.
    error InvalidSignature(address signer);

    /// @notice A signed message must carry exactly the signer's current nonce.
    /// @dev Raised on replays and on messages signed out of order.
    error InvalidNonce(address signer, uint256 expected, uint256 given);

    /// @notice One item of a batch failed, so the whole batch reverted.
    /// @dev index counts posts first, then votes (a vote's index is posts.length + i);
    /// reason is the failed item's own revert data.
    error BatchItemFailed(uint256 index, bytes reason);

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    /// @dev Two slots per post: author, timestamp and parent share the first.
    struct Post {
        address author;
        uint48 createdAt;
        uint48 parentId;
        bytes32 digest;
    }

    /// @dev One slot per post, written only when someone votes. digestTag is the first 16 bytes of
    /// keccak256(post digest), cached by the post's first vote so later votes check their target without
    /// reading the digest slot. 2^64 voters would need 4e23 gas for their vote slots alone.
    struct Tally {
        uint64 upvotes;
        uint64 downvotes;
        bytes16 digestTag;
    }

    /// @dev author signs Post(author,digest,parentId,parentDigest,nonce,deadline).
    struct SignedPost {
        address author;
        bytes32 digest;
        uint256 parentId;
        bytes32 parentDigest;
        uint256 nonce;
        uint256 deadline;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /// @dev voter signs Vote(voter,postId,postDigest,direction,nonce,deadline).
    struct SignedVote {
        address voter;
        uint256 postId;
        bytes32 postDigest;
        int8 direction;
        uint256 nonce;
        uint256 deadline;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    bytes32 private constant POST_TYPEHASH =
        keccak256("Post(address author,bytes32 digest,uint256 parentId,bytes32 parentDigest,uint256 nonce,uint256 deadline)");
    bytes32 private constant VOTE_TYPEHASH =
        keccak256("Vote(address voter,uint256 postId,bytes32 postDigest,int8 direction,uint256 nonce,uint256 deadline)");

    /// @notice The next nonce each signer must sign.
    mapping(address signer => uint256) public nonces;

    // uint48 so that ++ reverts (checked arithmetic) before an id could overflow Post.parentId
    uint48 private _postCount;
    mapping(uint256 postId => Post) private _posts;
    mapping(uint256 postId => Tally) private _tallies;
    mapping(uint256 postId => mapping(address voter => int8)) private _votes;

    constructor() EIP712("Indelible", "2") {}

    /*//////////////////////////////////////////////////////////////
                            EXTERNAL FUNCTIONS
    //////////////////////////////////////////////////////////////*/

    /// @notice Posts a digest as msg.sender.
    /// @param digest The content digest, non-zero.
    /// @param parentId The post replied to, or 0 for a top-level post.
    /// @param parentDigest The digest of the post replied to (zero for a top-level post).
    /// @return postId The new post's id.
    function post(bytes32 digest, uint256 parentId, bytes32 parentDigest) external returns (uint256 postId) {
        return _post(msg.sender, digest, parentId, parentDigest);
    }

    /// @notice Votes as msg.sender; voting again replaces the earlier vote.
    /// @param postId The post voted on.
    /// @param postDigest The digest of the post voted on.
    /// @param direction +1 up, -1 down, 0 withdraws.
    function vote(uint256 postId, bytes32 postDigest, int8 direction) external {
        _vote(msg.sender, postId, postDigest, direction);
    }

    /// @notice Posts on behalf of p.author, who signed the EIP-712 Post message; anyone may relay it.
    /// @param p The signed post.
    /// @return postId The new post's id.
    function postBySig(SignedPost calldata p) external returns (uint256 postId) {
        bytes32 structHash = keccak256(
            abi.encode(POST_TYPEHASH, p.author, p.digest, p.parentId, p.parentDigest, p.nonce, p.deadline)
        );
        _useSignature(p.author, structHash, p.nonce, p.deadline, p.v, p.r, p.s);
        return _post(p.author, p.digest, p.parentId, p.parentDigest);
    }

    /// @notice Votes on behalf of v.voter, who signed the EIP-712 Vote message; anyone may relay it.
    /// @param v The signed vote.
    function voteBySig(SignedVote calldata v) external {
        bytes32 structHash = keccak256(
            abi.encode(VOTE_TYPEHASH, v.voter, v.postId, v.postDigest, v.direction, v.nonce, v.deadline)
        );
        _useSignature(v.voter, structHash, v.nonce, v.deadline, v.v, v.r, v.s);
        _vote(v.voter, v.postId, v.postDigest, v.direction);
    }

    /// @notice Relays many signed posts, then many signed votes, all or nothing.
    /// @dev Any failing item reverts the whole batch with BatchItemFailed(index, reason), so a relayer
    /// never half-applies a batch whose later items depend on earlier ones (replies, nonces).
    /// @param posts Signed posts, applied in order first.
    /// @param votes Signed votes, applied in order after the posts.
    function batch(SignedPost[] calldata posts, SignedVote[] calldata votes) external {
        uint256 postsLength = posts.length;
        for (uint256 i; i < postsLength; ++i) {
            // a self-call lets us catch the item's custom error and wrap it with its index
            try this.postBySig(posts[i]) {} catch (bytes memory reason) {
                revert BatchItemFailed(i, reason);
            }
        }
        for (uint256 i; i < votes.length; ++i) {
            try this.voteBySig(votes[i]) {} catch (bytes memory reason) {
                revert BatchItemFailed(postsLength + i, reason);
            }
        }
    }

    /*//////////////////////////////////////////////////////////////
                                  VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice Returns a stored post and its tallies.
    /// @param postId The post's id.
    /// @return author The account that wrote it.
    /// @return parentId The post it replies to, or 0.
    /// @return digest The content digest.
    /// @return createdAt The block timestamp it was stored at.
    /// @return upvotes Current upvotes.
    /// @return downvotes Current downvotes.
    function getPost(uint256 postId)
        external
        view
        returns (address author, uint256 parentId, bytes32 digest, uint64 createdAt, uint128 upvotes, uint128 downvotes)
    {
        _requirePost(postId);
        Post storage stored = _posts[postId];
        Tally storage tally = _tallies[postId];
        return (stored.author, stored.parentId, stored.digest, stored.createdAt, tally.upvotes, tally.downvotes);
    }

    /// @notice Returns a voter's current vote on a post: +1, -1, or 0 for none.
    /// @param postId The post's id; reverts with PostNotFound if it does not exist.
    /// @param voter The voter.
    /// @return The vote direction.
    function voteOf(uint256 postId, address voter) external view returns (int8) {
        _requirePost(postId);
        return _votes[postId][voter];
    }

    /// @notice Returns the number of posts, which is also the highest post id.
    /// @return The number of posts.
    function postCount() external view returns (uint256) {
        return _postCount;
    }

    /// @notice Returns the EIP-712 domain separator (name "Indelible", version "2", this chain, this contract).
    /// @return The domain separator.
    function DOMAIN_SEPARATOR() external view returns (bytes32) { // solhint-disable-line func-name-mixedcase
        return _domainSeparatorV4();
    }

    /*//////////////////////////////////////////////////////////////
                            INTERNAL HELPERS
    //////////////////////////////////////////////////////////////*/

    function _post(address author, bytes32 digest, uint256 parentId, bytes32 parentDigest)
        internal
        returns (uint256 postId)
    {
        if (digest == bytes32(0)) revert ZeroDigest();
        uint48 count = _postCount;
        if (parentId != 0) {
            if (parentId > count) revert ParentNotFound(parentId);
            bytes32 stored = _posts[parentId].digest;
            if (stored != parentDigest) revert ParentMismatch(parentId, stored, parentDigest);
        } else if (parentDigest != bytes32(0)) {
            revert ParentMismatch(0, bytes32(0), parentDigest);
        }
        postId = ++count;
        _postCount = count;
        // parentId <= count fits in uint48; timestamps fit in uint48 for millions of years
        _posts[postId] = Post(author, uint48(block.timestamp), uint48(parentId), digest);
        emit PostCreated(postId, parentId, author, digest);
    }

    function _vote(address voter, uint256 postId, bytes32 postDigest, int8 direction) internal {
        if (direction < -1 || direction > 1) revert InvalidDirection(direction);
        Tally memory tally = _tallies[postId];
        bytes16 tag = _digestTag(postDigest);
        // a later vote matches the tag its post's first vote cached (a 2^128 second preimage to fake);
        // the first vote (no tag yet), or a mismatch, reads the digest: never zero for a stored post
        if (tally.digestTag == bytes16(0) || tally.digestTag != tag) {
            bytes32 stored = _posts[postId].digest;
            if (stored == bytes32(0)) revert PostNotFound(postId);
            if (stored != postDigest) revert PostMismatch(postId, stored, postDigest);
            tally.digestTag = tag;
        }
        mapping(address => int8) storage votes = _votes[postId];
        int8 previous = votes[voter];
        // a tally counts distinct voters, so it stays far below 2^64 and above 0
        unchecked {
            if (previous == 1) --tally.upvotes;
            else if (previous == -1) --tally.downvotes;
            if (direction == 1) ++tally.upvotes;
            else if (direction == -1) ++tally.downvotes;
        }
        votes[voter] = direction;
        _tallies[postId] = tally;
        emit VoteCast(postId, voter, direction, tally.upvotes, tally.downvotes);
    }

    function _useSignature(
        address signer,
        bytes32 structHash,
        uint256 nonce,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) internal {
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        (address recovered, ECDSA.RecoverError recoverError,) = ECDSA.tryRecover(_hashTypedDataV4(structHash), v, r, s);
        if (recoverError != ECDSA.RecoverError.NoError || recovered != signer) revert InvalidSignature(signer);
        uint256 expected = nonces[signer];
        if (nonce != expected) revert InvalidNonce(signer, expected, nonce);
        unchecked {
            // a nonce grows by one per transaction, so it never reaches 2^256
            nonces[signer] = expected + 1;
        }
        emit NonceUsed(signer, nonce);
    }

    function _digestTag(bytes32 digest) internal pure returns (bytes16 tag) {
        // bytes16(keccak256(abi.encode(digest))) in scratch space: no memory allocation on every vote;
        // the low 16 bytes are masked off because Solidity expects a clean bytes16
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            mstore(0x00, digest)
            tag := and(keccak256(0x00, 0x20), not(sub(shl(128, 1), 1)))
        }
    }

    function _requirePost(uint256 postId) internal view {
        if (postId == 0 || postId > _postCount) revert PostNotFound(postId);
    }
}
