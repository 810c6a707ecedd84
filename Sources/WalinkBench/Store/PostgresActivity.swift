import Logging
import PostgresNIO
import Store

/// The benchmark's own connection to the PostgreSQL server, beside the store's pool: it creates a
/// fresh database for one run (so nothing of an earlier run or the tests is counted or collides,
/// whatever key the store uses), reads that database's row-write counters, and drops it afterwards.
///
/// The counters are PostgreSQL's cumulative statistics (`pg_stat_user_tables`): rows inserted,
/// updated and deleted per table. Each server process publishes its counts when it goes idle, at
/// most once a second, and otherwise within 10 s, so a reading lags the truth by up to that; the
/// benchmark lets the counts settle before a measured window and reads them over whole seconds.
final class PostgresActivity: Sendable {
    /// The database created for this run, for the store's URL.
    let database: String
    private let server: PostgresSettings
    private let connection: PostgresConnection
    private let logger: Logger

    /// Connects to the database `server` names (as the URL's user, who must be allowed to create
    /// databases: the throwaway server's `walink` is its superuser), and creates `database` there.
    static func create(database: String, on server: PostgresSettings, logger: Logger) async throws -> PostgresActivity {
        let admin = try await connect(server, database: server.database, logger: logger)
        do {
            // A database name cannot be a bound parameter; this one is ours (letters, digits, `_`).
            _ = try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(database)"), logger: logger).collect()
            try await admin.close()
        } catch {
            try? await admin.close()
            throw BenchmarkError("could not create the database \(database) on \(server): \(String(describing: error))")
        }
        return PostgresActivity(
            database: database, server: server, connection: try await connect(server, database: database, logger: logger), logger: logger)
    }

    private init(database: String, server: PostgresSettings, connection: PostgresConnection, logger: Logger) {
        self.database = database
        self.server = server
        self.connection = connection
        self.logger = logger
    }

    /// Where the store should live: the server's settings with this run's database.
    var storeSettings: PostgresSettings {
        var settings = server
        settings.database = database
        return settings
    }

    /// Rows written so far in this database, all tables together.
    func rowsWritten() async throws -> Int64 {
        let rows = try await connection.query(
            "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint FROM pg_stat_user_tables", logger: logger)
        for try await row in rows { return try row.decode(Int64.self) }
        return 0
    }

    /// Sessions whose recorded owner is `tenure` while its worker lease is live by the database's
    /// clock: the ownership the store would grant, counted in one query.
    func sessionsOwned(by tenure: WorkerTenure) async throws -> Int {
        let rows = try await connection.query(
            """
            SELECT count(*)::bigint FROM session_owners o JOIN worker_leases l ON l.worker = o.worker AND l.epoch = o.epoch
            WHERE o.worker = \(tenure.worker) AND o.epoch = \(tenure.epoch) AND l.expires_at > walink_now_ms()
            """, logger: logger)
        for try await row in rows { return Int(try row.decode(Int64.self)) }
        return 0
    }

    /// Closes this connection and drops the run's database (call after the store closed).
    func dropDatabase() async {
        try? await connection.close()
        guard let admin = try? await Self.connect(server, database: server.database, logger: logger) else { return }
        _ = try? await admin.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(database) WITH (FORCE)"), logger: logger).collect()
        try? await admin.close()
    }

    private static func connect(_ settings: PostgresSettings, database: String, logger: Logger) async throws -> PostgresConnection {
        let configuration: PostgresConnection.Configuration
        if let socketPath = settings.socketPath {
            configuration = .init(unixSocketPath: socketPath, username: settings.user, password: settings.password, database: database)
        } else {
            guard settings.tlsMode == .disable else {
                throw BenchmarkError("the store benchmark connects without TLS: give a URL with sslmode=disable or ?host=/socket/dir")
            }
            configuration = .init(
                host: settings.host, port: settings.port, username: settings.user, password: settings.password, database: database, tls: .disable)
        }
        do {
            return try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        } catch {
            // postgres-nio's error descriptions are redacted; the settings print without the password.
            throw BenchmarkError("could not connect to \(settings): \(String(describing: error))")
        }
    }
}
