import Foundation
import Testing

@testable import Store

@Suite struct SessionStoreTests {
    @Test func createGetListDelete() async throws {
        let clock = TestClock()
        try await withStore(clock: clock) { store, _ in
            let created = try await store.createSession(organization: "org-a", id: "main", name: "Main line")
            #expect(created.organization == "org-a")
            #expect(created.id == "main")
            #expect(created.name == "Main line")
            #expect(created.status == .created)
            #expect(created.createdAt == clock.now)
            #expect(created.identity == nil)

            let fetched = try await store.session(organization: "org-a", id: "main")
            #expect(fetched == created)

            clock.advance(.seconds(5))
            let pairing = try await store.setStatus(organization: "org-a", id: "main", status: .pairing)
            #expect(pairing.status == .pairing)
            #expect(pairing.updatedAt == clock.now)
            #expect(pairing.createdAt == created.createdAt)
            #expect(try await store.session(organization: "org-a", id: "main") == pairing)

            let page = try await store.listSessions(organization: "org-a", limit: 10, cursor: nil)
            #expect(page.sessions == [pairing])
            #expect(page.nextCursor == nil)

            try await store.deleteSession(organization: "org-a", id: "main")
            #expect(try await store.session(organization: "org-a", id: "main") == nil)
            await #expect(throws: StoreError(.notFound)) { try await store.deleteSession(organization: "org-a", id: "main") }
        }
    }

    @Test func anotherOrganizationsSessionLooksMissing() async throws {
        try await withStore { store, _ in
            _ = try await store.createSession(organization: "org-a", id: "shared", name: nil)
            let paired = try await store.createSession(organization: "org-a", id: "paired", name: nil)
            _ = try await store.markPaired(organization: "org-a", id: paired.id, identity: sampleIdentity, credentials: Data("secret".utf8))

            // Every operation of org-b on org-a's sessions answers exactly as for a missing id.
            for id in ["shared", "paired", "never-existed"] {
                #expect(try await store.session(organization: "org-b", id: id) == nil)
                #expect(try await store.credentials(organization: "org-b", id: id) == nil)
                await #expect(throws: StoreError(.notFound)) { try await store.setStatus(organization: "org-b", id: id, status: .failed) }
                await #expect(throws: StoreError(.notFound)) {
                    try await store.markPaired(organization: "org-b", id: id, identity: sampleIdentity, credentials: Data())
                }
                await #expect(throws: StoreError(.notFound)) { try await store.unpair(organization: "org-b", id: id) }
                await #expect(throws: StoreError(.notFound)) {
                    try await store.replaceCredentials(organization: "org-b", id: id, credentials: Data())
                }
                await #expect(throws: StoreError(.notFound)) { try await store.deleteSession(organization: "org-b", id: id) }
                await #expect(throws: StoreError(.notFound)) {
                    try await store.acquireLease(organization: "org-b", session: id, worker: "w", ttl: .seconds(1))
                }
            }
            #expect(try await store.listSessions(organization: "org-b", limit: 100, cursor: nil).sessions.isEmpty)

            // The same id in org-b is a different session; org-a's is untouched by it.
            let other = try await store.createSession(organization: "org-b", id: "paired", name: "B")
            #expect(other.status == .created)
            try await store.deleteSession(organization: "org-b", id: "paired")
            #expect(try await store.session(organization: "org-a", id: "paired")?.status == .paired)
            #expect(try await store.credentials(organization: "org-a", id: "paired") == Data("secret".utf8))
        }
    }

    @Test func duplicateIDIsAConflict() async throws {
        try await withStore { store, _ in
            _ = try await store.createSession(organization: "org-a", id: "dup", name: "first")
            await #expect(throws: StoreError(.conflict)) { try await store.createSession(organization: "org-a", id: "dup", name: "second") }
            #expect(try await store.session(organization: "org-a", id: "dup")?.name == "first")
        }
    }

    @Test(arguments: ["", String(repeating: "a", count: 65), "has space", "slash/", "dot.", "ümlaut", "semi;colon", "nul\u{0}"])
    func invalidIDsAreRefused(id: String) async throws {
        try await withStore { store, _ in
            await #expect(throws: StoreError(.invalidArgument)) { try await store.createSession(organization: "org-a", id: id, name: nil) }
            await #expect(throws: StoreError(.invalidArgument)) { try await store.session(organization: "org-a", id: id) }
            let listed = try await store.listSessions(organization: "org-a", limit: 100, cursor: nil)
            #expect(listed.sessions.isEmpty)
        }
    }

    @Test(arguments: ["a", "A-b_9", String(repeating: "z", count: 64), "sess_custom"])
    func validIDsAreAccepted(id: String) async throws {
        try await withStore { store, _ in
            let created = try await store.createSession(organization: "org-a", id: id, name: nil)
            #expect(created.id == id)
        }
    }

    @Test func otherArgumentsAreValidated() async throws {
        try await withStore { store, _ in
            await #expect(throws: StoreError(.invalidArgument)) { try await store.createSession(organization: "", id: nil, name: nil) }
            await #expect(throws: StoreError(.invalidArgument)) { try await store.createSession(organization: "org-a", id: nil, name: "") }
            await #expect(throws: StoreError(.invalidArgument)) { try await store.createSession(organization: "org-a", id: nil, name: "line\nbreak") }
            for limit in [0, 101, -1] {
                await #expect(throws: StoreError(.invalidArgument)) { try await store.listSessions(organization: "org-a", limit: limit, cursor: nil) }
            }
            for cursor in ["", "garbage!", "djE6eDp5", String(repeating: "A", count: 300)] {
                await #expect(throws: StoreError(.invalidArgument)) { try await store.listSessions(organization: "org-a", limit: 10, cursor: cursor) }
            }
        }
    }

    @Test func generatedIDsAreSortableByCreation() async throws {
        let clock = TestClock()
        try await withStore(clock: clock) { store, _ in
            var ids: [String] = []
            for index in 0..<60 {
                // Runs of ids in the same millisecond, then later ones.
                if index % 10 == 0 { clock.advance(.milliseconds(1)) }
                ids.append(try await store.createSession(organization: "org-a", id: nil, name: nil).id)
            }
            clock.advance(.seconds(3600))
            ids.append(try await store.createSession(organization: "org-a", id: nil, name: nil).id)

            #expect(Set(ids).count == ids.count)
            #expect(ids == ids.sorted())
            for id in ids {
                #expect(id.hasPrefix("sess_"))
                #expect(id.count == 31)
                #expect(StoreValidation.isValidSessionID(id))
                #expect(id.dropFirst(5).allSatisfy { "0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains($0) })
            }
            // Listing (creation order) gives the same order.
            let listed = try await store.listSessions(organization: "org-a", limit: 100, cursor: nil).sessions.map(\.id)
            #expect(listed == ids)
        }
    }

    @Test func paginationHasNoGapsOrDuplicatesUnderConcurrentInserts() async throws {
        let clock = TestClock()
        try await withStore(clock: clock) { store, _ in
            var existing: [Session] = []
            for index in 0..<23 {
                if index % 3 == 0 { clock.advance(.milliseconds(1)) }
                // Caller ids in an order unrelated to creation, mixed with generated ones.
                let id: String? = index % 2 == 0 ? "caller-\(99 - index)" : nil
                existing.append(try await store.createSession(organization: "org-a", id: id, name: nil))
                _ = try await store.createSession(organization: "org-other", id: nil, name: nil)
            }
            // Creation order; sessions of the same millisecond by id.
            let expected = existing.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }.map(\.id)
            #expect(expected != existing.map(\.id), "the test has same-millisecond ties to order")

            var seen: [String] = []
            var cursor: String? = nil
            var pages = 0
            var inserted: [String] = []
            repeat {
                let page = try await store.listSessions(organization: "org-a", limit: 5, cursor: cursor)
                #expect(page.sessions.count <= 5)
                #expect(page.sessions.allSatisfy { $0.organization == "org-a" })
                seen += page.sessions.map(\.id)
                cursor = page.nextCursor
                pages += 1
                // Another worker creates sessions while we page.
                clock.advance(.milliseconds(1))
                inserted.append(try await store.createSession(organization: "org-a", id: "late-\(pages)", name: nil).id)
            } while cursor != nil && pages < 50

            #expect(Set(seen).count == seen.count, "no session appears twice")
            #expect(Array(seen.prefix(expected.count)) == expected, "the sessions that existed come first, in creation order, without gaps")
            #expect(Set(seen).subtracting(expected).isSubset(of: Set(inserted)))
            #expect(pages >= 5)
        }
    }

    @Test func markPairedStoresIdentityAndCredentialsTogether() async throws {
        let clock = TestClock()
        try await withStore(clock: clock) { store, _ in
            _ = try await store.createSession(organization: "org-a", id: "s1", name: nil)
            #expect(try await store.credentials(organization: "org-a", id: "s1") == nil)

            clock.advance(.seconds(10))
            let blob = Data((0..<500).map { UInt8($0 % 251) })
            let paired = try await store.markPaired(organization: "org-a", id: "s1", identity: sampleIdentity, credentials: blob)
            #expect(paired.status == .paired)
            #expect(paired.identity == sampleIdentity)
            #expect(paired.pairedAt == clock.now)
            #expect(try await store.session(organization: "org-a", id: "s1") == paired)
            #expect(try await store.credentials(organization: "org-a", id: "s1") == blob)

            // A paired session's status changes only through unpair.
            await #expect(throws: StoreError(.invalidState)) { try await store.setStatus(organization: "org-a", id: "s1", status: .pairing) }
            await #expect(throws: StoreError(.invalidArgument)) { try await store.setStatus(organization: "org-a", id: "s1", status: .paired) }

            let rotated = Data("rotated".utf8)
            try await store.replaceCredentials(organization: "org-a", id: "s1", credentials: rotated)
            #expect(try await store.credentials(organization: "org-a", id: "s1") == rotated)

            let unpaired = try await store.unpair(organization: "org-a", id: "s1")
            #expect(unpaired.status == .loggedOut)
            #expect(unpaired.identity == nil)
            #expect(unpaired.pairedAt == nil)
            #expect(try await store.credentials(organization: "org-a", id: "s1") == nil)
            #expect(try await credentialRows(store) == 0)
            await #expect(throws: StoreError(.invalidState)) {
                try await store.replaceCredentials(organization: "org-a", id: "s1", credentials: rotated)
            }

            // Delete removes identity, credentials and lease with the session.
            _ = try await store.markPaired(organization: "org-a", id: "s1", identity: sampleIdentity, credentials: blob)
            _ = try await store.acquireLease(organization: "org-a", session: "s1", worker: "w1", ttl: .seconds(30))
            #expect(try await credentialRows(store) == 1)
            try await store.deleteSession(organization: "org-a", id: "s1")
            #expect(try await credentialRows(store) == 0)
            #expect(try await store.leaseOwner(organization: "org-a", session: "s1") == nil)
            _ = try await store.createSession(organization: "org-a", id: "s1", name: nil)
            #expect(try await store.credentials(organization: "org-a", id: "s1") == nil)
            #expect(try await store.session(organization: "org-a", id: "s1")?.identity == nil)
        }
    }

    @Test func markPairedIsAllOrNothing() async throws {
        try await withStore { store, _ in
            _ = try await store.createSession(organization: "org-a", id: "s1", name: nil)
            // Make the credentials write fail after the identity update ran in the same transaction.
            try await store.perform(writing: true) { connection in
                try connection.executeScript(
                    """
                    CREATE TRIGGER fail_credentials BEFORE INSERT ON session_credentials
                    BEGIN SELECT RAISE(ABORT, 'injected failure'); END
                    """)
            }
            await #expect(throws: StoreError(.database)) {
                try await store.markPaired(organization: "org-a", id: "s1", identity: sampleIdentity, credentials: Data("keys".utf8))
            }
            let session = try #require(try await store.session(organization: "org-a", id: "s1"))
            #expect(session.status == .created)
            #expect(session.identity == nil)
            #expect(session.pairedAt == nil)
            #expect(try await store.credentials(organization: "org-a", id: "s1") == nil)
        }
    }

    @Test func closedStoreRefusesWork() async throws {
        try await withTemporaryDatabase { path in
            let store = try await SQLiteStore.open(path: path, key: .key(testKey))
            await store.close()
            await store.close()
            await #expect(throws: StoreError(.closed)) { try await store.createSession(organization: "org-a", id: nil, name: nil) }
        }
    }
}

func credentialRows(_ store: SQLiteStore) async throws -> Int64 {
    try await store.perform(writing: false) { connection in
        try connection.query("SELECT COUNT(*) FROM session_credentials") { $0.integer(0) }.first ?? -1
    }
}
