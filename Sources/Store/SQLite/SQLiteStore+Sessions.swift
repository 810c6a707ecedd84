import Foundation

extension SQLiteStore {
    private static let sessionColumns =
        "organization, id, name, status, created_at, updated_at, jid, lid, device_id, push_name, phone, platform, business_name, paired_at"

    static func session(_ row: SQLiteRow) throws -> Session {
        guard let status = SessionStatus(rawValue: row.text(3)) else {
            throw StoreError(.database, "a session has an unknown status")
        }
        var identity: SessionIdentity? = nil
        if let jid = row.optionalText(6) {
            identity = SessionIdentity(
                jid: jid,
                lid: row.optionalText(7),
                deviceID: Int(row.integer(8)),
                pushName: row.optionalText(9),
                phone: row.optionalText(10),
                platform: row.optionalText(11),
                businessName: row.optionalText(12)
            )
        }
        return Session(
            organization: row.text(0),
            id: row.text(1),
            name: row.optionalText(2),
            status: status,
            createdAt: Date(storeMilliseconds: row.integer(4)),
            updatedAt: Date(storeMilliseconds: row.integer(5)),
            identity: identity,
            pairedAt: row.optionalInteger(13).map(Date.init(storeMilliseconds:))
        )
    }

    private static func fetchSession(_ connection: SQLiteConnection, organization: String, id: String) throws -> Session? {
        try connection.query(
            "SELECT \(sessionColumns) FROM sessions WHERE organization = ? AND id = ?",
            [.text(organization), .text(id)],
            session
        ).first
    }

    private static func requireSession(_ connection: SQLiteConnection, organization: String, id: String) throws -> Session {
        guard let session = try fetchSession(connection, organization: organization, id: id) else {
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
        return try await perform(writing: true) { [clock, ids] connection in
            let now = clock.now.truncatedToStoreMilliseconds
            // A generated id can only collide with another process's id from the same
            // millisecond with the same 80 random bits; try a fresh one anyway.
            for _ in 0..<3 {
                let sessionID = id ?? Session.generatedIDPrefix + ids.next(at: now)
                do {
                    try connection.execute(
                        "INSERT INTO sessions (organization, id, name, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                        [
                            .text(organization), .text(sessionID), .text(name), .text(SessionStatus.created.rawValue),
                            .integer(now.storeMilliseconds), .integer(now.storeMilliseconds),
                        ]
                    )
                    return Session(organization: organization, id: sessionID, name: name, status: .created, createdAt: now, updatedAt: now)
                } catch let failure as SQLiteFailure where failure.isPrimaryKeyConflict && id == nil {
                    continue
                } catch let failure as SQLiteFailure where failure.isPrimaryKeyConflict {
                    throw StoreError(.conflict, "session \(sessionID) already exists")
                }
            }
            throw StoreError(.conflict, "could not generate an unused session id")
        }
    }

    public func session(organization: String, id: String) async throws(StoreError) -> Session? {
        try Self.validate(organization: organization, id: id)
        return try await perform(writing: false) { connection in
            try Self.fetchSession(connection, organization: organization, id: id)
        }
    }

    public func listSessions(organization: String, limit: Int, cursor: String?) async throws(StoreError) -> SessionPage {
        try StoreValidation.organization(organization)
        try StoreValidation.limit(limit)
        let after = try cursor.map { (cursor) throws(StoreError) in try SessionCursor(decoding: cursor) }
        return try await perform(writing: false) { connection in
            let sessions: [Session]
            if let after {
                sessions = try connection.query(
                    "SELECT \(Self.sessionColumns) FROM sessions WHERE organization = ? AND (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?",
                    [.text(organization), .integer(after.createdMilliseconds), .text(after.id), .integer(Int64(limit) + 1)],
                    Self.session
                )
            } else {
                sessions = try connection.query(
                    "SELECT \(Self.sessionColumns) FROM sessions WHERE organization = ? ORDER BY created_at, id LIMIT ?",
                    [.text(organization), .integer(Int64(limit) + 1)],
                    Self.session
                )
            }
            return SessionPage(fetched: sessions, limit: limit)
        }
    }

    public func deleteSession(organization: String, id: String) async throws(StoreError) {
        try Self.validate(organization: organization, id: id)
        try await perform(writing: true) { connection in
            // The foreign keys cascade too; deleting explicitly keeps that true even if a
            // connection ever ran without `foreign_keys`.
            let key: [SQLiteValue] = [.text(organization), .text(id)]
            try connection.execute("DELETE FROM session_credentials WHERE organization = ? AND session_id = ?", key)
            try connection.execute("DELETE FROM session_owners WHERE organization = ? AND session_id = ?", key)
            guard try connection.execute("DELETE FROM sessions WHERE organization = ? AND id = ?", key) > 0 else {
                throw StoreError(.notFound, "session not found")
            }
        }
    }

    public func setStatus(organization: String, id: String, status: SessionStatus, fence: WorkerTenure?) async throws(StoreError) -> Session {
        try Self.validate(organization: organization, id: id)
        try StoreValidation.statusOtherThanPaired(status)
        return try await perform(writing: true) { [clock] connection in
            var session = try Self.requireSession(connection, organization: organization, id: id)
            try Self.checkFence(fence, connection, organization: organization, session: id, now: clock.now.storeMilliseconds)
            guard session.status != .paired else {
                throw StoreError(.invalidState, "session is paired; unpair it first")
            }
            let now = clock.now.truncatedToStoreMilliseconds
            try connection.execute(
                "UPDATE sessions SET status = ?, updated_at = ? WHERE organization = ? AND id = ?",
                [.text(status.rawValue), .integer(now.storeMilliseconds), .text(organization), .text(id)]
            )
            session.status = status
            session.updatedAt = now
            return session
        }
    }

    public func markPaired(
        organization: String, id: String, identity: SessionIdentity, credentials: Data, fence: WorkerTenure?
    ) async throws(StoreError) -> Session {
        try Self.validate(organization: organization, id: id)
        try StoreValidation.identity(identity)
        return try await perform(writing: true) { [clock, sealer] connection in
            _ = try Self.requireSession(connection, organization: organization, id: id)
            try Self.checkFence(fence, connection, organization: organization, session: id, now: clock.now.storeMilliseconds)
            let sealed = try sealer.seal(credentials, organization: organization, session: id)
            let now = clock.now.truncatedToStoreMilliseconds
            let changed = try connection.execute(
                """
                UPDATE sessions SET status = ?, updated_at = ?, paired_at = ?, jid = ?, lid = ?, device_id = ?,
                    push_name = ?, phone = ?, platform = ?, business_name = ?
                WHERE organization = ? AND id = ?
                """,
                [
                    .text(SessionStatus.paired.rawValue), .integer(now.storeMilliseconds), .integer(now.storeMilliseconds),
                    .text(identity.jid), .text(identity.lid), .integer(Int64(identity.deviceID)), .text(identity.pushName),
                    .text(identity.phone), .text(identity.platform), .text(identity.businessName),
                    .text(organization), .text(id),
                ]
            )
            guard changed > 0 else { throw StoreError(.notFound, "session not found") }
            try connection.execute(
                "INSERT OR REPLACE INTO session_credentials (organization, session_id, sealed, updated_at) VALUES (?, ?, ?, ?)",
                [.text(organization), .text(id), .blob(sealed), .integer(now.storeMilliseconds)]
            )
            return try Self.requireSession(connection, organization: organization, id: id)
        }
    }

    public func unpair(organization: String, id: String, status: SessionStatus, fence: WorkerTenure?) async throws(StoreError) -> Session {
        try Self.validate(organization: organization, id: id)
        try StoreValidation.statusOtherThanPaired(status)
        return try await perform(writing: true) { [clock] connection in
            _ = try Self.requireSession(connection, organization: organization, id: id)
            try Self.checkFence(fence, connection, organization: organization, session: id, now: clock.now.storeMilliseconds)
            let now = clock.now.truncatedToStoreMilliseconds
            let changed = try connection.execute(
                """
                UPDATE sessions SET status = ?, updated_at = ?, paired_at = NULL, jid = NULL, lid = NULL, device_id = NULL,
                    push_name = NULL, phone = NULL, platform = NULL, business_name = NULL
                WHERE organization = ? AND id = ?
                """,
                [.text(status.rawValue), .integer(now.storeMilliseconds), .text(organization), .text(id)]
            )
            guard changed > 0 else { throw StoreError(.notFound, "session not found") }
            try connection.execute("DELETE FROM session_credentials WHERE organization = ? AND session_id = ?", [.text(organization), .text(id)])
            return try Self.requireSession(connection, organization: organization, id: id)
        }
    }

    public func replaceCredentials(organization: String, id: String, credentials: Data, fence: WorkerTenure?) async throws(StoreError) {
        try Self.validate(organization: organization, id: id)
        try await perform(writing: true) { [clock, sealer] connection in
            let session = try Self.requireSession(connection, organization: organization, id: id)
            try Self.checkFence(fence, connection, organization: organization, session: id, now: clock.now.storeMilliseconds)
            guard session.status == .paired else {
                throw StoreError(.invalidState, "session is not paired")
            }
            let sealed = try sealer.seal(credentials, organization: organization, session: id)
            try connection.execute(
                "INSERT OR REPLACE INTO session_credentials (organization, session_id, sealed, updated_at) VALUES (?, ?, ?, ?)",
                [.text(organization), .text(id), .blob(sealed), .integer(clock.now.storeMilliseconds)]
            )
        }
    }

    public func credentials(organization: String, id: String) async throws(StoreError) -> Data? {
        try Self.validate(organization: organization, id: id)
        let sealed = try await perform(writing: false) { connection in
            try connection.query(
                "SELECT sealed FROM session_credentials WHERE organization = ? AND session_id = ?",
                [.text(organization), .text(id)]
            ) { $0.blob(0) }.first
        }
        // Decrypt off the database thread: it needs no lock.
        return try sealed.map { (sealed) throws(StoreError) in try sealer.open(sealed, organization: organization, session: id) }
    }
}
