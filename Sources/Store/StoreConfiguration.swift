import Foundation

/// Which database the store lives in, from `WALINK_STORE`.
public enum StoreLocation: Sendable, Hashable {
    /// An SQLite file (created when missing). Workers on one machine may share it.
    case sqlite(path: String)

    /// Parses `sqlite:PATH` (relative or absolute, taken verbatim), `sqlite:///abs/path`
    /// (percent-decoded) and refuses `postgres://` / `postgresql://` as not supported in this
    /// build. Error messages never repeat the URL: a database URL may carry a password.
    public init(url: String) throws(StoreError) {
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            throw StoreError(.unsupported, "PostgreSQL stores are not supported yet in this build; use WALINK_STORE=sqlite:PATH")
        }
        guard url.hasPrefix("sqlite:") else {
            throw StoreError(.invalidConfiguration, "the store URL must be sqlite:PATH or sqlite:///absolute/path")
        }
        let rest = url.dropFirst("sqlite:".count)
        let path: String
        if rest.hasPrefix("//") {
            let afterSlashes = rest.dropFirst(2)
            guard afterSlashes.hasPrefix("/"), let decoded = String(afterSlashes).removingPercentEncoding else {
                throw StoreError(.invalidConfiguration, "sqlite:// URLs take no host: write sqlite:///absolute/path or sqlite:PATH")
            }
            path = decoded
        } else {
            path = String(rest)
        }
        guard !path.isEmpty, path != "/", !path.hasSuffix("/") else {
            throw StoreError(.invalidConfiguration, "the store URL names no database file")
        }
        guard path != ":memory:", !path.hasPrefix("file:") else {
            throw StoreError(.invalidConfiguration, "the store must be a file that workers can share")
        }
        self = .sqlite(path: path)
    }
}

/// Where the key that encrypts device credentials comes from.
public enum StoreKeySource: Sendable {
    /// A key given in configuration (`WALINK_STORE_KEY`).
    case key(StoreKey)
    /// A key file, created on first run with mode 0600 (`nil`: the database path + `.key`).
    case file(path: String?)
}

/// How to open the store. `init(environment:)` reads the documented variables.
public struct StoreConfiguration: Sendable {
    public var location: StoreLocation
    public var key: StoreKeySource
    /// How long an operation waits for other workers' write locks before failing with `.busy`.
    public var busyTimeout: Duration

    public static let defaultURL = "sqlite:walink.db"

    public init(location: StoreLocation, key: StoreKeySource = .file(path: nil), busyTimeout: Duration = .seconds(5)) {
        self.location = location
        self.key = key
        self.busyTimeout = busyTimeout
    }

    /// `WALINK_STORE` (default `sqlite:walink.db`), `WALINK_STORE_KEY` (32 bytes, base64 or hex;
    /// empty counts as unset) and `WALINK_STORE_KEY_FILE` (the key file when no key is given).
    public init(environment: [String: String]) throws(StoreError) {
        let url = environment["WALINK_STORE"].flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultURL
        let location = try StoreLocation(url: url)
        let key: StoreKeySource
        if let text = environment["WALINK_STORE_KEY"], !text.isEmpty {
            do {
                key = .key(try StoreKey(parsing: text))
            } catch {
                throw StoreError(.invalidConfiguration, "WALINK_STORE_KEY must be 32 bytes written as base64 or 64 hex digits")
            }
        } else {
            key = .file(path: environment["WALINK_STORE_KEY_FILE"].flatMap { $0.isEmpty ? nil : $0 })
        }
        self.init(location: location, key: key)
    }
}
