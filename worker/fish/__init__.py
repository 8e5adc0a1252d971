"""The only package that imports the `fishaudio` SDK: the client, the cluster-wide slot cap, the credit breaker."""
