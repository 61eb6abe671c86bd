"""The ``opencdm`` commands that talk to a running server over the REST API, as any user would."""
