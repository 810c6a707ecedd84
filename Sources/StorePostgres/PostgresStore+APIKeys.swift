import Crypto
import Foundation
import PostgresNIO
import Store

extension PostgresStore {
    static func apiKey(_ row: PostgresRow) throws -> (APIKey, Data) {
        let (id, organization, name, permissions, displayPrefix, created, revoked, hash) = try row.decode(
            (String, String, String?, String, String, Int64, Int64?, Data).self)
        let record = APIKey(
            id: id, organization: organization, name: name, permissions: Set(permissions.split(separator: " ").map(String.init)),
            displayPrefix: displayPrefix, createdAt: Date(storeMilliseconds: created), revokedAt: revoked.map(Date.init(storeMilliseconds:)))
        return (record, hash)
    }

    public func createAPIKey(organization: String, name: String?, permissions: Set<String>) async throws(StoreError) -> CreatedAPIKey {
        try StoreValidation.organization(organization)
        try StoreValidation.name(name)
        try StoreValidation.permissions(permissions)
        let key = APIKeyFormat.generate()
        let hash = Data(APIKeyFormat.hash(key))
        let displayPrefix = APIKeyFormat.displayPrefix(of: key)
        let record = try await perform { [ids] connection in
            let now = try await self.now(connection)
            let created = Date(storeMilliseconds: now)
            let record = APIKey(
                id: APIKey.idPrefix + ids.next(at: created), organization: organization, name: name, permissions: permissions,
                displayPrefix: displayPrefix, createdAt: created, revokedAt: nil)
            try await connection.run(
                """
                INSERT INTO api_keys (id, organization, name, permissions, key_hash, display_prefix, created_at)
                VALUES (\(record.id), \(organization), \(name), \(permissions.sorted().joined(separator: " ")), \(hash), \(displayPrefix), \(now))
                """, logger: self.logger)
            return record
        }
        return CreatedAPIKey(key: key, record: record)
    }

    public func listAPIKeys(organization: String) async throws(StoreError) -> [APIKey] {
        try StoreValidation.organization(organization)
        return try await perform { connection in
            try await connection.run(
                """
                SELECT id, organization, name, permissions, display_prefix, created_at, revoked_at, key_hash
                FROM api_keys WHERE organization = \(organization) ORDER BY created_at, id
                """, logger: self.logger
            ).map { try Self.apiKey($0).0 }
        }
    }

    public func revokeAPIKey(organization: String, id: String) async throws(StoreError) -> APIKey {
        try StoreValidation.organization(organization)
        guard StoreValidation.isValidSessionID(id) else { throw StoreError(.notFound, "API key not found") }
        return try await perform { connection in
            let now = try await self.now(connection)
            let rows = try await connection.run(
                """
                UPDATE api_keys SET revoked_at = coalesce(revoked_at, \(now)) WHERE organization = \(organization) AND id = \(id)
                RETURNING id, organization, name, permissions, display_prefix, created_at, revoked_at, key_hash
                """, logger: self.logger
            )
            guard let row = rows.first else { throw StoreError(.notFound, "API key not found") }
            return try Self.apiKey(row).0
        }
    }

    public func lookupAPIKey(_ key: String) async throws(StoreError) -> APIKey? {
        guard APIKeyFormat.isWellFormed(key) else { return nil }
        let digest = APIKeyFormat.hash(key)
        let found = try await perform(transaction: false) { connection in
            try await connection.run(
                """
                SELECT id, organization, name, permissions, display_prefix, created_at, revoked_at, key_hash
                FROM api_keys WHERE key_hash = \(Data(digest))
                """, logger: self.logger
            ).first.map(Self.apiKey)
        }
        // Found by hash; compare again in constant time, as the other stores do.
        guard let (record, storedHash) = found, digest == storedHash else { return nil }
        return record
    }
}
