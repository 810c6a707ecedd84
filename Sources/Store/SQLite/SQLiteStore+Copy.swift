import Foundation

extension SQLiteStore: CopyableStore {
    public func exportContents() async throws(StoreError) -> StoreContents {
        let (rows, apiKeys) = try await perform(writing: false) { connection in
            let sessions = try connection.query(
                """
                SELECT s.organization, s.id, s.name, s.status, s.created_at, s.updated_at, s.jid, s.lid, s.device_id, s.push_name, s.phone,
                    s.platform, s.business_name, s.paired_at, c.sealed
                FROM sessions s LEFT JOIN session_credentials c ON c.organization = s.organization AND c.session_id = s.id
                ORDER BY s.organization, s.created_at, s.id
                """
            ) { row in (try Self.session(row), row.optionalBlob(14)) }
            let keys = try connection.query(
                "SELECT id, organization, name, permissions, display_prefix, created_at, revoked_at, key_hash FROM api_keys ORDER BY created_at, id"
            ) { row in StoreContents.APIKeyRecord(key: Self.apiKey(row), hash: row.blob(7)) }
            return (sessions, keys)
        }
        return StoreContents(sessions: try sealer.openedRecords(rows), apiKeys: apiKeys)
    }

    public func importContents(_ contents: StoreContents) async throws(StoreError) {
        let sealed = try sealer.sealedCredentials(of: contents.sessions)
        try await perform(writing: true) { [clock, sealed] connection in
            let used = try connection.query("SELECT (SELECT count(*) FROM sessions) + (SELECT count(*) FROM api_keys)") { $0.integer(0) }.first ?? 0
            guard used == 0 else { throw StoreError(.conflict, "the target store is not empty; copy only into a new store") }
            for (record, sealed) in zip(contents.sessions, sealed) {
                let session = record.session
                let identity = session.identity
                try connection.execute(
                    """
                    INSERT INTO sessions (organization, id, name, status, created_at, updated_at, jid, lid, device_id, push_name, phone, platform,
                        business_name, paired_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    [
                        .text(session.organization), .text(session.id), .text(session.name),
                        .text(StoreContents.copiedStatus(session.status).rawValue), .integer(session.createdAt.storeMilliseconds),
                        .integer(session.updatedAt.storeMilliseconds), .text(identity?.jid), .text(identity?.lid),
                        identity.map { .integer(Int64($0.deviceID)) } ?? .null, .text(identity?.pushName), .text(identity?.phone),
                        .text(identity?.platform), .text(identity?.businessName), session.pairedAt.map { .integer($0.storeMilliseconds) } ?? .null,
                    ])
                if let sealed {
                    try connection.execute(
                        "INSERT INTO session_credentials (organization, session_id, sealed, updated_at) VALUES (?, ?, ?, ?)",
                        [.text(session.organization), .text(session.id), .blob(sealed), .integer(clock.now.storeMilliseconds)])
                }
            }
            for record in contents.apiKeys {
                let key = record.key
                try connection.execute(
                    """
                    INSERT INTO api_keys (id, organization, name, permissions, key_hash, display_prefix, created_at, revoked_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    [
                        .text(key.id), .text(key.organization), .text(key.name), .text(key.permissions.sorted().joined(separator: " ")),
                        .blob(record.hash), .text(key.displayPrefix), .integer(key.createdAt.storeMilliseconds),
                        key.revokedAt.map { .integer($0.storeMilliseconds) } ?? .null,
                    ])
            }
        }
    }
}
