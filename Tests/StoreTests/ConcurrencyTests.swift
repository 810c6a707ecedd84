import Foundation
import Testing

@testable import Store

/// Two workers writing at once. On SQLite, two store instances on one file stand in for two worker
/// processes: each has its own connection and thread, and SQLite's file locks arbitrate between
/// them as between processes. On memory, many tasks share one store and its lock.
@Suite struct ConcurrencyTests {
    @Test(arguments: StoreKind.allCases)
    func twoWorkersWriteConcurrently(kind: StoreKind) async throws {
        try await withStorePair(kind) { first, second in
            let perStore = 200
            let created = try await withThrowingTaskGroup(of: String.self) { group in
                for index in 0..<perStore {
                    group.addTask { try await first.createSession(organization: "org-a", id: "first-\(index)", name: nil).id }
                    group.addTask { try await second.createSession(organization: "org-a", id: nil, name: "second \(index)").id }
                }
                var ids: [String] = []
                for try await id in group { ids.append(id) }
                return ids
            }
            #expect(created.count == 2 * perStore)

            // Every write landed, and each store sees the other's.
            var listed: [String] = []
            var cursor: String? = nil
            repeat {
                let page = try await second.listSessions(organization: "org-a", limit: 100, cursor: cursor)
                listed += page.sessions.map(\.id)
                cursor = page.nextCursor
            } while cursor != nil
            #expect(listed.count == 2 * perStore)
            #expect(Set(listed) == Set(created))
            #expect(try await first.session(organization: "org-a", id: created.first { $0.hasPrefix("sess_") }!) != nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func exactlyOneWorkerWinsAContendedSession(kind: StoreKind) async throws {
        try await withStorePair(kind) { first, second in
            _ = try await first.createSession(organization: "org-a", id: "s1", name: nil)
            var tenures: [WorkerTenure] = []
            for index in 0..<20 { tenures.append(try await first.registerWorker("worker-\(index)", ttl: .seconds(60)).tenure) }
            let results = try await withThrowingTaskGroup(of: SessionClaim.self) { group in
                for (index, tenure) in tenures.enumerated() {
                    let store = index % 2 == 0 ? first : second
                    group.addTask { try await store.claimSession(organization: "org-a", session: "s1", by: tenure) }
                }
                var results: [SessionClaim] = []
                for try await result in group { results.append(result) }
                return results
            }
            let winners = results.filter(\.isGranted)
            #expect(winners.count == 1)
            let owner = try #require(winners.first?.ownership.owner)
            #expect(results.allSatisfy { $0.ownership.owner == owner })
            #expect(try await second.sessionOwner(organization: "org-a", session: "s1")?.owner == owner)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func concurrentSavesOfOneReplyKeepTheFirst(kind: StoreKind) async throws {
        try await withStorePair(kind) { first, second in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<20 {
                    let store = index % 2 == 0 ? first : second
                    group.addTask { try await store.saveReply(key: "k", status: 200 + index, body: Data("\(index)".utf8), ttl: .seconds(60)) }
                }
                try await group.waitForAll()
            }
            // Whichever save ran first, both see that one, whole.
            let kept = try #require(try await first.reply(key: "k"))
            #expect(try await second.reply(key: "k") == kept)
            #expect(kept.body == Data("\(kept.status - 200)".utf8))
        }
    }

    /// SQLite only: the key file.
    @Test func storesOpeningTogetherAgreeOnTheKeyFile() async throws {
        try await withTemporaryDatabase { path in
            let stores = try await withThrowingTaskGroup(of: SQLiteStore.self) { group in
                for _ in 0..<4 { group.addTask { try await SQLiteStore.open(path: path) } }
                var stores: [SQLiteStore] = []
                for try await store in group { stores.append(store) }
                return stores
            }
            _ = try await stores[0].createSession(organization: "org-a", id: "s1", name: nil)
            _ = try await stores[0].markPaired(organization: "org-a", id: "s1", identity: sampleIdentity, credentials: Data("k".utf8))
            for store in stores {
                #expect(try await store.credentials(organization: "org-a", id: "s1") == Data("k".utf8))
                await store.close()
            }
        }
    }
}

/// A real second process (the sqlite3 shell) writing to the same file while the store writes:
/// cross-process locking goes through the file locks, unlike two connections in one process.
@Suite struct CrossProcessTests {
    static let shell = ["/usr/bin/sqlite3", "/usr/local/bin/sqlite3"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// `scripts/setup` installs the shell, so this never needs to be skipped.
    @Test func anotherProcessWritingConcurrently() async throws {
        try await withTemporaryDatabase { path in
            let store = try await SQLiteStore.open(path: path, key: .key(testKey), busyTimeout: .seconds(20))
            let count = 200
            // Each INSERT is its own transaction in the shell, so the two processes interleave.
            var script = ".timeout 20000\n"
            for index in 0..<count {
                script +=
                    "INSERT INTO sessions (organization, id, status, created_at, updated_at) VALUES ('org-a', 'shell-\(index)', 'created', \(index), \(index));\n"
            }
            let scriptURL = URL(fileURLWithPath: path + ".sql")
            try Data(script.utf8).write(to: scriptURL)

            let process = Process()
            process.executableURL = URL(fileURLWithPath: try #require(Self.shell, "the sqlite3 shell is missing: run scripts/setup"))
            process.arguments = [path, ".read \(scriptURL.path)"]
            let errors = Pipe()
            process.standardError = errors
            let exited = AsyncStream<Int32> { continuation in
                process.terminationHandler = {
                    continuation.yield($0.terminationStatus)
                    continuation.finish()
                }
            }
            try process.run()

            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<count {
                    group.addTask { _ = try await store.createSession(organization: "org-a", id: "store-\(index)", name: nil) }
                }
                try await group.waitForAll()
            }
            var status: Int32 = -1
            for await code in exited { status = code }
            let shellErrors = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(status == 0, "sqlite3 failed: \(shellErrors)")

            var listed: [String] = []
            var cursor: String? = nil
            repeat {
                let page = try await store.listSessions(organization: "org-a", limit: 100, cursor: cursor)
                listed += page.sessions.map { "\($0.id)@\($0.createdAt.storeMilliseconds)" }
                cursor = page.nextCursor
            } while cursor != nil
            #expect(listed.count == 2 * count)
            #expect(Set(listed).count == listed.count)
            await store.close()
        }
    }
}
