pytest_plugins = ["tests.infra.postgres", "tests.infra.mariadb", "tests.infra.server"]
