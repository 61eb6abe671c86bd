"""What every file-backed connector shares: path confinement (and, with the file connectors, listing,
partitions by file or byte range, and staged writes published on commit)."""
