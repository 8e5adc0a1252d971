"""S3: the client (s3) and one object made from local files and other objects' ranges (multipart)."""

from worker.storage.s3 import Storage, make_client

__all__ = ["Storage", "make_client"]
