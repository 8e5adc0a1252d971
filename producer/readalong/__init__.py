"""Read-along books: the narrated sentences marked in the EPUB (the producer's side of Media Overlays)."""
