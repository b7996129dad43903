"""Which Board this node indexes: deployment records, the code check, deploying, joining, and the rule between them.

* ``records``: the ``deployments.json`` records (one ``make_record`` for deploy, join and the dev chain).
* ``code``: the compiled Board, its immutables, and the comparison of code found at an address with it.
* ``deploy``: deploy Board from the compiled artifact (a local key, or an unlocked dev account) and record it.
* ``join``: check the Board at an address, find its deployment block and record it.
* ``resolve``: use the recorded deployment on the node's chain, else join ``INDELIBLE_CONTRACT_ADDRESS``.

Imports run down this list's reverse: ``resolve`` -> ``join``/``deploy`` -> ``code``/``records`` -> ``backend.chain``.
"""
