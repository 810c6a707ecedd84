import Foundation

// The store interface. Nothing here names SQLite: a PostgreSQL store implements the same
// protocols, and `MemoryStore` implements them in memory for tests. Every method is one atomic
// operation (one transaction); organizations scope everything, so a session or key of another
// organization behaves exactly like a missing one. Getters answer nil for missing things; changes
// throw `.notFound`. The lease rules are `LeaseRules`, shared by every implementation.

/// Sessions of organizations, their status, identity and encrypted device credentials.
public protocol SessionStore: Sendable {
    /// Creates a session with the caller's `id` (validated: `[A-Za-z0-9_-]{1,64}`) or, when nil,
    /// a generated `sess_` + sortable id. Status `.created`. Throws `.conflict` when the
    /// organization already has a session with that id.
    func createSession(organization: String, id: String?, name: String?) async throws(StoreError) -> Session

    /// The session, or nil when this organization has none with this id.
    func session(organization: String, id: String) async throws(StoreError) -> Session?

    /// Sessions in creation order (same-millisecond ties by id), `limit` (1...100) at a time; pass the previous page's
    /// `nextCursor` to continue. Sessions created while paging appear at most once and never
    /// shift the pages already read.
    func listSessions(organization: String, limit: Int, cursor: String?) async throws(StoreError) -> SessionPage

    /// Deletes the session with its identity, credentials and lease. Throws `.notFound`.
    func deleteSession(organization: String, id: String) async throws(StoreError)

    /// Sets any status but `.paired` (use `markPaired`). Throws `.invalidState` on a paired session
    /// (unpair it first, so credentials are never orphaned by a status change).
    func setStatus(organization: String, id: String, status: SessionStatus) async throws(StoreError) -> Session

    /// In one write: status `.paired`, the identity, `pairedAt`, and the device credentials
    /// (encrypted). Either all of it is stored or none. Re-pairing replaces both.
    func markPaired(organization: String, id: String, identity: SessionIdentity, credentials: Data) async throws(StoreError) -> Session

    /// In one write: clears identity and credentials and sets `status` (default `.loggedOut`;
    /// not `.paired`). Works on sessions in any state.
    func unpair(organization: String, id: String, status: SessionStatus) async throws(StoreError) -> Session

    /// Replaces the device credentials of a paired session (keys the link rotated). Throws
    /// `.invalidState` unless the session is paired.
    func replaceCredentials(organization: String, id: String, credentials: Data) async throws(StoreError)

    /// The decrypted device credentials, or nil when the session is missing or not paired. Throws
    /// `.credentialsRejected` when the stored blob does not authenticate for this session.
    func credentials(organization: String, id: String) async throws(StoreError) -> Data?
}

extension SessionStore {
    public func unpair(organization: String, id: String) async throws(StoreError) -> Session {
        try await unpair(organization: organization, id: id, status: .loggedOut)
    }
}

/// API keys, stored as hashes.
public protocol APIKeyStore: Sendable {
    /// A new key for `organization`. The plaintext is in the answer and nowhere else.
    func createAPIKey(organization: String, name: String?, permissions: Set<String>) async throws(StoreError) -> CreatedAPIKey

    /// The organization's keys, oldest first, revoked ones included. No secrets.
    func listAPIKeys(organization: String) async throws(StoreError) -> [APIKey]

    /// Marks the key revoked (idempotent: keeps the first revocation time). Throws `.notFound`.
    func revokeAPIKey(organization: String, id: String) async throws(StoreError) -> APIKey

    /// The record of a presented key, or nil when it is unknown or malformed. A revoked key is
    /// returned with `isRevoked` so the caller can answer 401 and say why.
    func lookupAPIKey(_ key: String) async throws(StoreError) -> APIKey?
}

/// Which worker owns a session being linked. All times come from the store's clock.
public protocol LeaseStore: Sendable {
    /// Grants the lease when nobody holds a valid one (a new tenure: `generation` grows, also
    /// after an expiry or release) or when `worker` already holds a valid one (extended, same
    /// generation). Otherwise `.heldByAnother`.
    /// Throws `.notFound` when the session does not exist.
    func acquireLease(organization: String, session: String, worker: String, ttl: Duration) async throws(StoreError) -> LeaseAcquisition

    /// Extends `worker`'s lease to now + `ttl`; nil when `worker` no longer owns it (another took
    /// it over, or it was released). An expired lease nobody took over is renewed.
    func renewLease(organization: String, session: String, worker: String, ttl: Duration) async throws(StoreError) -> Lease?

    /// Ends `worker`'s lease at once; false when `worker` did not hold it.
    func releaseLease(organization: String, session: String, worker: String) async throws(StoreError) -> Bool

    /// The valid lease of the session, or nil when none is held or it expired.
    func leaseOwner(organization: String, session: String) async throws(StoreError) -> Lease?
}

/// Answers to commands that carried a `message_id`, shared by the fleet: a command redelivered to
/// another worker (after the first one died before acking) is answered again instead of running a
/// second time. Keys are opaque digests; bodies hold no secrets (only commands whose answers carry
/// none are recorded).
public protocol ReplyStore: Sendable {
    /// Records an answer for `ttl`; when the key is already recorded, the first answer stays.
    func saveReply(key: String, status: Int, body: Data, ttl: Duration) async throws(StoreError)

    /// The recorded answer, or nil when there is none or it expired.
    func reply(key: String) async throws(StoreError) -> StoredReply?
}

/// An answer a ``ReplyStore`` kept.
public struct StoredReply: Sendable, Hashable {
    public var status: Int
    public var body: Data

    public init(status: Int, body: Data) {
        self.status = status
        self.body = body
    }
}

/// Everything a worker needs from its store.
public protocol WalinkStore: SessionStore, APIKeyStore, LeaseStore, ReplyStore {
    /// Finishes pending operations and releases the database and its thread; later calls throw `.closed`.
    func close() async
}
