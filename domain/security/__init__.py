"""Security's pure core: message signatures (`signing`), payload limits checked before a body
is parsed (`limits`), API tokens (`tokens`) and the scopes they grant (`scopes`). No I/O:
the broker, the store and the HTTP app wire these in."""
