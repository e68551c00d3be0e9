"""Thin actors: validate into a schemas/ model, open one transaction, call pure code, write.

One module (or package) per capability. Importing `actors` loads them all, so that
`dramatiq workers.broker actors` (the Procfile's worker; `--queues` picks a pool's queues)
declares every actor, and `larder scheduler` sees every capability's periodic duties.
"""

from actors import intake, maintenance, order_checks, recs

CAPABILITIES = (intake, recs, order_checks, maintenance)
