"""S3: the client (s3, its errors in s3_errors) and one object made from local files and other objects' ranges
(multipart: the plan, multipart_upload: carrying it out)."""

from worker.storage.s3 import Storage, make_client

__all__ = ["Storage", "make_client"]
