import Foundation

/// What moves from one store to another (`walink store copy`): sessions with their identities and
/// device credentials, and API keys (as hashes, with their ids and revocations). Not the state of
/// running workers — leases, ownership and recorded replies — which lapses within minutes and
/// belongs to the deployment being left.
///
/// Credentials travel decrypted in memory only: each store seals them with its own key, bound to
/// organization and session. Printing the contents shows counts, never a credential.
public struct StoreContents: Sendable, CustomStringConvertible, CustomReflectable {
    public struct SessionRecord: Sendable {
        public var session: Session
        public var credentials: Data?

        public init(session: Session, credentials: Data?) {
            self.session = session
            self.credentials = credentials
        }
    }

    public struct APIKeyRecord: Sendable {
        public var key: APIKey
        /// SHA-256 of the key, as stored; the key itself exists nowhere.
        public var hash: Data

        public init(key: APIKey, hash: Data) {
            self.key = key
            self.hash = hash
        }
    }

    public var sessions: [SessionRecord]
    public var apiKeys: [APIKeyRecord]

    public init(sessions: [SessionRecord], apiKeys: [APIKeyRecord]) {
        self.sessions = sessions
        self.apiKeys = apiKeys
    }

    public var description: String { "\(sessions.count) sessions, \(apiKeys.count) API keys" }
    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }

    /// A session that was being linked is copied as `created`: no link runs for it after the move.
    package static func copiedStatus(_ status: SessionStatus) -> SessionStatus {
        status == .pairing ? .created : status
    }
}

/// A store that can hand over its contents and take another's.
public protocol CopyableStore: WalinkStore {
    /// Everything ``StoreContents`` holds, credentials opened with this store's key.
    func exportContents() async throws(StoreError) -> StoreContents

    /// Writes `contents` into this store in one transaction. Only into an empty store (no sessions,
    /// no API keys): otherwise `.conflict` and nothing is written.
    func importContents(_ contents: StoreContents) async throws(StoreError)
}

extension CredentialSealer {
    /// Exported sessions with their credentials opened: `rows` as read from a store, each session
    /// beside its sealed credentials (nil when it has none).
    package func openedRecords(_ rows: [(Session, Data?)]) throws(StoreError) -> [StoreContents.SessionRecord] {
        var records: [StoreContents.SessionRecord] = []
        records.reserveCapacity(rows.count)
        for (session, sealed) in rows {
            let credentials = try sealed.map { (sealed) throws(StoreError) in
                try open(sealed, organization: session.organization, session: session.id)
            }
            records.append(StoreContents.SessionRecord(session: session, credentials: credentials))
        }
        return records
    }

    /// Each imported session's credentials sealed with this store's key, in order (nil where none).
    package func sealedCredentials(of records: [StoreContents.SessionRecord]) throws(StoreError) -> [Data?] {
        var sealed: [Data?] = []
        sealed.reserveCapacity(records.count)
        for record in records {
            let session = record.session
            sealed.append(
                try record.credentials.map { (credentials) throws(StoreError) in
                    try seal(credentials, organization: session.organization, session: session.id)
                })
        }
        return sealed
    }
}
