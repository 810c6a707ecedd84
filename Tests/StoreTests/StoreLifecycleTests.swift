import Foundation
import Testing

@testable import Store

@Suite struct StoreLifecycleTests {
    @Test(arguments: StoreKind.allCases)
    func aClosedStoreRefusesEveryOperation(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.createSession(organization: "org-a", id: "s1", name: nil)
            _ = try await store.markPaired(organization: "org-a", id: "s1", identity: sampleIdentity, credentials: Data("k".utf8))
            let key = try await store.createAPIKey(organization: "org-a", name: nil, permissions: ["manage"])
            await store.close()
            await store.close()

            let closed = StoreError(.closed)
            await #expect(throws: closed) { try await store.createSession(organization: "org-a", id: nil, name: nil) }
            await #expect(throws: closed) { try await store.session(organization: "org-a", id: "s1") }
            await #expect(throws: closed) { try await store.listSessions(organization: "org-a", limit: 10, cursor: nil) }
            await #expect(throws: closed) { try await store.deleteSession(organization: "org-a", id: "s1") }
            await #expect(throws: closed) { try await store.setStatus(organization: "org-a", id: "s1", status: .failed) }
            await #expect(throws: closed) {
                try await store.markPaired(organization: "org-a", id: "s1", identity: sampleIdentity, credentials: Data())
            }
            await #expect(throws: closed) { try await store.unpair(organization: "org-a", id: "s1") }
            await #expect(throws: closed) { try await store.replaceCredentials(organization: "org-a", id: "s1", credentials: Data()) }
            await #expect(throws: closed) { try await store.credentials(organization: "org-a", id: "s1") }
            await #expect(throws: closed) { try await store.createAPIKey(organization: "org-a", name: nil, permissions: ["manage"]) }
            await #expect(throws: closed) { try await store.listAPIKeys(organization: "org-a") }
            await #expect(throws: closed) { try await store.revokeAPIKey(organization: "org-a", id: key.record.id) }
            await #expect(throws: closed) { try await store.lookupAPIKey(key.key) }
            let tenure = WorkerTenure(worker: "w", epoch: 1)
            await #expect(throws: closed) { try await store.registerWorker("w", ttl: .seconds(1)) }
            await #expect(throws: closed) { try await store.renewWorker(tenure, ttl: .seconds(1)) }
            await #expect(throws: closed) { try await store.retireWorker(tenure) }
            await #expect(throws: closed) { try await store.claimSession(organization: "org-a", session: "s1", by: tenure) }
            await #expect(throws: closed) { try await store.releaseSession(organization: "org-a", session: "s1", by: tenure) }
            await #expect(throws: closed) { try await store.sessionOwner(organization: "org-a", session: "s1") }
            await #expect(throws: closed) { try await store.saveReply(key: "k", status: 200, body: Data(), ttl: .seconds(1)) }
            await #expect(throws: closed) { try await store.reply(key: "k") }
        }
    }

    /// A task cancelled before an operation runs gets `.cancelled`, and nothing is written.
    @Test(arguments: StoreKind.allCases)
    func aCancelledTaskWritesNothing(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.createSession(organization: "org-a", id: "s1", name: nil)
            let cancelled = Task { () async -> [StoreError.Code?] in
                withUnsafeCurrentTask { $0?.cancel() }
                return [
                    await errorCode { _ = try await store.createSession(organization: "org-a", id: "s2", name: nil) },
                    await errorCode { _ = try await store.setStatus(organization: "org-a", id: "s1", status: .failed) },
                    await errorCode { _ = try await store.registerWorker("w", ttl: .seconds(1)) },
                    await errorCode { try await store.saveReply(key: "k", status: 200, body: Data(), ttl: .seconds(1)) },
                ]
            }
            #expect(await cancelled.value == [.cancelled, .cancelled, .cancelled, .cancelled])

            #expect(try await store.session(organization: "org-a", id: "s2") == nil)
            #expect(try await store.session(organization: "org-a", id: "s1")?.status == .created)
            #expect(try await store.renewWorker(WorkerTenure(worker: "w", epoch: 1), ttl: .seconds(1)) == nil)
            #expect(try await store.reply(key: "k") == nil)
        }
    }
}

/// The code of the store error `body` throws; nil when it succeeds or throws something else.
private func errorCode(_ body: () async throws -> Void) async -> StoreError.Code? {
    do {
        try await body()
        return nil
    } catch {
        return (error as? StoreError)?.code
    }
}

/// What only the memory store has: it forgets, and instances share nothing.
@Suite struct MemoryStoreTests {
    @Test func closingForgetsEverything() async throws {
        let store = MemoryStore(key: testKey, clock: TestClock())
        _ = try await store.createSession(organization: "org-a", id: "s1", name: "Kept until close")
        _ = try await store.markPaired(organization: "org-a", id: "s1", identity: sampleIdentity, credentials: Data("k".utf8))
        _ = try await store.createAPIKey(organization: "org-a", name: nil, permissions: ["manage"])
        try await store.saveReply(key: "k", status: 200, body: Data("answer".utf8), ttl: .seconds(60))
        #expect(try await store.storedBytes().contains(bytes: Data("Kept until close".utf8)))

        await store.close()
        #expect(try await store.storedBytes().isEmpty)
        #expect(try await store.storedCredentialCount() == 0)
    }

    @Test func instancesShareNothing() async throws {
        // Defaults: the system clock and a fresh random key each.
        let first = MemoryStore()
        let second = MemoryStore()
        _ = try await first.createSession(organization: "org-a", id: "s1", name: nil)
        _ = try await first.markPaired(organization: "org-a", id: "s1", identity: sampleIdentity, credentials: Data("k".utf8))
        #expect(try await first.credentials(organization: "org-a", id: "s1") == Data("k".utf8))
        #expect(try await second.session(organization: "org-a", id: "s1") == nil)

        // Each has its own key: the first one's sealed credentials do not open in the second.
        _ = try await second.createSession(organization: "org-a", id: "s1", name: nil)
        _ = try await second.markPaired(organization: "org-a", id: "s1", identity: sampleIdentity, credentials: Data("other".utf8))
        let sealed = try #require(try await first.sealedCredentials(organization: "org-a", id: "s1"))
        try await second.overwriteSealedCredentials(organization: "org-a", id: "s1", with: sealed)
        await #expect(throws: StoreError(.credentialsRejected)) { try await second.credentials(organization: "org-a", id: "s1") }
        await first.close()
        await second.close()
    }
}
