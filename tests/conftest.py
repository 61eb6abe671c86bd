pytest_plugins = [
    "tests.infra.secrets",
    "tests.infra.postgres",
    "tests.infra.mariadb",
    "tests.infra.server",
    "tests.infra.ceph",
    "tests.infra.sshd",
    "tests.infra.ftp",
    "tests.infra.search",
    "tests.infra.dis",
    "tests.infra.kafka",
    "tests.infra.dask",
]
