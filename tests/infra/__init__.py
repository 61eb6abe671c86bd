"""Real servers on loopback for the test suite, one session-scoped fixture each."""
