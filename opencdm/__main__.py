from opencdm.cli import app

app()
