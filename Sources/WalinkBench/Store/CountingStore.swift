import Foundation
import Store
import Synchronization

/// A store that counts the calls made through it, by operation, and passes each on unchanged to
/// the store it wraps. The upkeep benchmark hands it to a real worker, so every store call the
/// worker makes on its own (lease registration and renewals, anything else it might do in the
/// background) is counted exactly, on either store, without touching the worker's code.
final class CountingStore: WalinkStore {
    /// The operations that change the database; all others only read.
    static let writingOperations: Set<String> = [
        "createSession", "deleteSession", "setStatus", "markPaired", "unpair", "replaceCredentials",
        "createAPIKey", "revokeAPIKey",
        "registerWorker", "renewWorker", "retireWorker", "claimSession", "releaseSession",
        "saveReply",
    ]

    /// Calls made so far, by operation name.
    struct Counts: Sendable {
        var byOperation: [String: Int] = [:]
        /// How long each `renewWorker` call took, in seconds, in call order: a renewal that takes
        /// longer than the lease's margin costs the worker its tenure.
        var renewalSeconds: [Double] = []

        var writes: Int { byOperation.filter { CountingStore.writingOperations.contains($0.key) }.values.reduce(0, +) }
        var all: Int { byOperation.values.reduce(0, +) }

        /// What was called after `earlier` was taken.
        func since(_ earlier: Counts) -> Counts {
            var delta = Counts()
            for (operation, count) in byOperation where count != earlier.byOperation[operation, default: 0] {
                delta.byOperation[operation] = count - earlier.byOperation[operation, default: 0]
            }
            delta.renewalSeconds = Array(renewalSeconds.dropFirst(earlier.renewalSeconds.count))
            return delta
        }

        /// `renewWorker 10, claimSession 2`, most called first; `none` when empty.
        var summary: String {
            let parts = byOperation.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.key) \($0.value)" }
            return parts.isEmpty ? "none" : parts.joined(separator: ", ")
        }
    }

    let base: any WalinkStore
    private let counts = Mutex(Counts())

    init(wrapping base: any WalinkStore) {
        self.base = base
    }

    var snapshot: Counts { counts.withLock { $0 } }

    private func count(_ operation: String) {
        counts.withLock { $0.byOperation[operation, default: 0] += 1 }
    }

    func close() async { await base.close() }

    // MARK: - Sessions

    func createSession(organization: String, id: String?, name: String?) async throws(StoreError) -> Session {
        count("createSession")
        return try await base.createSession(organization: organization, id: id, name: name)
    }

    func session(organization: String, id: String) async throws(StoreError) -> Session? {
        count("session")
        return try await base.session(organization: organization, id: id)
    }

    func listSessions(organization: String, limit: Int, cursor: String?) async throws(StoreError) -> SessionPage {
        count("listSessions")
        return try await base.listSessions(organization: organization, limit: limit, cursor: cursor)
    }

    func deleteSession(organization: String, id: String) async throws(StoreError) {
        count("deleteSession")
        try await base.deleteSession(organization: organization, id: id)
    }

    func setStatus(organization: String, id: String, status: SessionStatus, fence: WorkerTenure?) async throws(StoreError) -> Session {
        count("setStatus")
        return try await base.setStatus(organization: organization, id: id, status: status, fence: fence)
    }

    func markPaired(
        organization: String, id: String, identity: SessionIdentity, credentials: Data, fence: WorkerTenure?
    ) async throws(StoreError) -> Session {
        count("markPaired")
        return try await base.markPaired(organization: organization, id: id, identity: identity, credentials: credentials, fence: fence)
    }

    func unpair(organization: String, id: String, status: SessionStatus, fence: WorkerTenure?) async throws(StoreError) -> Session {
        count("unpair")
        return try await base.unpair(organization: organization, id: id, status: status, fence: fence)
    }

    func replaceCredentials(organization: String, id: String, credentials: Data, fence: WorkerTenure?) async throws(StoreError) {
        count("replaceCredentials")
        try await base.replaceCredentials(organization: organization, id: id, credentials: credentials, fence: fence)
    }

    func credentials(organization: String, id: String) async throws(StoreError) -> Data? {
        count("credentials")
        return try await base.credentials(organization: organization, id: id)
    }

    // MARK: - API keys

    func createAPIKey(organization: String, name: String?, permissions: Set<String>) async throws(StoreError) -> CreatedAPIKey {
        count("createAPIKey")
        return try await base.createAPIKey(organization: organization, name: name, permissions: permissions)
    }

    func listAPIKeys(organization: String) async throws(StoreError) -> [APIKey] {
        count("listAPIKeys")
        return try await base.listAPIKeys(organization: organization)
    }

    func revokeAPIKey(organization: String, id: String) async throws(StoreError) -> APIKey {
        count("revokeAPIKey")
        return try await base.revokeAPIKey(organization: organization, id: id)
    }

    func lookupAPIKey(_ key: String) async throws(StoreError) -> APIKey? {
        count("lookupAPIKey")
        return try await base.lookupAPIKey(key)
    }

    // MARK: - Ownership

    func registerWorker(_ worker: String, ttl: Duration) async throws(StoreError) -> WorkerLease {
        count("registerWorker")
        return try await base.registerWorker(worker, ttl: ttl)
    }

    func renewWorker(_ tenure: WorkerTenure, ttl: Duration) async throws(StoreError) -> WorkerLease? {
        count("renewWorker")
        let clock = ContinuousClock()
        let started = clock.now
        defer {
            let elapsed = started.duration(to: clock.now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            counts.withLock { $0.renewalSeconds.append(seconds) }
        }
        return try await base.renewWorker(tenure, ttl: ttl)
    }

    func retireWorker(_ tenure: WorkerTenure) async throws(StoreError) -> Bool {
        count("retireWorker")
        return try await base.retireWorker(tenure)
    }

    func claimSession(organization: String, session: String, by tenure: WorkerTenure) async throws(StoreError) -> SessionClaim {
        count("claimSession")
        return try await base.claimSession(organization: organization, session: session, by: tenure)
    }

    func releaseSession(organization: String, session: String, by tenure: WorkerTenure) async throws(StoreError) -> Bool {
        count("releaseSession")
        return try await base.releaseSession(organization: organization, session: session, by: tenure)
    }

    func sessionOwner(organization: String, session: String) async throws(StoreError) -> SessionOwnership? {
        count("sessionOwner")
        return try await base.sessionOwner(organization: organization, session: session)
    }

    // MARK: - Replies

    func saveReply(key: String, status: Int, body: Data, ttl: Duration) async throws(StoreError) {
        count("saveReply")
        try await base.saveReply(key: key, status: status, body: body, ttl: ttl)
    }

    func reply(key: String) async throws(StoreError) -> StoredReply? {
        count("reply")
        return try await base.reply(key: key)
    }
}
