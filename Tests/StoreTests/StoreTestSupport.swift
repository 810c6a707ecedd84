import Crypto
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

@testable import Store
@testable import StorePostgres

/// A clock tests move by hand.
final class TestClock: StoreClock {
    private let current: Mutex<Date>

    init(_ start: Date = Date(timeIntervalSince1970: 1_700_000_000)) {
        current = Mutex(start)
    }

    var now: Date { current.withLock { $0 } }

    func advance(_ duration: Duration) {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }
}

/// A unique directory under the system temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("walink-store-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    var databasePath: String { url.appendingPathComponent("walink.db").path }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// Runs `body` with a fresh database path, removing the directory afterwards.
func withTemporaryDatabase<T>(_ body: (String) async throws -> T) async throws -> T {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    return try await body(directory.databasePath)
}

/// The store implementations the behavioural suites run against: every test that takes a `kind`
/// runs once on each.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case memory
    /// On the throwaway server `scripts/test` starts (`WALINK_TEST_POSTGRES_URL`), a database per test.
    case postgres

    var testDescription: String { rawValue }
}

/// A store under test, with what the tests read or alter behind its back. Each implementation
/// answers from its own storage: the database for SQLite, the state under the lock for memory.
protocol InspectableStore: WalinkStore {
    /// How many sessions have sealed credentials stored.
    func storedCredentialCount() async throws -> Int
    /// The sealed credentials of a session, as stored.
    func sealedCredentials(organization: String, id: String) async throws -> Data?
    /// Overwrites a session's stored credentials, as someone with write access to the storage could.
    func overwriteSealedCredentials(organization: String, id: String, with sealed: Data) async throws
    /// Every byte the store keeps, as someone reading its storage would see them.
    func storedBytes() async throws -> Data
}

extension SQLiteStore: InspectableStore {
    func storedCredentialCount() async throws -> Int {
        Int(try await credentialRows(self))
    }

    func sealedCredentials(organization: String, id: String) async throws -> Data? {
        try await perform(writing: false) { connection in
            try connection.query(
                "SELECT sealed FROM session_credentials WHERE organization = ? AND session_id = ?", [.text(organization), .text(id)]
            ) { $0.blob(0) }.first
        }
    }

    func overwriteSealedCredentials(organization: String, id: String, with sealed: Data) async throws {
        try await perform(writing: true) { connection in
            let changed = try connection.execute(
                "UPDATE session_credentials SET sealed = ? WHERE organization = ? AND session_id = ?",
                [.blob(sealed), .text(organization), .text(id)])
            guard changed == 1 else { throw StoreError(.notFound, "no credentials to overwrite") }
        }
    }

    func storedBytes() async throws -> Data { databaseFileBytes(path) }
}

extension PostgresStore: InspectableStore {
    func storedCredentialCount() async throws -> Int {
        try await perform { connection in
            Int(
                try await connection.run("SELECT count(*)::BIGINT FROM session_credentials", logger: self.logger).first?.decode(
                    Int64.self) ?? -1)
        }
    }

    func sealedCredentials(organization: String, id: String) async throws -> Data? {
        try await perform { connection in
            try await connection.run(
                "SELECT sealed FROM session_credentials WHERE organization = \(organization) AND session_id = \(id)", logger: self.logger
            )
            .first?.decode(Data.self)
        }
    }

    func overwriteSealedCredentials(organization: String, id: String, with sealed: Data) async throws {
        try await perform { connection in
            let changed = try await connection.run(
                "UPDATE session_credentials SET sealed = \(sealed) WHERE organization = \(organization) AND session_id = \(id) RETURNING 1",
                logger: self.logger
            )
            guard changed.count == 1 else { throw StoreError(.notFound, "no credentials to overwrite") }
        }
    }

    /// Every row of every table as text, plus every BYTEA value as its raw bytes.
    func storedBytes() async throws -> Data {
        try await perform { connection in
            var bytes = Data()
            for table in ["metadata", "sessions", "session_credentials", "api_keys", "command_replies", "worker_leases", "session_owners"] {
                for row in try await connection.run(PostgresQuery(unsafeSQL: "SELECT t::text FROM \(table) t"), logger: self.logger) {
                    bytes.append(Data(try row.decode(String.self).utf8))
                }
            }
            for (table, column) in [("metadata", "value"), ("session_credentials", "sealed"), ("api_keys", "key_hash"), ("command_replies", "body")] {
                for row in try await connection.run(PostgresQuery(unsafeSQL: "SELECT \(column) FROM \(table)"), logger: self.logger) {
                    bytes.append(try row.decode(Data.self))
                }
            }
            return bytes
        }
    }
}

/// The throwaway PostgreSQL server `scripts/test` starts, named by `WALINK_TEST_POSTGRES_URL`.
/// Each test gets a database of its own, dropped afterwards.
enum TestPostgres {
    static func settings() throws -> PostgresSettings {
        guard let url = ProcessInfo.processInfo.environment["WALINK_TEST_POSTGRES_URL"], !url.isEmpty else {
            throw StoreError(.invalidConfiguration, "WALINK_TEST_POSTGRES_URL is not set: run the tests through scripts/test (it starts PostgreSQL)")
        }
        return try PostgresSettings(url: url)
    }

    /// A store on `settings` whose calls are given far more time than a busy machine needs: the tests
    /// that use it are about behaviour; abandoning calls has tests of its own.
    static func open(_ settings: PostgresSettings, key: StoreKey = testKey, clock: (any StoreClock)? = nil) async throws -> PostgresStore {
        try await PostgresStore.open(settings, key: .key(key), timeout: .seconds(120), startupTimeout: .seconds(120), clock: clock)
    }

    /// Runs `body` with the settings of a new, empty database, dropping it afterwards.
    static func withDatabase<T>(_ body: (PostgresSettings) async throws -> T) async throws -> T {
        var settings = try settings()
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await administer(settings, PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
        settings.database = name
        do {
            let result = try await body(settings)
            try await administer(settings, PostgresQuery(unsafeSQL: "DROP DATABASE \(name) WITH (FORCE)"))
            return result
        } catch {
            try? await administer(settings, PostgresQuery(unsafeSQL: "DROP DATABASE \(name) WITH (FORCE)"))
            throw error
        }
    }

    /// Runs one statement on the server's `postgres` database.
    static func administer(_ settings: PostgresSettings, _ statement: PostgresQuery) async throws {
        var admin = settings
        admin.database = "postgres"
        let client = PostgresClient(
            configuration: try PostgresStore.clientConfiguration(admin, timeout: .seconds(30)),
            backgroundLogger: Logger(label: "walink.test-postgres"))
        let running = Task { await client.run() }
        defer { running.cancel() }
        _ = try await client.query(statement).collect()
    }
}

extension MemoryStore: InspectableStore {
    func storedCredentialCount() async throws -> Int {
        state.withLock { state in state.sessions.values.flatMap(\.values).count(where: { $0.sealedCredentials != nil }) }
    }

    func sealedCredentials(organization: String, id: String) async throws -> Data? {
        state.withLock { state in state.storedSession(organization: organization, id: id)?.sealedCredentials }
    }

    func overwriteSealedCredentials(organization: String, id: String, with sealed: Data) async throws {
        try state.withLock { state in
            guard state.storedSession(organization: organization, id: id)?.sealedCredentials != nil else {
                throw StoreError(.notFound, "no credentials to overwrite")
            }
            state.sessions[ExactText(organization)]?[id]?.sealedCredentials = sealed
        }
    }

    /// Every string and blob reachable from the state, found by reflection so no field is missed.
    func storedBytes() async throws -> Data {
        state.withLock { state in reflectedBytes(state) }
    }
}

private func reflectedBytes(_ value: Any) -> Data {
    switch value {
    case let text as String: Data(text.utf8)
    case let data as Data: data
    case let bytes as [UInt8]: Data(bytes)
    default: Mirror(reflecting: value).children.reduce(into: Data()) { $0.append(reflectedBytes($1.value)) }
    }
}

/// Runs `body` with a fresh, empty store of `kind` (fixed key, test clock), closing it afterwards.
func withStore<T>(
    _ kind: StoreKind, clock: TestClock = TestClock(), key: StoreKey = testKey, _ body: (any InspectableStore) async throws -> T
) async throws -> T {
    switch kind {
    case .sqlite:
        try await withSQLiteStore(clock: clock, key: key) { store, _ in try await body(store) }
    case .memory:
        try await closing(MemoryStore(key: key, clock: clock)) { store in try await body(store) }
    case .postgres:
        try await TestPostgres.withDatabase { settings in
            try await closing(try await TestPostgres.open(settings, key: key, clock: clock)) { store in try await body(store) }
        }
    }
}

/// Two handles on one store's data, standing in for two workers. SQLite: two stores on one file,
/// each with its own connection and thread, as two processes would have (SQLite's file locks
/// arbitrate). Memory: the same store twice, since a memory store is shared only within its process.
func withStorePair<T>(_ kind: StoreKind, _ body: (any WalinkStore, any WalinkStore) async throws -> T) async throws -> T {
    switch kind {
    case .sqlite:
        try await withTemporaryDatabase { path in
            let first = try await SQLiteStore.open(path: path, key: .key(testKey), busyTimeout: .seconds(20))
            return try await closing(first) { first in
                let second = try await SQLiteStore.open(path: path, key: .key(testKey), busyTimeout: .seconds(20))
                return try await closing(second) { second in try await body(first, second) }
            }
        }
    case .memory:
        try await closing(MemoryStore(key: testKey, clock: TestClock())) { store in try await body(store, store) }
    case .postgres:
        // Two clients (two pools), as two workers on two machines would have.
        try await TestPostgres.withDatabase { settings in
            try await closing(try await TestPostgres.open(settings)) { first in
                try await closing(try await TestPostgres.open(settings)) { second in try await body(first, second) }
            }
        }
    }
}

/// Runs `body` with an SQLite store on a fresh database (fixed key, test clock) and its path,
/// closing it afterwards; for the tests of what only SQLite has (files, migrations, SQL).
func withSQLiteStore<T>(clock: TestClock = TestClock(), key: StoreKey = testKey, _ body: (SQLiteStore, String) async throws -> T) async throws -> T {
    try await withTemporaryDatabase { path in
        let store = try await SQLiteStore.open(path: path, key: .key(key), clock: clock)
        return try await closing(store) { store in try await body(store, path) }
    }
}

/// Runs `body`, then closes `store` whether `body` threw or not.
func closing<S: WalinkStore, T>(_ store: S, _ body: (S) async throws -> T) async throws -> T {
    do {
        let result = try await body(store)
        await store.close()
        return result
    } catch {
        await store.close()
        throw error
    }
}

func credentialRows(_ store: SQLiteStore) async throws -> Int64 {
    try await store.perform(writing: false) { connection in
        try connection.query("SELECT COUNT(*) FROM session_credentials") { $0.integer(0) }.first ?? -1
    }
}

let testKeyBytes = Data((0..<32).map { UInt8($0 * 7 + 3) })
let testKey = try! StoreKey(SymmetricKey(data: testKeyBytes))

/// The bytes of the database and its WAL, as an attacker with the files would see them.
func databaseFileBytes(_ path: String) -> Data {
    var bytes = Data()
    for suffix in ["", "-wal", "-journal"] {
        if let data = FileManager.default.contents(atPath: path + suffix) { bytes.append(data) }
    }
    return bytes
}

extension Data {
    func contains(bytes needle: Data) -> Bool { range(of: needle) != nil }
}

/// A sample identity as pair-success would report it.
let sampleIdentity = SessionIdentity(
    jid: "628123456789:12@s.whatsapp.net",
    lid: "123456789012345:12@lid",
    deviceID: 12,
    pushName: "Ana",
    phone: "628123456789",
    platform: "android",
    businessName: nil
)
