import Crypto
import Foundation

extension SQLiteStore {
    private static let apiKeyColumns = "id, organization, name, permissions, display_prefix, created_at, revoked_at, key_hash"

    static func apiKey(_ row: SQLiteRow) -> APIKey {
        APIKey(
            id: row.text(0),
            organization: row.text(1),
            name: row.optionalText(2),
            permissions: Set(row.text(3).split(separator: " ").map(String.init)),
            displayPrefix: row.text(4),
            createdAt: Date(storeMilliseconds: row.integer(5)),
            revokedAt: row.optionalInteger(6).map(Date.init(storeMilliseconds:))
        )
    }

    public func createAPIKey(organization: String, name: String?, permissions: Set<String>) async throws(StoreError) -> CreatedAPIKey {
        try StoreValidation.organization(organization)
        try StoreValidation.name(name)
        try StoreValidation.permissions(permissions)
        let key = APIKeyFormat.generate()
        let hash = Data(APIKeyFormat.hash(key))
        let displayPrefix = APIKeyFormat.displayPrefix(of: key)
        let record = try await perform(writing: true) { [clock, ids] connection in
            let now = clock.now.truncatedToStoreMilliseconds
            let record = APIKey(
                id: APIKey.idPrefix + ids.next(at: now),
                organization: organization,
                name: name,
                permissions: permissions,
                displayPrefix: displayPrefix,
                createdAt: now,
                revokedAt: nil
            )
            try connection.execute(
                "INSERT INTO api_keys (id, organization, name, permissions, key_hash, display_prefix, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    .text(record.id), .text(organization), .text(name), .text(permissions.sorted().joined(separator: " ")),
                    .blob(hash), .text(displayPrefix), .integer(now.storeMilliseconds),
                ]
            )
            return record
        }
        return CreatedAPIKey(key: key, record: record)
    }

    public func listAPIKeys(organization: String) async throws(StoreError) -> [APIKey] {
        try StoreValidation.organization(organization)
        return try await perform(writing: false) { connection in
            try connection.query(
                "SELECT \(Self.apiKeyColumns) FROM api_keys WHERE organization = ? ORDER BY created_at, id",
                [.text(organization)],
                Self.apiKey
            )
        }
    }

    public func revokeAPIKey(organization: String, id: String) async throws(StoreError) -> APIKey {
        try StoreValidation.organization(organization)
        guard StoreValidation.isValidSessionID(id) else { throw StoreError(.notFound, "API key not found") }
        return try await perform(writing: true) { [clock] connection in
            let key: [SQLiteValue] = [.text(organization), .text(id)]
            let changed = try connection.execute(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE organization = ? AND id = ?",
                [.integer(clock.now.storeMilliseconds)] + key
            )
            guard changed > 0,
                let record = try connection.query("SELECT \(Self.apiKeyColumns) FROM api_keys WHERE organization = ? AND id = ?", key, Self.apiKey)
                    .first
            else { throw StoreError(.notFound, "API key not found") }
            return record
        }
    }

    public func lookupAPIKey(_ key: String) async throws(StoreError) -> APIKey? {
        guard APIKeyFormat.isWellFormed(key) else { return nil }
        let digest = APIKeyFormat.hash(key)
        let found = try await perform(writing: false) { connection in
            try connection.query(
                "SELECT \(Self.apiKeyColumns) FROM api_keys WHERE key_hash = ?",
                [.blob(Data(digest))]
            ) { row in (Self.apiKey(row), row.blob(7)) }.first
        }
        // The index found the row by hash; compare again in constant time (swift-crypto's digest
        // comparison) so no code path ever compares key material byte by byte with early exit.
        guard let (record, storedHash) = found, digest == storedHash else { return nil }
        return record
    }
}
