"""The patterns requests are checked against (path, query and body fields alike)."""

from __future__ import annotations

ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"
BYTES32_PATTERN = r"^0x[0-9a-fA-F]{64}$"
SIGNATURE_PATTERN = r"^0x[0-9a-fA-F]{130}$"
POST_IDS_PATTERN = r"^[0-9]+(,[0-9]+)*$"
UINT256_MAX = 2**256 - 1
# ids are uint48 on chain (and must fit a signed 64-bit SQL column)
POST_ID_MAX = 2**48 - 1
