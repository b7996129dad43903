"""Content addressing and storage: CIDs, documents, the local pin store, Kubo, remote fetching."""
