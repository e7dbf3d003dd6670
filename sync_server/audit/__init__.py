"""The district's side of the signed audit trail: the Merkle log over the op log, its checkpoints and
cosignatures, batch proofs, and the public audit endpoints."""
