"""The kiosk's side of the signed audit trail: checking every sync answer against the district's
checkpoints, the export format, offline verification of an export and the committee's witness."""
