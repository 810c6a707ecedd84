/// Sessions, device credentials (encrypted at rest) and API keys; SQLite by default.
public enum StoreModule {}
