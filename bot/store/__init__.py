"""The database adapter: engines and sessions (`db`), the tables (`models`), migrations."""
