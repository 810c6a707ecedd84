import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing
import WalinkTestSupport

@testable import Store
@testable import StorePostgres

/// What only the PostgreSQL store has: migrations raced by a fleet starting at once, the database's
/// clock, calls abandoned when the server stops answering, and a password that never shows.
@Suite struct PostgresStoreTests {
    @Test func workersStartingTogetherMigrateOnce() async throws {
        try await TestPostgres.withDatabase { settings in
            let stores = try await withThrowingTaskGroup(of: PostgresStore.self) { group in
                for _ in 0..<8 { group.addTask { try await TestPostgres.open(settings) } }
                var stores: [PostgresStore] = []
                for try await store in group { stores.append(store) }
                return stores
            }
            #expect(stores.count == 8)
            let versions = try await stores[0].perform { connection in
                try await connection.run("SELECT version FROM schema_migrations", logger: stores[0].logger).map {
                    try $0.decode(Int64.self)
                }
            }
            #expect(versions == [PostgresMigrations.latestVersion])
            // Every one of them works on the same data.
            let created = try await stores[3].createSession(organization: "org-a", id: "s1", name: nil)
            #expect(try await stores[7].session(organization: "org-a", id: "s1") == created)
            for store in stores { await store.close() }

            // Another key on the same database is refused at start.
            await #expect(throws: StoreError(.wrongKey)) { try await TestPostgres.open(settings, key: .random()) }
        }
    }

    /// Expiry is the database's decision: moving the database's clock (not this process's) ends a lease.
    @Test func theDatabasesClockDecidesExpiry() async throws {
        try await TestPostgres.withDatabase { settings in
            try await closing(try await TestPostgres.open(settings)) { store in
                _ = try await store.createSession(organization: "org-a", id: "s1", name: nil)
                let lease = try await store.registerWorker("w1", ttl: .seconds(30))
                _ = try await store.claimSession(organization: "org-a", session: "s1", by: lease.tenure)
                #expect(try await store.sessionOwner(organization: "org-a", session: "s1")?.owner == lease.tenure)
                try await store.perform { connection in
                    try await connection.run("INSERT INTO clock_offset (offset_ms) VALUES (31000)", logger: store.logger)
                }
                #expect(try await store.sessionOwner(organization: "org-a", session: "s1") == nil)
                #expect(try await store.renewWorker(lease.tenure, ttl: .seconds(30)) == nil)
                await #expect(throws: StoreError(.leaseLost)) {
                    try await store.setStatus(organization: "org-a", id: "s1", status: .failed, fence: lease.tenure)
                }
            }
        }
    }

    /// Two workers on two machines (two stores, two pools, one database): the first's tenure lapses
    /// by the database's clock, the second takes the session over, and everything the first still
    /// tries to write about it changes nothing.
    @Test func aStaleOwnerOnAnotherMachineWritesNothing() async throws {
        try await TestPostgres.withDatabase { settings in
            try await closing(try await TestPostgres.open(settings)) { first in
                try await closing(try await TestPostgres.open(settings)) { second in
                    _ = try await first.createSession(organization: "org-a", id: "s1", name: nil)
                    let stale = try await first.registerWorker("w1", ttl: .seconds(30)).tenure
                    #expect(try await first.claimSession(organization: "org-a", session: "s1", by: stale).isGranted)
                    _ = try await first.setStatus(organization: "org-a", id: "s1", status: .pairing, fence: stale)
                    // w1's machine stops renewing; 31 s later by the database's clock w2 registers (its lease
                    // counts from then) and takes the session over.
                    try await second.perform { connection in
                        try await connection.run("INSERT INTO clock_offset (offset_ms) VALUES (31000)", logger: second.logger)
                    }
                    let current = try await second.registerWorker("w2", ttl: .seconds(30)).tenure
                    #expect(try await second.claimSession(organization: "org-a", session: "s1", by: current).isGranted)

                    for attempt in 0..<4 {
                        await #expect(throws: StoreError(.leaseLost)) {
                            switch attempt {
                            case 0: _ = try await first.setStatus(organization: "org-a", id: "s1", status: .failed, fence: stale)
                            case 1:
                                _ = try await first.markPaired(
                                    organization: "org-a", id: "s1", identity: sampleIdentity, credentials: Data("stale".utf8), fence: stale)
                            case 2: _ = try await first.unpair(organization: "org-a", id: "s1", status: .loggedOut, fence: stale)
                            default: _ = try await first.claimSession(organization: "org-a", session: "s1", by: stale)
                            }
                        }
                    }
                    #expect(try await first.releaseSession(organization: "org-a", session: "s1", by: stale) == false)
                    #expect(try await first.renewWorker(stale, ttl: .seconds(30)) == nil)
                    let session = try #require(try await second.session(organization: "org-a", id: "s1"))
                    #expect(session.status == .pairing)
                    #expect(session.identity == nil)
                    #expect(try await second.credentials(organization: "org-a", id: "s1") == nil)
                    #expect(try await second.sessionOwner(organization: "org-a", session: "s1")?.owner == current)
                }
            }
        }
    }

    @Test func aDatabaseNobodyListensOnFailsTheStartInTime() async throws {
        var settings = try TestPostgres.settings()
        settings.port = 1  // nothing listens on port 1 of the loopback
        await #expect(throws: StoreError(.unavailable)) {
            try await PostgresStore.open(settings, key: .key(testKey), timeout: .seconds(1), startupTimeout: .seconds(1))
        }
    }

    /// A server that stops answering (its processes frozen, as a partition looks to a client): the
    /// call is abandoned at the timeout with `.unavailable`, and the store works again once it answers.
    @Test func callsToAServerThatStopsAnsweringAreAbandoned() async throws {
        try await PrivatePostgres(port: 5688).with { server in
            var settings = try TestPostgres.settings()
            settings.port = 5688
            settings.database = "walink_test"
            // Two stores on the server: one patient (its calls are not the subject), and one whose
            // calls are abandoned after a second.
            let patient = try await TestPostgres.open(settings)
            let store = try await PostgresStore.open(settings, key: .key(testKey), timeout: .seconds(1), startupTimeout: .seconds(120))
            try await closing(patient) { patient in
                try await closing(store) { store in
                    _ = try await patient.createSession(organization: "org-a", id: "s1", name: nil)
                    try await server.signal("STOP")
                    let outcome: StoreError.Code?
                    do throws(StoreError) {
                        _ = try await store.session(organization: "org-a", id: "s1")
                        outcome = nil
                    } catch {
                        outcome = error.code
                    }
                    #expect(outcome == .unavailable)
                    // The caller's own deadline (a command's expiration) is honoured too, if shorter.
                    let shorter = await StoreCallDeadline.$current.withValue(.now + .milliseconds(200)) { () async -> StoreError.Code? in
                        do throws(StoreError) {
                            _ = try await patient.session(organization: "org-a", id: "s1")
                            return nil
                        } catch {
                            return error.code
                        }
                    }
                    #expect(shorter == .unavailable)
                    try await server.signal("CONT")
                    #expect(try await patient.session(organization: "org-a", id: "s1")?.id == "s1")
                }
            }
        }
    }

    /// Nothing the store or postgres-nio logs, at trace level, nor any error shows the password:
    /// neither on a working connection nor when the server refuses it.
    @Test func thePasswordNeverShows() async throws {
        let settings = try TestPostgres.settings()
        let password = try #require(settings.password)
        let lines = LogLines()
        var logger = Logger(label: "walink.store") { _ in lines }
        logger.logLevel = .trace
        try await TestPostgres.withDatabase { settings in
            let store = try await PostgresStore.open(
                settings, key: .key(testKey), timeout: .seconds(120), startupTimeout: .seconds(120), logger: logger)
            try await closing(store) { store in
                _ = try await store.createSession(organization: "org-a", id: "s1", name: nil)
                _ = try await store.listSessions(organization: "org-a", limit: 10, cursor: nil)
            }
            var wrong = settings
            wrong.password = "not-" + password
            do throws(StoreError) {
                // Refused or given up: either way an error, and no password in it or in the log.
                _ = try await PostgresStore.open(wrong, key: .key(testKey), timeout: .seconds(5), startupTimeout: .seconds(5), logger: logger)
                Issue.record("a wrong password must be refused")
            } catch {
                #expect(!error.description.contains(password))
                #expect(!error.description.contains("not-" + password))
            }
        }
        #expect(!lines.all.isEmpty, "trace logging reached the handler")
        #expect(!lines.all.contains { $0.contains(password) })
    }
}

/// Every log line, message and metadata, as text.
final class LogLines: LogHandler, Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }

    var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }
    var logLevel: Logger.Level {
        get { .trace }
        set {}
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }

    func log(event: LogEvent) {
        lines.withLock { $0.append("\(event.message) \(event.metadata ?? [:])") }
    }
}
