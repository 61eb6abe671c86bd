pytest_plugins = ["tests.infra.postgres", "tests.infra.server"]
