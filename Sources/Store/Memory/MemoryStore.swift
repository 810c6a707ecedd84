import Crypto
import Foundation
import Synchronization

/// A ``WalinkStore`` that keeps everything in this process's memory, for tests (the gateway's whole
/// command contract without a database or broker) and single-process demos. Nothing persists:
/// `close()` or the end of the process forgets every session, key, worker lease and reply, and two
/// instances share nothing, so it cannot coordinate several workers.
///
/// It behaves as ``SQLiteStore`` does, and the store test suite runs against both: the same
/// validation (``StoreValidation``), ownership decisions (`OwnershipRules`), paging guarantees, errors and
/// millisecond timestamps from the injected clock; device credentials are sealed with the same
/// AES-GCM sealer, bound to organization and session. Text (organizations, workers, reply keys) is
/// compared by its UTF-8 bytes, as SQL compares it, not by Swift's canonical equivalence.
///
/// Threading: all state sits in one `Mutex`. Each operation takes it once and checks, decides and
/// writes under it, so a call is atomic like a transaction. Nothing waits while the lock is held:
/// sealing and opening credentials happen outside it. Listing sorts on every call, which suits the
/// small data sets of tests and demos.
public final class MemoryStore: WalinkStore {
    private let clock: any StoreClock
    private let ids = SortableIDGenerator()
    private let sealer: CredentialSealer
    /// Internal, not private: the tests look behind the store's back (tampering, what is kept).
    let state = Mutex(State())

    /// A new, empty store. `key` seals device credentials; a random one by default, since nothing
    /// outlives the store that would need it. `clock` gives every timestamp and lease expiry.
    public init(key: StoreKey = .random(), clock: any StoreClock = SystemStoreClock()) {
        self.clock = clock
        self.sealer = CredentialSealer(storeKey: key)
    }

    /// Forgets everything; later calls throw `.closed`.
    public func close() async {
        state.withLock { state in
            state = State()
            state.isClosed = true
        }
    }

    // MARK: - State

    /// A string compared and hashed by its UTF-8 bytes, as SQL text is.
    struct ExactText: Hashable {
        let bytes: [UInt8]
        init(_ text: String) { bytes = Array(text.utf8) }
    }

    struct StoredSession {
        var session: Session
        /// Present exactly while the session is paired.
        var sealedCredentials: Data?
        /// The tenure that owns the session; goes with the session.
        var owner: SessionOwnership?
    }

    struct StoredAPIKey {
        var record: APIKey
        /// SHA-256 of the key; the key itself is never kept.
        var hash: Data
    }

    struct StoredReplyRecord {
        var reply: StoredReply
        var expiresMilliseconds: Int64
    }

    struct State {
        var isClosed = false
        var sessions: [ExactText: [String: StoredSession]] = [:]
        /// By id; ids are unique across organizations, as in SQLite.
        var apiKeys: [String: StoredAPIKey] = [:]
        var apiKeyIDsByHash: [Data: String] = [:]
        var replies: [ExactText: StoredReplyRecord] = [:]
        var workerLeases: [ExactText: WorkerLease] = [:]

        /// The fence of an owner's write (nothing when `fence` is nil); `.notFound` first.
        func checkFence(_ fence: WorkerTenure?, organization: String, session: String, now: Int64) throws(StoreError) {
            guard let stored = storedSession(organization: organization, id: session) else { throw StoreError(.notFound, "session not found") }
            guard let fence else { return }
            try OwnershipRules.checkFence(stored.owner, ownerLease: workerLeases[ExactText(fence.worker)], fence: fence, now: now)
        }

        /// Runs `body` on the stored session and writes it back only when `body` succeeds, so a
        /// failed change leaves nothing half-done. Throws `.notFound` when there is none.
        mutating func updateSession<T>(
            organization: String, id: String, _ body: (inout StoredSession) throws(StoreError) -> T
        ) throws(StoreError) -> T {
            let key = ExactText(organization)
            guard var stored = sessions[key]?[id] else { throw StoreError(.notFound, "session not found") }
            let result = try body(&stored)
            sessions[key]?[id] = stored
            return result
        }

        func storedSession(organization: String, id: String) -> StoredSession? {
            sessions[ExactText(organization)]?[id]
        }
    }

    /// One operation: checks the store is open and the task not cancelled (like SQLite's, before
    /// anything is written), then runs `body` under the lock.
    private func withState<T: Sendable>(_ body: (inout State) throws(StoreError) -> T) throws(StoreError) -> T {
        try state.withLock { (state) throws(StoreError) -> T in
            guard !state.isClosed else { throw StoreError(.closed, "the store is closed") }
            guard !Task.isCancelled else { throw StoreError(.cancelled, "cancelled before it ran; nothing was written") }
            return try body(&state)
        }
    }

    private static func validate(organization: String, id: String) throws(StoreError) {
        try StoreValidation.organization(organization)
        try StoreValidation.sessionID(id)
    }
}

// MARK: - Sessions

extension MemoryStore {
    public func createSession(organization: String, id: String?, name: String?) async throws(StoreError) -> Session {
        try StoreValidation.organization(organization)
        if let id { try StoreValidation.sessionID(id) }
        try StoreValidation.name(name)
        return try withState { [clock, ids] (state) throws(StoreError) -> Session in
            // The time is read under the lock, so creation order and timestamps agree.
            let now = clock.now.truncatedToStoreMilliseconds
            let key = ExactText(organization)
            // Same shape as SQLite's: a generated id never collides in one process, but a caller
            // may have taken it as its own id.
            for _ in 0..<3 {
                let sessionID = id ?? Session.generatedIDPrefix + ids.next(at: now)
                guard state.sessions[key]?[sessionID] == nil else {
                    if id == nil { continue }
                    throw StoreError(.conflict, "session \(sessionID) already exists")
                }
                let session = Session(organization: organization, id: sessionID, name: name, status: .created, createdAt: now, updatedAt: now)
                state.sessions[key, default: [:]][sessionID] = StoredSession(session: session)
                return session
            }
            throw StoreError(.conflict, "could not generate an unused session id")
        }
    }

    public func session(organization: String, id: String) async throws(StoreError) -> Session? {
        try Self.validate(organization: organization, id: id)
        return try withState { state in state.storedSession(organization: organization, id: id)?.session }
    }

    public func listSessions(organization: String, limit: Int, cursor: String?) async throws(StoreError) -> SessionPage {
        try StoreValidation.organization(organization)
        try StoreValidation.limit(limit)
        let after = try cursor.map { (cursor) throws(StoreError) in try SessionCursor(decoding: cursor) }
        return try withState { state in
            // (created, id) strictly after the cursor: sessions created meanwhile sort after it or
            // are skipped, never repeated, and the pages already read stay as they were.
            let position = { (session: Session) in (session.createdAt.storeMilliseconds, session.id) }
            let sessions = (state.sessions[ExactText(organization)] ?? [:]).values.lazy.map(\.session)
                .filter { session in after.map { position(session) > ($0.createdMilliseconds, $0.id) } ?? true }
                .sorted { position($0) < position($1) }
            return SessionPage(fetched: sessions, limit: limit)
        }
    }

    public func deleteSession(organization: String, id: String) async throws(StoreError) {
        try Self.validate(organization: organization, id: id)
        try withState { (state) throws(StoreError) in
            // Identity, credentials and ownership live in the record, so they go with it.
            guard state.sessions[ExactText(organization)]?.removeValue(forKey: id) != nil else {
                throw StoreError(.notFound, "session not found")
            }
        }
    }

    public func setStatus(organization: String, id: String, status: SessionStatus, fence: WorkerTenure?) async throws(StoreError) -> Session {
        try Self.validate(organization: organization, id: id)
        try StoreValidation.statusOtherThanPaired(status)
        return try withState { [clock] (state) throws(StoreError) -> Session in
            try state.checkFence(fence, organization: organization, session: id, now: clock.now.storeMilliseconds)
            return try state.updateSession(organization: organization, id: id) { (stored) throws(StoreError) -> Session in
                guard stored.session.status != .paired else { throw StoreError(.invalidState, "session is paired; unpair it first") }
                stored.session.status = status
                stored.session.updatedAt = clock.now.truncatedToStoreMilliseconds
                return stored.session
            }
        }
    }

    public func markPaired(
        organization: String, id: String, identity: SessionIdentity, credentials: Data, fence: WorkerTenure?
    ) async throws(StoreError) -> Session {
        try Self.validate(organization: organization, id: id)
        try StoreValidation.identity(identity)
        let sealed = try sealer.seal(credentials, organization: organization, session: id)
        return try withState { [clock] (state) throws(StoreError) -> Session in
            try state.checkFence(fence, organization: organization, session: id, now: clock.now.storeMilliseconds)
            return try state.updateSession(organization: organization, id: id) { stored in
                let now = clock.now.truncatedToStoreMilliseconds
                stored.session.status = .paired
                stored.session.identity = identity
                stored.session.pairedAt = now
                stored.session.updatedAt = now
                stored.sealedCredentials = sealed
                return stored.session
            }
        }
    }

    public func unpair(organization: String, id: String, status: SessionStatus, fence: WorkerTenure?) async throws(StoreError) -> Session {
        try Self.validate(organization: organization, id: id)
        try StoreValidation.statusOtherThanPaired(status)
        return try withState { [clock] (state) throws(StoreError) -> Session in
            try state.checkFence(fence, organization: organization, session: id, now: clock.now.storeMilliseconds)
            return try state.updateSession(organization: organization, id: id) { stored in
                stored.session.status = status
                stored.session.updatedAt = clock.now.truncatedToStoreMilliseconds
                stored.session.identity = nil
                stored.session.pairedAt = nil
                stored.sealedCredentials = nil
                return stored.session
            }
        }
    }

    public func replaceCredentials(organization: String, id: String, credentials: Data, fence: WorkerTenure?) async throws(StoreError) {
        try Self.validate(organization: organization, id: id)
        let sealed = try sealer.seal(credentials, organization: organization, session: id)
        try withState { [clock] (state) throws(StoreError) in
            try state.checkFence(fence, organization: organization, session: id, now: clock.now.storeMilliseconds)
            try state.updateSession(organization: organization, id: id) { (stored) throws(StoreError) in
                guard stored.session.status == .paired else { throw StoreError(.invalidState, "session is not paired") }
                stored.sealedCredentials = sealed
            }
        }
    }

    public func credentials(organization: String, id: String) async throws(StoreError) -> Data? {
        try Self.validate(organization: organization, id: id)
        let sealed = try withState { state in state.storedSession(organization: organization, id: id)?.sealedCredentials }
        return try sealed.map { (sealed) throws(StoreError) in try sealer.open(sealed, organization: organization, session: id) }
    }
}

// MARK: - API keys

extension MemoryStore {
    public func createAPIKey(organization: String, name: String?, permissions: Set<String>) async throws(StoreError) -> CreatedAPIKey {
        try StoreValidation.organization(organization)
        try StoreValidation.name(name)
        try StoreValidation.permissions(permissions)
        let key = APIKeyFormat.generate()
        let hash = Data(APIKeyFormat.hash(key))
        let displayPrefix = APIKeyFormat.displayPrefix(of: key)
        let record = try withState { [clock, ids] state in
            let now = clock.now.truncatedToStoreMilliseconds
            let record = APIKey(
                id: APIKey.idPrefix + ids.next(at: now), organization: organization, name: name, permissions: permissions,
                displayPrefix: displayPrefix, createdAt: now, revokedAt: nil)
            state.apiKeys[record.id] = StoredAPIKey(record: record, hash: hash)
            state.apiKeyIDsByHash[hash] = record.id
            return record
        }
        return CreatedAPIKey(key: key, record: record)
    }

    public func listAPIKeys(organization: String) async throws(StoreError) -> [APIKey] {
        try StoreValidation.organization(organization)
        return try withState { state in
            let key = ExactText(organization)
            return state.apiKeys.values.map(\.record)
                .filter { ExactText($0.organization) == key }
                .sorted { ($0.createdAt.storeMilliseconds, $0.id) < ($1.createdAt.storeMilliseconds, $1.id) }
        }
    }

    public func revokeAPIKey(organization: String, id: String) async throws(StoreError) -> APIKey {
        try StoreValidation.organization(organization)
        guard StoreValidation.isValidSessionID(id) else { throw StoreError(.notFound, "API key not found") }
        return try withState { [clock] (state) throws(StoreError) -> APIKey in
            guard var stored = state.apiKeys[id], ExactText(stored.record.organization) == ExactText(organization) else {
                throw StoreError(.notFound, "API key not found")
            }
            if stored.record.revokedAt == nil {
                stored.record.revokedAt = clock.now.truncatedToStoreMilliseconds
                state.apiKeys[id] = stored
            }
            return stored.record
        }
    }

    public func lookupAPIKey(_ key: String) async throws(StoreError) -> APIKey? {
        guard APIKeyFormat.isWellFormed(key) else { return nil }
        let digest = APIKeyFormat.hash(key)
        let found = try withState { state in state.apiKeyIDsByHash[Data(digest)].flatMap { state.apiKeys[$0] } }
        // Found by hash; compare again in constant time, as the SQLite store does.
        guard let found, digest == found.hash else { return nil }
        return found.record
    }
}

// MARK: - Ownership

extension MemoryStore {
    public func registerWorker(_ worker: String, ttl: Duration) async throws(StoreError) -> WorkerLease {
        try StoreValidation.worker(worker)
        let ttlMilliseconds = try StoreValidation.ttl(ttl)
        return try withState { [clock] state in
            let key = ExactText(worker)
            let lease = OwnershipRules.register(
                state.workerLeases[key], worker: worker, now: clock.now.storeMilliseconds, ttlMilliseconds: ttlMilliseconds)
            state.workerLeases[key] = lease
            return lease
        }
    }

    public func renewWorker(_ tenure: WorkerTenure, ttl: Duration) async throws(StoreError) -> WorkerLease? {
        try StoreValidation.worker(tenure.worker)
        let ttlMilliseconds = try StoreValidation.ttl(ttl)
        return try withState { [clock] state in
            let key = ExactText(tenure.worker)
            guard
                let renewed = OwnershipRules.renew(
                    state.workerLeases[key], tenure: tenure, now: clock.now.storeMilliseconds, ttlMilliseconds: ttlMilliseconds)
            else { return nil }
            state.workerLeases[key] = renewed
            return renewed
        }
    }

    public func retireWorker(_ tenure: WorkerTenure) async throws(StoreError) -> Bool {
        try StoreValidation.worker(tenure.worker)
        return try withState { [clock] state in
            let key = ExactText(tenure.worker)
            guard let retired = OwnershipRules.retire(state.workerLeases[key], tenure: tenure, now: clock.now.storeMilliseconds) else { return false }
            state.workerLeases[key] = retired
            for (organization, sessions) in state.sessions {
                for (id, stored) in sessions where stored.owner?.owner.isSame(as: tenure) == true {
                    state.sessions[organization]?[id]?.owner = nil
                }
            }
            return true
        }
    }

    public func claimSession(organization: String, session: String, by tenure: WorkerTenure) async throws(StoreError) -> SessionClaim {
        try Self.validate(organization: organization, id: session)
        try StoreValidation.worker(tenure.worker)
        return try withState { [clock] (state) throws(StoreError) -> SessionClaim in
            let leases = state.workerLeases
            return try state.updateSession(organization: organization, id: session) { (stored) throws(StoreError) -> SessionClaim in
                let decision = try OwnershipRules.claim(
                    stored.owner, holderLease: stored.owner.flatMap { leases[ExactText($0.owner.worker)] },
                    claimerLease: leases[ExactText(tenure.worker)], organization: organization, session: session, claimer: tenure,
                    now: clock.now.storeMilliseconds)
                if case .granted(let granted) = decision { stored.owner = granted }
                return decision
            }
        }
    }

    public func releaseSession(organization: String, session: String, by tenure: WorkerTenure) async throws(StoreError) -> Bool {
        try Self.validate(organization: organization, id: session)
        try StoreValidation.worker(tenure.worker)
        return try withState { [clock] state in
            do {
                try state.checkFence(tenure, organization: organization, session: session, now: clock.now.storeMilliseconds)
            } catch {
                return false
            }
            state.sessions[ExactText(organization)]?[session]?.owner = nil
            return true
        }
    }

    public func sessionOwner(organization: String, session: String) async throws(StoreError) -> SessionOwnership? {
        try Self.validate(organization: organization, id: session)
        return try withState { [clock] state in
            let current = state.storedSession(organization: organization, id: session)?.owner
            return OwnershipRules.valid(
                current, ownerLease: current.flatMap { state.workerLeases[ExactText($0.owner.worker)] }, now: clock.now.storeMilliseconds)
        }
    }
}

// MARK: - Replies

extension MemoryStore {
    public func saveReply(key: String, status: Int, body: Data, ttl: Duration) async throws(StoreError) {
        try StoreValidation.replyKey(key)
        let ttlMilliseconds = try StoreValidation.ttl(ttl)
        try withState { [clock] state in
            let now = clock.now.storeMilliseconds
            // Expired answers go on the way (as in SQLite), so an expired key can be recorded anew.
            state.replies = state.replies.filter { $0.value.expiresMilliseconds > now }
            let key = ExactText(key)
            if state.replies[key] == nil {
                state.replies[key] = StoredReplyRecord(reply: StoredReply(status: status, body: body), expiresMilliseconds: now + ttlMilliseconds)
            }
        }
    }

    public func reply(key: String) async throws(StoreError) -> StoredReply? {
        try withState { [clock] state in
            guard let record = state.replies[ExactText(key)], record.expiresMilliseconds > clock.now.storeMilliseconds else { return nil }
            return record.reply
        }
    }
}
