import Foundation
import Logging
import NIOSSL
import PostgresNIO
import Store
import Synchronization

/// The fleet's store: one PostgreSQL database shared by workers on any number of machines, through
/// postgres-nio's pooled `PostgresClient`.
///
/// Same behaviour as ``SQLiteStore`` (the store test suite runs on both), with these differences:
/// - **Time** comes from the database (`walink_now_ms()`, `clock_timestamp()` in milliseconds), read
///   inside each transaction after its row locks are taken, so workers whose clocks disagree still
///   agree on every expiry. Tests may give a clock of their own instead.
/// - **Unreachable database**: postgres-nio cannot cancel a query, so a call that has not answered
///   within `timeout` (or the caller's ``StoreCallDeadline``, whichever is sooner) is abandoned and
///   answered with `.unavailable`; it may still complete later, which every write tolerates (each is
///   one transaction, and retrying it is safe).
/// - **Concurrency** is PostgreSQL's: each operation is one READ COMMITTED transaction whose reads of
///   the rows it decides on lock them (`FOR UPDATE` / `FOR SHARE`); serialization failures and
///   deadlocks are retried up to three times.
///
/// The client runs in a task the store owns from `open` to `close`.
public final class PostgresStore: WalinkStore {
    let client: PostgresClient
    let sealer: CredentialSealer
    let ids = SortableIDGenerator()
    let logger: Logger
    private let testClock: (any StoreClock)?
    private let timeout: Duration
    private let clientTask: Task<Void, Never>
    private let isClosed = Atomic<Bool>(false)
    /// When expired command replies were last swept (see `saveReply`).
    let lastReplySweep = Mutex<ContinuousClock.Instant?>(nil)

    private static let keyCheckName = "credentials_key_check"

    /// Connects, waits at most `startupTimeout` for the database to answer and migrate (under an
    /// advisory lock), and checks the key. Later calls are abandoned after `timeout`. `key` must be given (or a key file named): no key file
    /// sits beside a shared database. `clock`: nil for the database's clock.
    public static func open(
        _ settings: PostgresSettings,
        key: StoreKeySource,
        timeout: Duration = .seconds(5),
        startupTimeout: Duration = .seconds(30),
        clock: (any StoreClock)? = nil,
        logger: Logger = Logger(label: "walink.store")
    ) async throws(StoreError) -> PostgresStore {
        let storeKey = try loadKey(key, logger: logger)
        let client = PostgresClient(configuration: try clientConfiguration(settings, timeout: timeout), backgroundLogger: logger)
        let clientTask = Task { await client.run() }
        let store = PostgresStore(
            client: client, clientTask: clientTask, sealer: CredentialSealer(storeKey: storeKey), timeout: timeout, clock: clock, logger: logger)
        do {
            // A database that does not answer fails the start within a bounded time, not after the
            // pool's one-minute circuit breaker.
            let previous = try await store.perform(limit: max(timeout, startupTimeout)) { connection in
                try await PostgresMigrations.migrate(connection, logger: logger)
            }
            let check = try await store.perform(limit: max(timeout, startupTimeout)) { [sealer = store.sealer] connection in
                let candidate = try sealer.makeKeyCheck()
                // Another worker may create the check at the same moment: insert only when missing,
                // then verify whatever won.
                try await connection.run(
                    "INSERT INTO metadata (name, value) VALUES (\(keyCheckName), \(candidate)) ON CONFLICT (name) DO NOTHING", logger: logger)
                return try await connection.run("SELECT value FROM metadata WHERE name = \(keyCheckName)", logger: logger)
                    .first?.decode(Data.self) ?? Data()
            }
            guard store.sealer.verifyKeyCheck(check) else {
                throw StoreError(
                    .wrongKey, "the store key is not the one this database's credentials were encrypted with; check WALINK_STORE_KEY or the key file")
            }
            logger.info(
                "store opened",
                metadata: ["database": "\(settings)", "schema": "\(PostgresMigrations.latestVersion)", "migratedFrom": "\(previous)"])
            return store
        } catch let error as StoreError {
            await store.close()
            throw error
        } catch {
            await store.close()
            throw storeError(error)
        }
    }

    private init(
        client: PostgresClient, clientTask: Task<Void, Never>, sealer: CredentialSealer, timeout: Duration, clock: (any StoreClock)?, logger: Logger
    ) {
        self.client = client
        self.clientTask = clientTask
        self.sealer = sealer
        self.timeout = timeout
        self.testClock = clock
        self.logger = logger
    }

    deinit {
        clientTask.cancel()
    }

    /// Stops the client: open connections close, later calls throw `.closed`. Calls abandoned
    /// earlier end with the pool.
    public func close() async {
        guard !isClosed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        clientTask.cancel()
        await clientTask.value
    }

    // MARK: - Configuration

    private static func loadKey(_ source: StoreKeySource, logger: Logger) throws(StoreError) -> StoreKey {
        switch source {
        case .key(let key):
            return key
        case .file(let path?):
            let (key, _) = try StoreKeyFile.load(path: path, mayCreate: false)
            if StoreKeyFile.isTooOpen(path: path) {
                logger.warning("the store key file is readable by group or others; chmod 600 it", metadata: ["file": "\(path)"])
            }
            return key
        case .file(nil):
            throw StoreError(.invalidConfiguration, "a PostgreSQL store needs WALINK_STORE_KEY or WALINK_STORE_KEY_FILE")
        }
    }

    static func clientConfiguration(_ settings: PostgresSettings, timeout: Duration) throws(StoreError) -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        if let socketPath = settings.socketPath {
            configuration = PostgresClient.Configuration(
                unixSocketPath: socketPath, username: settings.user, password: settings.password, database: settings.database)
        } else {
            configuration = PostgresClient.Configuration(
                host: settings.host, port: settings.port, username: settings.user, password: settings.password, database: settings.database,
                tls: try tls(settings))
        }
        configuration.options.connectTimeout = max(timeout, .seconds(1))
        configuration.options.maximumConnections = 16
        // Server-side bounds: they end work on the server, not a dead network (the call deadline does
        // that). A lock is waited for as long as the call itself may take, not longer: by then the
        // caller was answered 503 and the work is only holding a connection.
        let callSeconds = max(1, Int(timeout.components.seconds))
        configuration.options.additionalStartupParameters = [
            ("application_name", "walink"), ("statement_timeout", "\(max(15, 3 * callSeconds))s"), ("lock_timeout", "\(callSeconds)s"),
            ("idle_in_transaction_session_timeout", "\(max(30, 6 * callSeconds))s"),
        ]
        return configuration
    }

    /// libpq's `sslmode` over NIOSSL: `prefer` and `require` encrypt without verifying (unless a
    /// root certificate is given: then `require` verifies the chain, as libpq's does), `verify-full`
    /// verifies the chain against `sslrootcert` or the system's trust store and the host name.
    private static func tls(_ settings: PostgresSettings) throws(StoreError) -> PostgresClient.Configuration.TLS {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let root = settings.rootCertificatePath {
            guard FileManager.default.isReadableFile(atPath: root) else {
                throw StoreError(.invalidConfiguration, "sslrootcert names a file that cannot be read")
            }
            configuration.trustRoots = .file(root)
        }
        switch settings.tlsMode {
        case .disable:
            return .disable
        case .prefer:
            configuration.certificateVerification = .none
            return .prefer(configuration)
        case .require:
            configuration.certificateVerification = settings.rootCertificatePath == nil ? .none : .noHostnameVerification
            return .require(configuration)
        case .verifyFull:
            configuration.certificateVerification = .fullVerification
            return .require(configuration)
        }
    }

    // MARK: - Running operations

    /// The current time in store milliseconds, inside `connection`'s transaction: the database's
    /// clock, or the test clock. Read after the operation's row locks, so waiting for a lock never
    /// makes a decision use a stale instant.
    func now(_ connection: PostgresConnection) async throws -> Int64 {
        if let testClock { return testClock.now.storeMilliseconds }
        return try await connection.run("SELECT walink_now_ms()", logger: logger).first?.decode(Int64.self) ?? 0
    }

    /// Runs `body` as one transaction, retried on serialization failures and deadlocks, abandoned
    /// with `.unavailable` when it has not answered within the deadline. `transaction: false` is
    /// for a body of one statement, which is atomic by itself: it saves the BEGIN and COMMIT round
    /// trips on the hot reads (a session, an API key).
    @discardableResult
    func perform<T: Sendable>(
        limit: Duration? = nil, transaction: Bool = true, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws(StoreError) -> T {
        guard !isClosed.load(ordering: .acquiring) else { throw StoreError(.closed, "the store is closed") }
        guard !Task.isCancelled else { throw StoreError(.cancelled, "cancelled before it ran; nothing was written") }
        let deadline = StoreCallDeadline.limit(default: limit ?? timeout)
        let client = client
        let logger = logger
        do {
            return try await Abandonable.run(within: deadline) {
                var attempt = 0
                while true {
                    attempt += 1
                    do {
                        if transaction {
                            return try await client.withTransaction(logger: logger) { connection in try await body(connection) }
                        }
                        return try await client.withConnection { connection in try await body(connection) }
                    } catch {
                        let mapped = Self.storeError(error)
                        guard mapped.isRetryable, attempt < 3 else { throw mapped }
                    }
                }
            }
        } catch let error as StoreError {
            if error.code == .unavailable { logger.warning("store call abandoned", metadata: ["walink.error": "\(error)"]) }
            throw isClosed.load(ordering: .acquiring) && error.code == .unavailable ? StoreError(.closed, "the store is closed") : error
        } catch {
            throw Self.storeError(error)
        }
    }

    /// Store errors from postgres-nio's, by SQLSTATE; never the query, its values or the server's text.
    static func storeError(_ error: any Error) -> StoreError {
        switch error {
        case let error as StoreError:
            return error
        case let error as PostgresTransactionError:
            if let inner = error.closureError ?? error.beginError { return storeError(inner) }
            if error.commitError != nil {
                return StoreError(.unavailable, "the database connection failed while committing; the write may or may not have happened")
            }
            return StoreError(.database, "a PostgreSQL transaction failed")
        case let error as PSQLError:
            guard error.code == .server, let state = error.serverInfo?[.sqlState] else {
                switch error.code {
                case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed:
                    return StoreError(.unavailable, "the PostgreSQL database cannot be reached (\(error.code))")
                default:
                    return StoreError(.database, "PostgreSQL client error \(error.code)")
                }
            }
            switch state {
            case "23505": return StoreError(.conflict, "already exists")
            case "23503": return StoreError(.notFound, "session not found")
            case "40001", "40P01": return StoreError.retryable
            case "55P03", "57014": return StoreError(.busy, "the database stayed locked or busy too long (SQLSTATE \(state))")
            case "57P01", "57P02", "57P03", "53300": return StoreError(.unavailable, "the PostgreSQL server is not available (SQLSTATE \(state))")
            default: return StoreError(.database, "PostgreSQL error (SQLSTATE \(state))")
            }
        case is CancellationError:
            return StoreError(.cancelled, "cancelled")
        default:
            return StoreError(.database, "unexpected failure: \(type(of: error))")
        }
    }
}

extension PostgresConnection {
    /// Runs a statement and reads its whole answer. postgres-nio reports a statement's error only
    /// when its rows are read, so a statement whose rows nobody reads would fail silently and the
    /// transaction carry on (then commit as a rollback); every statement here goes through this.
    @discardableResult
    func run(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        try await self.query(query, logger: logger).collect()
    }
}

extension StoreError {
    /// A serialization failure or deadlock: the transaction is run again.
    fileprivate static let retryable = StoreError(.busy, "serialization failure")
    fileprivate var isRetryable: Bool { self.code == .busy && message == Self.retryable.message }
}

/// Races an operation against a deadline without waiting for it: postgres-nio cannot cancel a
/// query, so a task group would wait for it; here the caller is answered at the deadline and the
/// operation, left running, ends whenever the pool lets it.
enum Abandonable {
    static func run<T: Sendable>(within limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let race = Race<T>()
        return try await withCheckedThrowingContinuation { continuation in
            race.start(continuation)
            let work = Task { race.finish(with: await Result { try await operation() }) }
            let timer = Task {
                do {
                    try await Task.sleep(for: limit)
                } catch {
                    return
                }
                race.finish(with: .failure(StoreError(.unavailable, "the PostgreSQL database did not answer in time; the call was abandoned")))
                _ = work
            }
            race.onFinish { timer.cancel() }
        }
    }

    private final class Race<T: Sendable>: Sendable {
        private struct State {
            var continuation: CheckedContinuation<T, any Error>?
            var finished = false
            var onFinish: (@Sendable () -> Void)?
        }
        private let state = Mutex(State())

        func start(_ continuation: CheckedContinuation<T, any Error>) { state.withLock { $0.continuation = continuation } }

        func onFinish(_ action: @escaping @Sendable () -> Void) {
            let runNow = state.withLock { state in
                guard !state.finished else { return true }
                state.onFinish = action
                return false
            }
            if runNow { action() }
        }

        func finish(with result: Result<T, any Error>) {
            let (continuation, action) = state.withLock { state -> (CheckedContinuation<T, any Error>?, (@Sendable () -> Void)?) in
                guard !state.finished else { return (nil, nil) }
                state.finished = true
                defer {
                    state.continuation = nil
                    state.onFinish = nil
                }
                return (state.continuation, state.onFinish)
            }
            continuation?.resume(with: result)
            action?()
        }
    }
}

extension Result where Failure == any Error {
    fileprivate init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}
