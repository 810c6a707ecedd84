/// The public commands of the API. The worker binds exactly these routing keys on `walink.commands`
/// (plus `diag.*` when enabled); a test keeps this list and a fully configured worker's handlers equal.
public enum CommandCatalog {
    public static let names: [String] = [
        "worker.ping",
        "session.create",
        "session.get",
        "session.list",
        "session.delete",
        "session.me",
        "session.qr",
        "session.pairing-code",
    ]
}
