"""The district sync server: enrolment, request auth, scoped sync, audit log."""
