"""Privacy of the stored data: encryption at rest (``crypto``, ``files``), ARCO requests (``arco``)
and the start-up notice when data is stored in the clear (``notice``)."""
