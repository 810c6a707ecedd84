import Foundation

/// Which database the store lives in, from `WALINK_STORE`.
public enum StoreLocation: Sendable, Hashable {
    /// An SQLite file (created when missing). Workers on one machine may share it.
    case sqlite(path: String)
    /// A PostgreSQL database, shared by workers on any number of machines.
    case postgres(PostgresSettings)

    /// Parses `sqlite:PATH` (relative or absolute, taken verbatim), `sqlite:///abs/path`
    /// (percent-decoded) and `postgres://` / `postgresql://` URLs (``PostgresSettings``). Error
    /// messages never repeat the URL: a database URL may carry a password.
    public init(url: String) throws(StoreError) {
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            self = .postgres(try PostgresSettings(url: url))
            return
        }
        guard url.hasPrefix("sqlite:") else {
            throw StoreError(.invalidConfiguration, "the store URL must be sqlite:PATH, sqlite:///absolute/path or postgres://…")
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

/// Where a PostgreSQL store lives and how to reach it, from
/// `postgres://user:pass@host:port/db?sslmode=…&sslrootcert=…` (or `?host=/socket/dir` for a unix
/// socket). Printing it never shows the password.
public struct PostgresSettings: Sendable, Hashable, CustomStringConvertible, CustomReflectable {
    /// libpq's `sslmode` values walink takes, with libpq's meanings.
    public enum TLSMode: String, Sendable, Hashable, CaseIterable {
        /// No TLS.
        case disable
        /// TLS when the server offers it, without verifying the server (libpq's default).
        case prefer
        /// TLS or nothing; the server's certificate is verified only when `sslrootcert` is given.
        case require
        /// TLS, the certificate verified against `sslrootcert` (or the system's trust store) and the
        /// host name checked.
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    /// The directory of the server's unix socket, when connecting through one (`?host=/dir`).
    public var socketDirectory: String?
    public var user: String
    public var password: String?
    public var database: String
    public var tlsMode: TLSMode
    /// A CA bundle to verify the server with (`sslrootcert=PATH`).
    public var rootCertificatePath: String?

    public init(
        host: String = "localhost", port: Int = 5432, socketDirectory: String? = nil, user: String, password: String? = nil, database: String,
        tlsMode: TLSMode = .prefer, rootCertificatePath: String? = nil
    ) {
        self.host = host
        self.port = port
        self.socketDirectory = socketDirectory
        self.user = user
        self.password = password
        self.database = database
        self.tlsMode = tlsMode
        self.rootCertificatePath = rootCertificatePath
    }

    /// The unix socket path the server listens on in `socketDirectory` (PostgreSQL's naming).
    public var socketPath: String? { socketDirectory.map { "\($0)/.s.PGSQL.\(port)" } }

    public init(url: String) throws(StoreError) {
        let invalid = StoreError(
            .invalidConfiguration,
            "a PostgreSQL store URL is postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…&sslrootcert=…&host=/socket/dir]")
        guard let components = URLComponents(string: url), components.scheme == "postgres" || components.scheme == "postgresql" else {
            throw invalid
        }
        guard let user = components.user?.removingPercentEncoding, !user.isEmpty else {
            throw StoreError(.invalidConfiguration, "the PostgreSQL store URL names no user")
        }
        let database = String(components.path.dropFirst()).removingPercentEncoding ?? ""
        guard !database.isEmpty, !database.contains("/") else {
            throw StoreError(.invalidConfiguration, "the PostgreSQL store URL names no database (postgres://…/DATABASE)")
        }
        var settings = PostgresSettings(
            host: components.host.flatMap { $0.isEmpty ? nil : $0 } ?? "localhost", port: components.port ?? 5432, user: user,
            password: components.password?.removingPercentEncoding, database: database)
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode":
                guard let mode = TLSMode(rawValue: value) else {
                    throw StoreError(.invalidConfiguration, "sslmode must be one of disable, prefer, require, verify-full")
                }
                settings.tlsMode = mode
            case "sslrootcert":
                guard !value.isEmpty else { throw StoreError(.invalidConfiguration, "sslrootcert needs a file path") }
                settings.rootCertificatePath = value
            case "host":
                guard value.hasPrefix("/") else { throw StoreError(.invalidConfiguration, "host= in the query names a unix socket directory (/…)") }
                settings.socketDirectory = value
            default:
                throw StoreError(.invalidConfiguration, "the PostgreSQL store URL takes only sslmode, sslrootcert and host parameters")
            }
        }
        guard (1...65535).contains(settings.port) else { throw invalid }
        self = settings
    }

    public var description: String {
        let place = socketDirectory.map { "unix socket in \($0)" } ?? "\(host):\(port)"
        return "postgres database \(database) as \(user) at \(place) (sslmode \(tlsMode.rawValue))"
    }

    /// Reflection shows the description too, so `dump` or `String(reflecting:)` cannot leak the password.
    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }
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
    /// How long a PostgreSQL call may take before it is abandoned with `.unavailable`
    /// (`WALINK_STORE_TIMEOUT`, seconds).
    public var timeout: Duration = .seconds(5)

    public static let defaultURL = "sqlite:walink.db"

    public init(location: StoreLocation, key: StoreKeySource = .file(path: nil), busyTimeout: Duration = .seconds(5)) {
        self.location = location
        self.key = key
        self.busyTimeout = busyTimeout
    }

    /// `WALINK_STORE` (default `sqlite:walink.db`), `WALINK_STORE_KEY` (32 bytes, base64 or hex;
    /// empty counts as unset), `WALINK_STORE_KEY_FILE` (the key file when no key is given; required
    /// for PostgreSQL when no key is given, since no key file sits beside a shared database) and
    /// `WALINK_STORE_TIMEOUT` (seconds).
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
        if case .postgres = location, case .file(nil) = key {
            throw StoreError(.invalidConfiguration, "a PostgreSQL store needs WALINK_STORE_KEY or WALINK_STORE_KEY_FILE")
        }
        self.init(location: location, key: key)
        if let text = environment["WALINK_STORE_TIMEOUT"], !text.isEmpty {
            guard let seconds = Double(text), seconds > 0, seconds <= 600 else {
                throw StoreError(.invalidConfiguration, "WALINK_STORE_TIMEOUT must be a number of seconds between 0 and 600")
            }
            timeout = .milliseconds(Int64(seconds * 1000))
        }
    }
}
