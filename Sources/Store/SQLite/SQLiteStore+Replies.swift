import Foundation

extension SQLiteStore {
    public func saveReply(key: String, status: Int, body: Data, ttl: Duration) async throws(StoreError) {
        try StoreValidation.replyKey(key)
        let ttlMilliseconds = try StoreValidation.ttl(ttl)
        try await perform(writing: true) { [clock] connection in
            let now = clock.now.storeMilliseconds
            // Expired answers go on the way, so the table stays as small as the recent traffic.
            _ = try connection.execute("DELETE FROM command_replies WHERE expires_at <= ?", [.integer(now)])
            _ = try connection.execute(
                "INSERT OR IGNORE INTO command_replies (key, status, body, expires_at) VALUES (?, ?, ?, ?)",
                [.text(key), .integer(Int64(status)), .blob(body), .integer(now + ttlMilliseconds)]
            )
        }
    }

    public func reply(key: String) async throws(StoreError) -> StoredReply? {
        try await perform(writing: false) { [clock] connection in
            let now = clock.now.storeMilliseconds
            return try connection.query(
                "SELECT status, body FROM command_replies WHERE key = ? AND expires_at > ?", [.text(key), .integer(now)]
            ) { row in StoredReply(status: Int(row.integer(0)), body: row.blob(1)) }.first
        }
    }
}
