"""Storage: the Peewee models and their named queries, the migrations, the group-commit writer,
hot SQL and PostgreSQL LISTEN/NOTIFY. The one layer that knows which database backend is in use."""
