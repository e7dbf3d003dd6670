"""Replication core: canonical encoding, keys, signed ops, hash chains, HLC, CRDT types. No I/O."""
