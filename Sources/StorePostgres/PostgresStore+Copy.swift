import Foundation
import PostgresNIO
import Store

extension PostgresStore: CopyableStore {
    public func exportContents() async throws(StoreError) -> StoreContents {
        let (rows, apiKeys) = try await perform { connection in
            let sessions = try await connection.run(
                """
                SELECT s.organization, s.id, s.name, s.status, s.created_at, s.updated_at, s.jid, s.lid, s.device_id, s.push_name, s.phone,
                    s.platform, s.business_name, s.paired_at
                FROM sessions s ORDER BY s.organization, s.created_at, s.id
                """, logger: self.logger
            ).map(Self.session)
            // By organization, then session id.
            var sealed: [String: [String: Data]] = [:]
            for row in try await connection.run("SELECT organization, session_id, sealed FROM session_credentials", logger: self.logger) {
                let (organization, id, blob) = try row.decode((String, String, Data).self)
                sealed[organization, default: [:]][id] = blob
            }
            let keys = try await connection.run(
                """
                SELECT id, organization, name, permissions, display_prefix, created_at, revoked_at, key_hash FROM api_keys ORDER BY created_at, id
                """, logger: self.logger
            ).map { row in
                let (key, hash) = try Self.apiKey(row)
                return StoreContents.APIKeyRecord(key: key, hash: hash)
            }
            return (sessions.map { ($0, sealed[$0.organization]?[$0.id]) }, keys)
        }
        return StoreContents(sessions: try sealer.openedRecords(rows), apiKeys: apiKeys)
    }

    public func importContents(_ contents: StoreContents) async throws(StoreError) {
        let sealed = try sealer.sealedCredentials(of: contents.sessions)
        try await perform(limit: .seconds(600)) { [sealed] connection in
            // Two copies into one database at once: the second waits here, then finds it not empty.
            try await connection.run("LOCK TABLE sessions, api_keys IN EXCLUSIVE MODE", logger: self.logger)
            let used =
                try await connection.run(
                    "SELECT ((SELECT count(*) FROM sessions) + (SELECT count(*) FROM api_keys))::BIGINT", logger: self.logger
                ).first?.decode(Int64.self) ?? 0
            guard used == 0 else { throw StoreError(.conflict, "the target store is not empty; copy only into a new store") }
            let now = try await self.now(connection)
            for (record, sealed) in zip(contents.sessions, sealed) {
                let session = record.session
                let identity = session.identity
                let status = StoreContents.copiedStatus(session.status).rawValue
                try await connection.run(
                    """
                    INSERT INTO sessions (organization, id, name, status, created_at, updated_at, jid, lid, device_id, push_name, phone, platform,
                        business_name, paired_at)
                    VALUES (\(session.organization), \(session.id), \(session.name), \(status), \(session.createdAt.storeMilliseconds),
                        \(session.updatedAt.storeMilliseconds), \(identity?.jid), \(identity?.lid), \(identity.map { Int64($0.deviceID) }),
                        \(identity?.pushName), \(identity?.phone), \(identity?.platform), \(identity?.businessName),
                        \(session.pairedAt?.storeMilliseconds))
                    """, logger: self.logger)
                if let sealed {
                    try await connection.run(
                        """
                        INSERT INTO session_credentials (organization, session_id, sealed, updated_at)
                        VALUES (\(session.organization), \(session.id), \(sealed), \(now))
                        """, logger: self.logger)
                }
            }
            for record in contents.apiKeys {
                let key = record.key
                try await connection.run(
                    """
                    INSERT INTO api_keys (id, organization, name, permissions, key_hash, display_prefix, created_at, revoked_at)
                    VALUES (\(key.id), \(key.organization), \(key.name), \(key.permissions.sorted().joined(separator: " ")), \(record.hash),
                        \(key.displayPrefix), \(key.createdAt.storeMilliseconds), \(key.revokedAt?.storeMilliseconds))
                    """, logger: self.logger)
            }
        }
    }
}
