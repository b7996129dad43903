// The entry of backend/static/vendor/ethereumjs.js (make vendor bundles it with esbuild): the Merkle-Patricia
// proof check and the block header of @ethereumjs, for static/js/proof.js.
export { createMPTFromProof, verifyMerkleProof } from "@ethereumjs/mpt";
export { createBlockHeaderFromRPC } from "@ethereumjs/block";
export { createCustomCommon, Mainnet, Hardfork } from "@ethereumjs/common";
export { RLP } from "@ethereumjs/rlp";
