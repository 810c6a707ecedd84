import Foundation
import Testing

@testable import Store

@Suite struct SessionStoreTests {
    @Test(arguments: StoreKind.allCases)
    func createGetListDelete(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withStore(kind, clock: clock) { store in
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

    @Test(arguments: StoreKind.allCases)
    func anotherOrganizationsSessionLooksMissing(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.createSession(organization: "org-a", id: "shared", name: nil)
            let paired = try await store.createSession(organization: "org-a", id: "paired", name: nil)
            _ = try await store.markPaired(organization: "org-a", id: paired.id, identity: sampleIdentity, credentials: Data("secret".utf8))

            // Every operation of org-b on org-a's sessions answers exactly as for a missing id.
            let worker = try await store.registerWorker("w", ttl: .seconds(30)).tenure
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
                    try await store.claimSession(organization: "org-b", session: id, by: worker)
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

    @Test(arguments: StoreKind.allCases)
    func duplicateIDIsAConflict(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.createSession(organization: "org-a", id: "dup", name: "first")
            await #expect(throws: StoreError(.conflict)) { try await store.createSession(organization: "org-a", id: "dup", name: "second") }
            #expect(try await store.session(organization: "org-a", id: "dup")?.name == "first")
        }
    }

    @Test(arguments: StoreKind.allCases, ["", String(repeating: "a", count: 65), "has space", "slash/", "dot.", "ümlaut", "semi;colon", "nul\u{0}"])
    func invalidIDsAreRefused(kind: StoreKind, id: String) async throws {
        try await withStore(kind) { store in
            await #expect(throws: StoreError(.invalidArgument)) { try await store.createSession(organization: "org-a", id: id, name: nil) }
            await #expect(throws: StoreError(.invalidArgument)) { try await store.session(organization: "org-a", id: id) }
            let listed = try await store.listSessions(organization: "org-a", limit: 100, cursor: nil)
            #expect(listed.sessions.isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases, ["a", "A-b_9", String(repeating: "z", count: 64), "sess_custom"])
    func validIDsAreAccepted(kind: StoreKind, id: String) async throws {
        try await withStore(kind) { store in
            let created = try await store.createSession(organization: "org-a", id: id, name: nil)
            #expect(created.id == id)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func otherArgumentsAreValidated(kind: StoreKind) async throws {
        try await withStore(kind) { store in
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

    @Test(arguments: StoreKind.allCases)
    func generatedIDsAreSortableByCreation(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withStore(kind, clock: clock) { store in
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

    @Test(arguments: StoreKind.allCases)
    func paginationHasNoGapsOrDuplicatesUnderConcurrentInserts(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withStore(kind, clock: clock) { store in
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

    @Test(arguments: StoreKind.allCases)
    func markPairedStoresIdentityAndCredentialsTogether(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withStore(kind, clock: clock) { store in
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
            #expect(try await store.storedCredentialCount() == 0)
            await #expect(throws: StoreError(.invalidState)) {
                try await store.replaceCredentials(organization: "org-a", id: "s1", credentials: rotated)
            }

            // Delete removes identity, credentials and ownership with the session.
            _ = try await store.markPaired(organization: "org-a", id: "s1", identity: sampleIdentity, credentials: blob)
            _ = try await store.claimSession(organization: "org-a", session: "s1", by: try await store.registerWorker("w1", ttl: .seconds(30)).tenure)
            #expect(try await store.storedCredentialCount() == 1)
            try await store.deleteSession(organization: "org-a", id: "s1")
            #expect(try await store.storedCredentialCount() == 0)
            #expect(try await store.sessionOwner(organization: "org-a", session: "s1") == nil)
            _ = try await store.createSession(organization: "org-a", id: "s1", name: nil)
            #expect(try await store.credentials(organization: "org-a", id: "s1") == nil)
            #expect(try await store.session(organization: "org-a", id: "s1")?.identity == nil)
        }
    }

    /// SQLite only: the failure is injected with a trigger. The memory store seals before it
    /// touches the session and writes the record back only when the whole change succeeded.
    @Test func markPairedIsAllOrNothing() async throws {
        try await withSQLiteStore { store, _ in
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

    @Test(arguments: StoreKind.allCases)
    func pagesEndExactlyAtTheLastSession(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withStore(kind, clock: clock) { store in
            for id in ["c", "a", "b"] {
                _ = try await store.createSession(organization: "org-a", id: id, name: nil)
            }
            // All three in one millisecond: ties go by id.
            let full = try await store.listSessions(organization: "org-a", limit: 3, cursor: nil)
            #expect(full.sessions.map(\.id) == ["a", "b", "c"])
            #expect(full.nextCursor == nil, "a page that holds the rest has no next page")

            let first = try await store.listSessions(organization: "org-a", limit: 2, cursor: nil)
            #expect(first.sessions.map(\.id) == ["a", "b"])
            let cursor = try #require(first.nextCursor)
            let second = try await store.listSessions(organization: "org-a", limit: 2, cursor: cursor)
            #expect(second.sessions.map(\.id) == ["c"])
            #expect(second.nextCursor == nil)

            // Deleting the session a cursor points after does not disturb the next page.
            try await store.deleteSession(organization: "org-a", id: "b")
            #expect(try await store.listSessions(organization: "org-a", limit: 2, cursor: cursor).sessions.map(\.id) == ["c"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func pairingRules(kind: StoreKind) async throws {
        let clock = TestClock()
        try await withStore(kind, clock: clock) { store in
            _ = try await store.createSession(organization: "org-a", id: "s1", name: "Line")
            await #expect(throws: StoreError(.invalidArgument)) {
                try await store.markPaired(organization: "org-a", id: "s1", identity: SessionIdentity(jid: "", deviceID: 1), credentials: Data())
            }
            await #expect(throws: StoreError(.invalidState)) {
                try await store.replaceCredentials(organization: "org-a", id: "s1", credentials: Data("k".utf8))
            }
            #expect(try await store.session(organization: "org-a", id: "s1")?.status == .created)

            _ = try await store.markPaired(organization: "org-a", id: "s1", identity: sampleIdentity, credentials: Data("first".utf8))
            // Re-pairing replaces the identity and the credentials; the name and creation time stay.
            clock.advance(.seconds(3))
            let other = SessionIdentity(jid: "15550001111:3@s.whatsapp.net", deviceID: 3, pushName: "Bo")
            let repaired = try await store.markPaired(organization: "org-a", id: "s1", identity: other, credentials: Data("second".utf8))
            #expect(repaired.identity == other)
            #expect(repaired.pairedAt == clock.now)
            #expect(repaired.updatedAt == clock.now)
            #expect(repaired.name == "Line")
            #expect(repaired.createdAt == clock.now.addingTimeInterval(-3))
            #expect(try await store.credentials(organization: "org-a", id: "s1") == Data("second".utf8))
            #expect(try await store.storedCredentialCount() == 1)

            // Unpair never sets paired, takes the status it is given, and works in any state.
            await #expect(throws: StoreError(.invalidArgument)) { try await store.unpair(organization: "org-a", id: "s1", status: .paired) }
            #expect(try await store.session(organization: "org-a", id: "s1")?.status == .paired)
            clock.advance(.seconds(1))
            let failed = try await store.unpair(organization: "org-a", id: "s1", status: .failed)
            #expect(failed.status == .failed)
            #expect(failed.updatedAt == clock.now)
            #expect(failed.identity == nil)
            #expect(try await store.unpair(organization: "org-a", id: "s1").status == .loggedOut)
            #expect(try await store.session(organization: "org-a", id: "s1")?.status == .loggedOut)

            // Once unpaired, any status but paired may be set again.
            #expect(try await store.setStatus(organization: "org-a", id: "s1", status: .pairing).status == .pairing)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func timestampsAreWholeMilliseconds(kind: StoreKind) async throws {
        // A clock between two milliseconds: stored times read back as the nearest whole one.
        let clock = TestClock(Date(timeIntervalSince1970: 1_700_000_000.1237))
        try await withStore(kind, clock: clock) { store in
            let expected = Date(storeMilliseconds: 1_700_000_000_124)
            #expect(clock.now != expected)
            let created = try await store.createSession(organization: "org-a", id: "s1", name: nil)
            #expect(created.createdAt == expected)
            #expect(try await store.session(organization: "org-a", id: "s1")?.createdAt == expected)
            let paired = try await store.markPaired(organization: "org-a", id: "s1", identity: sampleIdentity, credentials: Data())
            #expect(paired.pairedAt == expected)
            let key = try await store.createAPIKey(organization: "org-a", name: nil, permissions: ["manage"])
            #expect(key.record.createdAt == expected)
            #expect(try await store.revokeAPIKey(organization: "org-a", id: key.record.id).revokedAt == expected)
            let lease = try await store.registerWorker("w1", ttl: .milliseconds(1500))
            #expect(lease.expiresAt == Date(storeMilliseconds: 1_700_000_001_624))
            #expect(try await store.claimSession(organization: "org-a", session: "s1", by: lease.tenure).ownership.acquiredAt == expected)
        }
    }

    /// SQL compares text byte by byte; so must every store, or one organization could see another's
    /// sessions through a canonically equivalent spelling of its name.
    @Test(arguments: StoreKind.allCases)
    func organizationsAreComparedByTheirBytes(kind: StoreKind) async throws {
        let composed = "caf\u{E9}"
        let decomposed = "cafe\u{301}"
        #expect(composed == decomposed, "Swift's == would mix them up")
        try await withStore(kind) { store in
            _ = try await store.createSession(organization: composed, id: "s1", name: nil)
            _ = try await store.markPaired(organization: composed, id: "s1", identity: sampleIdentity, credentials: Data("k".utf8))
            _ = try await store.createAPIKey(organization: composed, name: nil, permissions: ["manage"])

            #expect(try await store.session(organization: decomposed, id: "s1") == nil)
            #expect(try await store.credentials(organization: decomposed, id: "s1") == nil)
            #expect(try await store.listSessions(organization: decomposed, limit: 10, cursor: nil).sessions.isEmpty)
            #expect(try await store.listAPIKeys(organization: decomposed).isEmpty)
            await #expect(throws: StoreError(.notFound)) { try await store.deleteSession(organization: decomposed, id: "s1") }
            let worker = try await store.registerWorker("w", ttl: .seconds(30)).tenure
            await #expect(throws: StoreError(.notFound)) {
                try await store.claimSession(organization: decomposed, session: "s1", by: worker)
            }
            let created = try await store.createSession(organization: decomposed, id: "s1", name: nil)
            #expect(created.organization.utf8.elementsEqual(decomposed.utf8))
            #expect(try await store.session(organization: composed, id: "s1")?.status == .paired)
            #expect(try await store.listSessions(organization: composed, limit: 10, cursor: nil).sessions.count == 1)
        }
    }
}
