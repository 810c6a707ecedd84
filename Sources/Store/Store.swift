import Foundation

// The store interface. Nothing here names SQLite: a PostgreSQL store implements the same
// protocols, and `MemoryStore` implements them in memory for tests. Every method is one atomic
// operation (one transaction); organizations scope everything, so a session or key of another
// organization behaves exactly like a missing one. Getters answer nil for missing things; changes
// throw `.notFound`. The ownership rules are `OwnershipRules`, shared by every implementation.

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

    /// Deletes the session with its identity, credentials and ownership. Throws `.notFound`.
    func deleteSession(organization: String, id: String) async throws(StoreError)

    /// Sets any status but `.paired` (use `markPaired`). Throws `.invalidState` on a paired session
    /// (unpair it first, so credentials are never orphaned by a status change).
    ///
    /// `fence` (here and in the other writes about a session): the tenure of the worker writing as
    /// the session's owner. The write happens only while that tenure owns the session and its lease
    /// is live, checked in the same transaction; otherwise `.leaseLost` and nothing changes. Nil for
    /// administrative writes that do not come from a link.
    func setStatus(organization: String, id: String, status: SessionStatus, fence: WorkerTenure?) async throws(StoreError) -> Session

    /// In one write: status `.paired`, the identity, `pairedAt`, and the device credentials
    /// (encrypted). Either all of it is stored or none. Re-pairing replaces both.
    func markPaired(
        organization: String, id: String, identity: SessionIdentity, credentials: Data, fence: WorkerTenure?
    ) async throws(StoreError) -> Session

    /// In one write: clears identity and credentials and sets `status` (default `.loggedOut`;
    /// not `.paired`). Works on sessions in any state.
    func unpair(organization: String, id: String, status: SessionStatus, fence: WorkerTenure?) async throws(StoreError) -> Session

    /// Replaces the device credentials of a paired session (keys the link rotated). Throws
    /// `.invalidState` unless the session is paired.
    func replaceCredentials(organization: String, id: String, credentials: Data, fence: WorkerTenure?) async throws(StoreError)

    /// The decrypted device credentials, or nil when the session is missing or not paired. Throws
    /// `.credentialsRejected` when the stored blob does not authenticate for this session.
    func credentials(organization: String, id: String) async throws(StoreError) -> Data?
}

// Unfenced forms, for administrative writes.
extension SessionStore {
    public func setStatus(organization: String, id: String, status: SessionStatus) async throws(StoreError) -> Session {
        try await setStatus(organization: organization, id: id, status: status, fence: nil)
    }

    public func markPaired(organization: String, id: String, identity: SessionIdentity, credentials: Data) async throws(StoreError) -> Session {
        try await markPaired(organization: organization, id: id, identity: identity, credentials: credentials, fence: nil)
    }

    public func unpair(organization: String, id: String, status: SessionStatus = .loggedOut) async throws(StoreError) -> Session {
        try await unpair(organization: organization, id: id, status: status, fence: nil)
    }

    public func replaceCredentials(organization: String, id: String, credentials: Data) async throws(StoreError) {
        try await replaceCredentials(organization: organization, id: id, credentials: credentials, fence: nil)
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

/// Which worker owns a session being linked, fenced by worker tenures. A worker registers once per
/// run (a new epoch) and renews one lease, whatever the number of sessions it owns; a session is
/// owned by a tenure, and the ownership is valid only while that tenure's lease is. Every write the
/// owner makes about a session passes the tenure as `fence` and succeeds only while it still owns
/// the session, checked in the same transaction. All times come from the store's clock.
public protocol OwnershipStore: Sendable {
    /// Starts a new tenure of `worker` (epoch one past its last), valid for `ttl`. Any earlier
    /// tenure of the same worker id is fenced from here on.
    func registerWorker(_ worker: String, ttl: Duration) async throws(StoreError) -> WorkerLease

    /// Extends `tenure`'s lease to now + `ttl`; nil when it expired or a newer tenure replaced it
    /// (the worker must stop what it owns and register anew).
    func renewWorker(_ tenure: WorkerTenure, ttl: Duration) async throws(StoreError) -> WorkerLease?

    /// Ends `tenure` now and frees the sessions it owns; false when it was not the current tenure.
    func retireWorker(_ tenure: WorkerTenure) async throws(StoreError) -> Bool

    /// Takes the session for `tenure` when nobody owns it or its owner's tenure lapsed (or `tenure`
    /// owns it already); `.heldByAnother` when a live tenure of anyone else owns it. Throws
    /// `.leaseLost` when `tenure` itself is not live, `.notFound` when the session does not exist.
    func claimSession(organization: String, session: String, by tenure: WorkerTenure) async throws(StoreError) -> SessionClaim

    /// Frees the session when `tenure` owns it and is live; false (nothing changed) otherwise.
    func releaseSession(organization: String, session: String, by tenure: WorkerTenure) async throws(StoreError) -> Bool

    /// The session's owner while its tenure is live, else nil.
    func sessionOwner(organization: String, session: String) async throws(StoreError) -> SessionOwnership?
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
public protocol WalinkStore: SessionStore, APIKeyStore, OwnershipStore, ReplyStore {
    /// Finishes pending operations and releases the database and its thread; later calls throw `.closed`.
    func close() async
}
