import Foundation
import PostgresNIO
import Store
import Synchronization

extension PostgresStore {
    /// Expired replies are swept at most once a minute per worker, a batch at a time: deleting on
    /// every save (as SQLite does) would make the fleet's workers contend for the same rows.
    private static let sweepInterval: Duration = .seconds(60)

    public func saveReply(key: String, status: Int, body: Data, ttl: Duration) async throws(StoreError) {
        try StoreValidation.replyKey(key)
        let ttlMilliseconds = try StoreValidation.ttl(ttl)
        let sweep = lastReplySweep.withLock { last in
            let now = ContinuousClock.now
            guard last.map({ now - $0 >= Self.sweepInterval }) ?? true else { return false }
            last = now
            return true
        }
        try await perform { connection in
            let now = try await self.now(connection)
            if sweep {
                try await connection.run(
                    "DELETE FROM command_replies WHERE key IN (SELECT key FROM command_replies WHERE expires_at <= \(now) LIMIT 1000)",
                    logger: self.logger)
            }
            // The first record of a key wins. DO NOTHING (not DO UPDATE … WHERE) because a
            // DO UPDATE locks the live row even when its WHERE fails, so concurrent saves of one
            // key would queue behind each other's commits (and run into lock_timeout).
            let inserted = try await connection.run(
                """
                INSERT INTO command_replies (key, status, body, expires_at) VALUES (\(key), \(Int64(status)), \(body), \(now + ttlMilliseconds))
                ON CONFLICT (key) DO NOTHING RETURNING 1
                """, logger: self.logger)
            guard inserted.isEmpty else { return }
            // A key recorded before but expired may be recorded anew (as in SQLite, where it was swept
            // first); a live record is neither changed nor locked.
            try await connection.run(
                """
                UPDATE command_replies SET status = \(Int64(status)), body = \(body), expires_at = \(now + ttlMilliseconds)
                WHERE key = \(key) AND expires_at <= \(now)
                """, logger: self.logger)
        }
    }

    public func reply(key: String) async throws(StoreError) -> StoredReply? {
        try await perform { connection in
            let now = try await self.now(connection)
            return try await connection.run(
                "SELECT status, body FROM command_replies WHERE key = \(key) AND expires_at > \(now)", logger: self.logger
            ).first.map { row in
                let (status, body) = try row.decode((Int64, Data).self)
                return StoredReply(status: Int(status), body: body)
            }
        }
    }
}
