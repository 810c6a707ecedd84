import Foundation
import Store
import Synchronization

/// A real store whose worker-lease renewals can be made to hang, as a call to a partitioned
/// database does (postgres-nio cannot cancel it): everything else passes straight through.
final class StallingStore: WalinkStore {
    let inner: any WalinkStore
    private let stalled = Mutex<[CheckedContinuation<Void, Never>]?>(nil)

    init(_ inner: any WalinkStore) { self.inner = inner }

    /// From now on renewals hang until ``resume()``.
    func stallRenewals() { stalled.withLock { $0 = $0 ?? [] } }

    /// Lets the hanging renewals (and later ones) through.
    func resume() {
        for waiter in stalled.withLock({ waiters in
            defer { waiters = nil }
            return waiters ?? []
        }) { waiter.resume() }
    }

    func renewWorker(_ tenure: WorkerTenure, ttl: Duration) async throws(StoreError) -> WorkerLease? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let hang = stalled.withLock { waiters in
                guard waiters != nil else { return false }
                waiters?.append(continuation)
                return true
            }
            if !hang { continuation.resume() }
        }
        return try await inner.renewWorker(tenure, ttl: ttl)
    }

    func close() async {
        resume()
        await inner.close()
    }

    // MARK: - Passed through

    func registerWorker(_ worker: String, ttl: Duration) async throws(StoreError) -> WorkerLease { try await inner.registerWorker(worker, ttl: ttl) }
    func retireWorker(_ tenure: WorkerTenure) async throws(StoreError) -> Bool { try await inner.retireWorker(tenure) }
    func claimSession(organization: String, session: String, by tenure: WorkerTenure) async throws(StoreError) -> SessionClaim {
        try await inner.claimSession(organization: organization, session: session, by: tenure)
    }
    func releaseSession(organization: String, session: String, by tenure: WorkerTenure) async throws(StoreError) -> Bool {
        try await inner.releaseSession(organization: organization, session: session, by: tenure)
    }
    func sessionOwner(organization: String, session: String) async throws(StoreError) -> SessionOwnership? {
        try await inner.sessionOwner(organization: organization, session: session)
    }
    func createSession(organization: String, id: String?, name: String?) async throws(StoreError) -> Session {
        try await inner.createSession(organization: organization, id: id, name: name)
    }
    func session(organization: String, id: String) async throws(StoreError) -> Session? {
        try await inner.session(organization: organization, id: id)
    }
    func listSessions(organization: String, limit: Int, cursor: String?) async throws(StoreError) -> SessionPage {
        try await inner.listSessions(organization: organization, limit: limit, cursor: cursor)
    }
    func deleteSession(organization: String, id: String) async throws(StoreError) {
        try await inner.deleteSession(organization: organization, id: id)
    }
    func setStatus(organization: String, id: String, status: SessionStatus, fence: WorkerTenure?) async throws(StoreError) -> Session {
        try await inner.setStatus(organization: organization, id: id, status: status, fence: fence)
    }
    func markPaired(
        organization: String, id: String, identity: SessionIdentity, credentials: Data, fence: WorkerTenure?
    ) async throws(StoreError) -> Session {
        try await inner.markPaired(organization: organization, id: id, identity: identity, credentials: credentials, fence: fence)
    }
    func unpair(organization: String, id: String, status: SessionStatus, fence: WorkerTenure?) async throws(StoreError) -> Session {
        try await inner.unpair(organization: organization, id: id, status: status, fence: fence)
    }
    func replaceCredentials(organization: String, id: String, credentials: Data, fence: WorkerTenure?) async throws(StoreError) {
        try await inner.replaceCredentials(organization: organization, id: id, credentials: credentials, fence: fence)
    }
    func credentials(organization: String, id: String) async throws(StoreError) -> Data? {
        try await inner.credentials(organization: organization, id: id)
    }
    func createAPIKey(organization: String, name: String?, permissions: Set<String>) async throws(StoreError) -> CreatedAPIKey {
        try await inner.createAPIKey(organization: organization, name: name, permissions: permissions)
    }
    func listAPIKeys(organization: String) async throws(StoreError) -> [APIKey] { try await inner.listAPIKeys(organization: organization) }
    func revokeAPIKey(organization: String, id: String) async throws(StoreError) -> APIKey {
        try await inner.revokeAPIKey(organization: organization, id: id)
    }
    func lookupAPIKey(_ key: String) async throws(StoreError) -> APIKey? { try await inner.lookupAPIKey(key) }
    func saveReply(key: String, status: Int, body: Data, ttl: Duration) async throws(StoreError) {
        try await inner.saveReply(key: key, status: status, body: body, ttl: ttl)
    }
    func reply(key: String) async throws(StoreError) -> StoredReply? { try await inner.reply(key: key) }
}
