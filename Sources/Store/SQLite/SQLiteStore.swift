import Foundation
import Logging
import NIOPosix
import Synchronization

/// The embedded store: one SQLite file, shareable by several worker processes on one machine.
///
/// Threading: every SQLite call runs on this store's own thread (a one-thread `NIOThreadPool`),
/// never on Swift's cooperative pool, because SQLite blocks — on disk I/O, and on other
/// processes' locks for up to the busy timeout. Async methods hand one closure per operation to
/// that thread and suspend until it finishes, so operations of one store run one at a time in
/// submission order, each as a single transaction. The connection sits behind a `Mutex` that only
/// that thread takes, which makes the confinement checkable rather than a promise.
///
/// Several processes: the database runs in WAL mode (readers never block the writer), every write
/// is a `BEGIN IMMEDIATE` transaction (it takes the write lock before reading, so it cannot fail
/// half-way), SQLite's busy handler waits for locks up to `busyTimeout`, and operations that still
/// see SQLITE_BUSY are retried until the same timeout, then fail with `.busy`. Foreign keys are on.
/// `synchronous=NORMAL`: in WAL mode a power cut may lose the last commits but never corrupts the file.
///
/// Call `close()` when done; it lets queued operations finish, then closes the file and the thread.
public final class SQLiteStore: WalinkStore {
    /// The database file.
    public let path: String
    let clock: any StoreClock
    let ids = SortableIDGenerator()
    let sealer: CredentialSealer
    private let pool: NIOThreadPool
    private let slot: ConnectionSlot
    private let busyTimeout: Duration
    private let isClosed = Atomic<Bool>(false)

    /// Holds the connection; taken only on the store's thread.
    final class ConnectionSlot: Sendable {
        let connection = Mutex<SQLiteConnection?>(nil)
    }

    /// Opens (creating when missing) the database at `path`, migrates it, and loads the key:
    /// `key` given, or else the key file (default `path` + `.key`, created with mode 0600 when
    /// the database has no credentials key yet). Fails with `.wrongKey` when the key is not the
    /// one the database was created with, `.keyUnavailable` when the key file is missing for a
    /// database that has one, `.schemaTooNew` for a database of a newer walink.
    public static func open(
        path: String,
        key: StoreKeySource = .file(path: nil),
        busyTimeout: Duration = .seconds(5),
        clock: any StoreClock = SystemStoreClock(),
        logger: Logger = Logger(label: "walink.store")
    ) async throws(StoreError) -> SQLiteStore {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let slot = ConnectionSlot()
        do {
            let sealer = try await pool.runIfActive { () throws -> CredentialSealer in
                try Self.prepare(path: path, key: key, busyTimeout: busyTimeout, clock: clock, slot: slot, logger: logger)
            }
            return SQLiteStore(path: path, pool: pool, slot: slot, sealer: sealer, busyTimeout: busyTimeout, clock: clock)
        } catch {
            _ = try? await pool.runIfActive {
                slot.connection.withLock {
                    $0?.close()
                    $0 = nil
                }
            }
            try? await pool.shutdownGracefully()
            throw Self.storeError(error, closed: false)
        }
    }

    /// Opens the store `configuration` describes.
    public static func open(
        _ configuration: StoreConfiguration,
        clock: any StoreClock = SystemStoreClock(),
        logger: Logger = Logger(label: "walink.store")
    ) async throws(StoreError) -> SQLiteStore {
        switch configuration.location {
        case .sqlite(let path):
            try await open(path: path, key: configuration.key, busyTimeout: configuration.busyTimeout, clock: clock, logger: logger)
        case .postgres:
            throw StoreError(.invalidConfiguration, "this is a PostgreSQL configuration; open it with StoreFactory")
        }
    }

    private init(path: String, pool: NIOThreadPool, slot: ConnectionSlot, sealer: CredentialSealer, busyTimeout: Duration, clock: any StoreClock) {
        self.path = path
        self.pool = pool
        self.slot = slot
        self.sealer = sealer
        self.busyTimeout = busyTimeout
        self.clock = clock
    }

    deinit {
        // A store dropped without close(): still release the file and the thread.
        if !isClosed.exchange(true, ordering: .acquiringAndReleasing) {
            slot.connection.withLock {
                $0?.close()
                $0 = nil
            }
            pool.shutdownGracefully(queue: .global()) { _ in }
        }
    }

    public func close() async {
        guard !isClosed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        _ = try? await pool.runIfActive { [slot] in
            slot.connection.withLock {
                $0?.close()
                $0 = nil
            }
        }
        try? await pool.shutdownGracefully()
    }

    /// Runs `body` on the store's thread as one transaction (`BEGIN IMMEDIATE` when it writes),
    /// retried as a whole while the database is busy.
    @discardableResult
    func perform<T: Sendable>(writing: Bool, _ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws(StoreError) -> T {
        guard !isClosed.load(ordering: .acquiring) else { throw StoreError(.closed, "the store is closed") }
        do {
            return try await pool.runIfActive { [slot, busyTimeout] () throws -> T in
                try slot.connection.withLock { connection throws -> T in
                    guard let connection else { throw StoreError(.closed, "the store is closed") }
                    return try connection.retryingWhileBusy(timeout: busyTimeout) {
                        try connection.transaction(immediate: writing) { try body(connection) }
                    }
                }
            }
        } catch {
            throw Self.storeError(error, closed: isClosed.load(ordering: .acquiring))
        }
    }

    static func storeError(_ error: any Error, closed: Bool) -> StoreError {
        switch error {
        case let error as StoreError:
            error
        case let failure as SQLiteFailure where failure.isBusy:
            StoreError(.busy, "the database stayed locked by other workers longer than the busy timeout")
        case let failure as SQLiteFailure:
            StoreError(.database, "SQLite error \(failure.code): \(failure.message)")
        case is CancellationError where closed, is NIOThreadPoolError.ThreadPoolInactive:
            StoreError(.closed, "the store is closed")
        case is CancellationError:
            StoreError(.cancelled, "cancelled before it ran; nothing was written")
        default:
            StoreError(.database, "unexpected failure: \(type(of: error))")
        }
    }

    // MARK: - Opening (on the store's thread)

    private static let keyCheckName = "credentials_key_check"

    /// Opens the connection into `slot` (the caller closes it if this throws), sets it up,
    /// migrates, and checks the key.
    private static func prepare(
        path: String, key: StoreKeySource, busyTimeout: Duration, clock: any StoreClock, slot: ConnectionSlot, logger: Logger
    ) throws -> CredentialSealer {
        try slot.connection.withLock { $0 = try SQLiteConnection(path: path, busyTimeout: busyTimeout) }
        return try slot.connection.withLock { (connection) throws -> CredentialSealer in
            guard let connection else { throw StoreError(.closed, "the store is closed") }
            return try setUp(connection, path: path, key: key, busyTimeout: busyTimeout, clock: clock, logger: logger)
        }
    }

    private static func setUp(
        _ connection: SQLiteConnection, path: String, key: StoreKeySource, busyTimeout: Duration, clock: any StoreClock, logger: Logger
    ) throws -> CredentialSealer {
        let mode = try connection.retryingWhileBusy(timeout: busyTimeout) {
            try connection.query("PRAGMA journal_mode = WAL") { $0.text(0) }.first
        }
        guard mode?.lowercased() == "wal" else {
            throw StoreError(.database, "the database cannot use WAL mode (journal mode \(mode ?? "unknown"))")
        }
        try connection.executeScript("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")

        let previousVersion = try connection.retryingWhileBusy(timeout: busyTimeout) {
            try connection.transaction(immediate: true) {
                try SQLiteMigrations.migrate(connection, now: clock.now.storeMilliseconds)
            }
        }
        let storedCheck = try connection.retryingWhileBusy(timeout: busyTimeout) {
            try connection.query("SELECT value FROM metadata WHERE name = ?", [.text(keyCheckName)]) { $0.blob(0) }.first
        }

        let storeKey: StoreKey
        switch key {
        case .key(let given):
            storeKey = given
            logger.debug("store key from configuration")
        case .file(let keyPath):
            let keyPath = keyPath ?? path + ".key"
            let (loaded, created) = try StoreKeyFile.load(path: keyPath, mayCreate: storedCheck == nil)
            storeKey = loaded
            if created {
                logger.notice("created the store key file; back it up with the database", metadata: ["file": "\(keyPath)"])
            } else if StoreKeyFile.isTooOpen(path: keyPath) {
                logger.warning("the store key file is readable by group or others; chmod 600 it", metadata: ["file": "\(keyPath)"])
            }
        }

        let sealer = CredentialSealer(storeKey: storeKey)
        let check: Data
        if let storedCheck {
            check = storedCheck
        } else {
            // Another worker may create the database with its own key at the same moment:
            // insert only when still missing, then verify whatever won.
            let newCheck = try sealer.makeKeyCheck()
            check = try connection.retryingWhileBusy(timeout: busyTimeout) {
                try connection.transaction(immediate: true) {
                    try connection.execute("INSERT OR IGNORE INTO metadata (name, value) VALUES (?, ?)", [.text(keyCheckName), .blob(newCheck)])
                    return try connection.query("SELECT value FROM metadata WHERE name = ?", [.text(keyCheckName)]) { $0.blob(0) }.first ?? Data()
                }
            }
        }
        guard sealer.verifyKeyCheck(check) else {
            throw StoreError(
                .wrongKey, "the store key is not the one this database's credentials were encrypted with; check WALINK_STORE_KEY or the key file")
        }

        logger.info(
            "store opened",
            metadata: [
                "database": "\(path)",
                "schema": "\(SQLiteMigrations.latestVersion)",
                "migratedFrom": "\(previousVersion)",
            ])
        return sealer
    }
}
