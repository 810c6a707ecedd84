import Foundation
import PostgresNIO
import Store

extension PostgresStore {

    static func session(_ row: PostgresRow) throws -> Session {
        let (organization, id, name, statusText, created, updated, jid, lid, deviceID, pushName, phone, platform, businessName, paired) =
            try row.decode(
                (String, String, String?, String, Int64, Int64, String?, String?, Int64?, String?, String?, String?, String?, Int64?).self)
        guard let status = SessionStatus(rawValue: statusText) else { throw StoreError(.database, "a session has an unknown status") }
        let identity = jid.map { jid in
            SessionIdentity(
                jid: jid, lid: lid, deviceID: Int(deviceID ?? 0), pushName: pushName, phone: phone, platform: platform, businessName: businessName)
        }
        return Session(
            organization: organization, id: id, name: name, status: status, createdAt: Date(storeMilliseconds: created),
            updatedAt: Date(storeMilliseconds: updated), identity: identity, pairedAt: paired.map(Date.init(storeMilliseconds:)))
    }

    /// The session, its row locked for the rest of the transaction when `locking`.
    func fetchSession(_ connection: PostgresConnection, organization: String, id: String, locking: Bool = false) async throws -> Session? {
        let query: PostgresQuery =
            locking
            ? """
            SELECT organization, id, name, status, created_at, updated_at, jid, lid, device_id, push_name, phone, platform, business_name, paired_at
            FROM sessions WHERE organization = \(organization) AND id = \(id) FOR UPDATE
            """
            : """
            SELECT organization, id, name, status, created_at, updated_at, jid, lid, device_id, push_name, phone, platform, business_name, paired_at
            FROM sessions WHERE organization = \(organization) AND id = \(id)
            """
        return try await connection.run(query, logger: logger).first.map(Self.session)
    }

    /// The session with its row locked (the writes about a session serialize on it), or `.notFound`.
    func lockSession(_ connection: PostgresConnection, organization: String, id: String) async throws -> Session {
        guard let session = try await fetchSession(connection, organization: organization, id: id, locking: true) else {
            throw StoreError(.notFound, "session not found")
        }
        return session
    }

    private static func validate(organization: String, id: String) throws(StoreError) {
        try StoreValidation.organization(organization)
        try StoreValidation.sessionID(id)
    }

    public func createSession(organization: String, id: String?, name: String?) async throws(StoreError) -> Session {
        try StoreValidation.organization(organization)
        if let id { try StoreValidation.sessionID(id) }
        try StoreValidation.name(name)
        return try await perform { [ids] connection in
            let now = try await self.now(connection)
            let created = Date(storeMilliseconds: now)
            for _ in 0..<3 {
                let sessionID = id ?? Session.generatedIDPrefix + ids.next(at: created)
                let inserted = try await connection.run(
                    """
                    INSERT INTO sessions (organization, id, name, status, created_at, updated_at)
                    VALUES (\(organization), \(sessionID), \(name), \(SessionStatus.created.rawValue), \(now), \(now))
                    ON CONFLICT (organization, id) DO NOTHING RETURNING 1
                    """, logger: self.logger
                )
                if !inserted.isEmpty {
                    return Session(organization: organization, id: sessionID, name: name, status: .created, createdAt: created, updatedAt: created)
                }
                if id != nil { throw StoreError(.conflict, "session \(sessionID) already exists") }
            }
            throw StoreError(.conflict, "could not generate an unused session id")
        }
    }

    public func session(organization: String, id: String) async throws(StoreError) -> Session? {
        try Self.validate(organization: organization, id: id)
        // One SELECT: no transaction needed.
        return try await perform(transaction: false) { connection in try await self.fetchSession(connection, organization: organization, id: id) }
    }

    public func listSessions(organization: String, limit: Int, cursor: String?) async throws(StoreError) -> SessionPage {
        try StoreValidation.organization(organization)
        try StoreValidation.limit(limit)
        let after = try cursor.map { (cursor) throws(StoreError) in try SessionCursor(decoding: cursor) }
        return try await perform { connection in
            let fetchCount = limit + 1
            let query: PostgresQuery
            if let after {
                query = """
                    SELECT organization, id, name, status, created_at, updated_at, jid, lid, device_id, push_name, phone, platform, business_name, paired_at
                    FROM sessions WHERE organization = \(organization) AND (created_at, id) > (\(after.createdMilliseconds), \(after.id))
                    ORDER BY created_at, id LIMIT \(fetchCount)
                    """
            } else {
                query = """
                    SELECT organization, id, name, status, created_at, updated_at, jid, lid, device_id, push_name, phone, platform, business_name, paired_at
                    FROM sessions WHERE organization = \(organization) ORDER BY created_at, id LIMIT \(fetchCount)
                    """
            }
            let sessions = try await connection.run(query, logger: self.logger).map(Self.session)
            return SessionPage(fetched: sessions, limit: limit)
        }
    }

    public func deleteSession(organization: String, id: String) async throws(StoreError) {
        try Self.validate(organization: organization, id: id)
        try await perform { connection in
            // Credentials and ownership go with the row (ON DELETE CASCADE).
            let deleted = try await connection.run(
                "DELETE FROM sessions WHERE organization = \(organization) AND id = \(id) RETURNING 1", logger: self.logger
            )
            guard !deleted.isEmpty else { throw StoreError(.notFound, "session not found") }
        }
    }

    public func setStatus(organization: String, id: String, status: SessionStatus, fence: WorkerTenure?) async throws(StoreError) -> Session {
        try Self.validate(organization: organization, id: id)
        try StoreValidation.statusOtherThanPaired(status)
        return try await perform { connection in
            var session = try await self.lockSession(connection, organization: organization, id: id)
            try await self.checkFence(fence, connection, organization: organization, session: id)
            guard session.status != .paired else { throw StoreError(.invalidState, "session is paired; unpair it first") }
            let now = try await self.now(connection)
            try await connection.run(
                "UPDATE sessions SET status = \(status.rawValue), updated_at = \(now) WHERE organization = \(organization) AND id = \(id)",
                logger: self.logger)
            session.status = status
            session.updatedAt = Date(storeMilliseconds: now)
            return session
        }
    }

    public func markPaired(
        organization: String, id: String, identity: SessionIdentity, credentials: Data, fence: WorkerTenure?
    ) async throws(StoreError) -> Session {
        try Self.validate(organization: organization, id: id)
        try StoreValidation.identity(identity)
        let sealed = try sealer.seal(credentials, organization: organization, session: id)
        return try await perform { connection in
            _ = try await self.lockSession(connection, organization: organization, id: id)
            try await self.checkFence(fence, connection, organization: organization, session: id)
            let now = try await self.now(connection)
            try await connection.run(
                """
                UPDATE sessions SET status = \(SessionStatus.paired.rawValue), updated_at = \(now), paired_at = \(now), jid = \(identity.jid),
                    lid = \(identity.lid), device_id = \(Int64(identity.deviceID)), push_name = \(identity.pushName), phone = \(identity.phone),
                    platform = \(identity.platform), business_name = \(identity.businessName)
                WHERE organization = \(organization) AND id = \(id)
                """, logger: self.logger)
            try await self.storeSealed(sealed, connection, organization: organization, id: id, now: now)
            guard let session = try await self.fetchSession(connection, organization: organization, id: id) else {
                throw StoreError(.notFound, "session not found")
            }
            return session
        }
    }

    public func unpair(organization: String, id: String, status: SessionStatus, fence: WorkerTenure?) async throws(StoreError) -> Session {
        try Self.validate(organization: organization, id: id)
        try StoreValidation.statusOtherThanPaired(status)
        return try await perform { connection in
            _ = try await self.lockSession(connection, organization: organization, id: id)
            try await self.checkFence(fence, connection, organization: organization, session: id)
            let now = try await self.now(connection)
            try await connection.run(
                """
                UPDATE sessions SET status = \(status.rawValue), updated_at = \(now), paired_at = NULL, jid = NULL, lid = NULL, device_id = NULL,
                    push_name = NULL, phone = NULL, platform = NULL, business_name = NULL
                WHERE organization = \(organization) AND id = \(id)
                """, logger: self.logger)
            try await connection.run(
                "DELETE FROM session_credentials WHERE organization = \(organization) AND session_id = \(id)", logger: self.logger)
            guard let session = try await self.fetchSession(connection, organization: organization, id: id) else {
                throw StoreError(.notFound, "session not found")
            }
            return session
        }
    }

    public func replaceCredentials(organization: String, id: String, credentials: Data, fence: WorkerTenure?) async throws(StoreError) {
        try Self.validate(organization: organization, id: id)
        let sealed = try sealer.seal(credentials, organization: organization, session: id)
        try await perform { connection in
            let session = try await self.lockSession(connection, organization: organization, id: id)
            try await self.checkFence(fence, connection, organization: organization, session: id)
            guard session.status == .paired else { throw StoreError(.invalidState, "session is not paired") }
            try await self.storeSealed(sealed, connection, organization: organization, id: id, now: try await self.now(connection))
        }
    }

    private func storeSealed(_ sealed: Data, _ connection: PostgresConnection, organization: String, id: String, now: Int64) async throws {
        try await connection.run(
            """
            INSERT INTO session_credentials (organization, session_id, sealed, updated_at) VALUES (\(organization), \(id), \(sealed), \(now))
            ON CONFLICT (organization, session_id) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at
            """, logger: logger)
    }

    public func credentials(organization: String, id: String) async throws(StoreError) -> Data? {
        try Self.validate(organization: organization, id: id)
        let sealed = try await perform { connection in
            try await connection.run(
                "SELECT sealed FROM session_credentials WHERE organization = \(organization) AND session_id = \(id)", logger: self.logger
            ).first?.decode(Data.self)
        }
        return try sealed.map { (sealed) throws(StoreError) in try sealer.open(sealed, organization: organization, session: id) }
    }
}
