"""Takes of a chunk: each heard back and judged (worker.hearing), taken again while it fails, the best chosen.

`take_chunk` (loop.py) is the one mechanism book chunks and single jobs share; `record.py` is what it leaves in
S3 beside each chunk's content address; `listen.py` hears one take; `summary.py` is what reports read of it.
"""
