"""The relay: send wallets' signed posts and votes, paying their gas, within a spending policy.

One module per job: ``errors`` (wording), ``checks`` (an item's signature, deadline, content),
``budget`` (limits, and every ``relay:*`` key of the shared store), ``nonces`` (signers' and the
relayer's own), ``fees`` (head and fee fields), ``node`` (JSON-RPC batches), ``simulate``, and
``relayer`` (the steps in order, and sending). ``backend.api.relay`` is the route.
"""
