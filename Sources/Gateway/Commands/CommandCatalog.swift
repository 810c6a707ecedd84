/// The public commands of the API. The worker binds exactly these routing keys on `walink.commands`
/// (plus `diag.*` when enabled); a test keeps this list and the registered handlers equal.
public enum CommandCatalog {
    public static let names: [String] = [
        "worker.ping",
        "session.create",
        "session.get",
        "session.list",
        "session.delete",
        "session.me",
    ]
}
