import Logging
import PostgresNIO
import Store

/// The PostgreSQL schema, as forward-only steps (its own numbering; the tables and columns are
/// SQLite's, with BIGINT epoch milliseconds and BYTEA). All steps run in one transaction that first
/// takes a transaction-level advisory lock, so workers starting together migrate once and wait for
/// each other; PostgreSQL's DDL is transactional, so a crash leaves the previous version.
enum PostgresMigrations {
    struct Step {
        let version: Int64
        let statements: [PostgresQuery]
    }

    /// An arbitrary constant: "walink" in ASCII.
    static let advisoryLockKey: Int64 = 0x7761_6C69_6E6B

    static let steps: [Step] = [
        Step(
            version: 1,
            statements: [
                """
                CREATE TABLE IF NOT EXISTS metadata (name TEXT PRIMARY KEY, value BYTEA NOT NULL)
                """,
                // The database's clock in epoch milliseconds. `clock_timestamp()` moves during a
                // transaction (`now()` would be frozen at BEGIN); `clock_offset` lets tests move it.
                """
                CREATE TABLE clock_offset (offset_ms BIGINT NOT NULL)
                """,
                """
                CREATE FUNCTION walink_now_ms() RETURNS BIGINT VOLATILE LANGUAGE SQL AS $$
                    SELECT (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT + coalesce((SELECT sum(offset_ms) FROM clock_offset), 0)::BIGINT
                $$
                """,
                """
                CREATE TABLE sessions (
                    organization TEXT NOT NULL,
                    id TEXT NOT NULL,
                    name TEXT,
                    status TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    jid TEXT,
                    lid TEXT,
                    device_id BIGINT,
                    push_name TEXT,
                    phone TEXT,
                    platform TEXT,
                    business_name TEXT,
                    paired_at BIGINT,
                    PRIMARY KEY (organization, id)
                )
                """,
                "CREATE INDEX sessions_by_creation ON sessions (organization, created_at, id)",
                """
                CREATE TABLE session_credentials (
                    organization TEXT NOT NULL,
                    session_id TEXT NOT NULL,
                    sealed BYTEA NOT NULL,
                    updated_at BIGINT NOT NULL,
                    PRIMARY KEY (organization, session_id),
                    FOREIGN KEY (organization, session_id) REFERENCES sessions (organization, id) ON DELETE CASCADE
                )
                """,
                """
                CREATE TABLE api_keys (
                    id TEXT PRIMARY KEY,
                    organization TEXT NOT NULL,
                    name TEXT,
                    permissions TEXT NOT NULL,
                    key_hash BYTEA NOT NULL UNIQUE,
                    display_prefix TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    revoked_at BIGINT
                )
                """,
                "CREATE INDEX api_keys_by_organization ON api_keys (organization, created_at, id)",
                """
                CREATE TABLE command_replies (key TEXT PRIMARY KEY, status BIGINT NOT NULL, body BYTEA NOT NULL, expires_at BIGINT NOT NULL)
                """,
                "CREATE INDEX command_replies_by_expiry ON command_replies (expires_at)",
                """
                CREATE TABLE worker_leases (worker TEXT PRIMARY KEY, epoch BIGINT NOT NULL, registered_at BIGINT NOT NULL, expires_at BIGINT NOT NULL)
                """,
                """
                CREATE TABLE session_owners (
                    organization TEXT NOT NULL,
                    session_id TEXT NOT NULL,
                    worker TEXT NOT NULL,
                    epoch BIGINT NOT NULL,
                    acquired_at BIGINT NOT NULL,
                    PRIMARY KEY (organization, session_id),
                    FOREIGN KEY (organization, session_id) REFERENCES sessions (organization, id) ON DELETE CASCADE
                )
                """,
                "CREATE INDEX session_owners_by_worker ON session_owners (worker, epoch)",
            ])
    ]

    static var latestVersion: Int64 { steps.last?.version ?? 0 }

    /// Brings the database to `latestVersion` inside the caller's transaction; answers the version
    /// found before.
    static func migrate(_ connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        // Workers starting together wait here for the first one's migration, longer than the
        // session's usual bounds allow (the caller's startup timeout still bounds the whole).
        try await connection.run("SET LOCAL lock_timeout = '120s'", logger: logger)
        try await connection.run("SET LOCAL statement_timeout = '120s'", logger: logger)
        try await connection.run("SELECT pg_advisory_xact_lock(\(advisoryLockKey))", logger: logger)
        try await connection.run(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)", logger: logger)
        let current =
            try await connection.run("SELECT coalesce(max(version), 0)::BIGINT FROM schema_migrations", logger: logger)
            .first?.decode(Int64.self) ?? 0
        guard current <= latestVersion else {
            throw StoreError(.schemaTooNew, "the database has schema version \(current); this build knows up to \(latestVersion)")
        }
        for step in steps where step.version > current {
            for statement in step.statements { try await connection.run(statement, logger: logger) }
            try await connection.run(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (\(step.version), (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT)",
                logger: logger)
        }
        return current
    }
}
