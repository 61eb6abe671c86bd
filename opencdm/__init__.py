"""opencdm: a self-hosted server for the CDM (Cloud Data Migration) v1.1 REST API."""

__version__ = "0.2.0"
