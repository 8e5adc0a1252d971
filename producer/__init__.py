"""Everything a submitter needs: the `narrate` CLI and the Python API in `producer.submit`."""
