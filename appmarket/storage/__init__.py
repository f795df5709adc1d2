"""Object storage behind one small contract (see ``base.BlobStore``)."""
