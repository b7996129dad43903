"""The relay: send wallets' signed posts and votes, paying their gas, within a spending policy.

One module per job: ``errors`` (wording), ``checks`` (an item's signature, deadline, content),
``budget`` (limits, and every ``relay:*`` key of the shared store), ``nonces`` (signers' and the
relayer's own), ``fees`` (head, fees from ``eth_feeHistory``, bumps), ``node`` (JSON-RPC batches),
``simulate``, ``resend`` (sending, and sending again what is stuck or dropped), and ``relayer`` (the
steps in order). ``backend.api.relay`` is the route.
"""
