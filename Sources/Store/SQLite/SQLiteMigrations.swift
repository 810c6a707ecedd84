import Foundation

/// The schema, as forward-only steps. Each runs once, in order, inside the same `BEGIN IMMEDIATE`
/// transaction that records it in `schema_migrations`, so workers starting together migrate
/// once and a crash mid-way leaves the previous version. Never edit a released step: add one.
enum SQLiteMigrations {
    struct Step {
        let version: Int64
        let sql: String
    }

    static let steps: [Step] = [
        Step(
            version: 1,
            sql: """
                CREATE TABLE metadata (
                    name TEXT PRIMARY KEY,
                    value BLOB NOT NULL
                ) WITHOUT ROWID;

                CREATE TABLE sessions (
                    organization TEXT NOT NULL,
                    id TEXT NOT NULL,
                    name TEXT,
                    status TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    jid TEXT,
                    lid TEXT,
                    device_id INTEGER,
                    push_name TEXT,
                    phone TEXT,
                    platform TEXT,
                    business_name TEXT,
                    paired_at INTEGER,
                    PRIMARY KEY (organization, id)
                );
                CREATE INDEX sessions_by_creation ON sessions (organization, created_at, id);

                CREATE TABLE session_credentials (
                    organization TEXT NOT NULL,
                    session_id TEXT NOT NULL,
                    sealed BLOB NOT NULL,
                    updated_at INTEGER NOT NULL,
                    PRIMARY KEY (organization, session_id),
                    FOREIGN KEY (organization, session_id) REFERENCES sessions (organization, id) ON DELETE CASCADE
                );

                CREATE TABLE session_leases (
                    organization TEXT NOT NULL,
                    session_id TEXT NOT NULL,
                    owner TEXT NOT NULL,
                    acquired_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    generation INTEGER NOT NULL,
                    PRIMARY KEY (organization, session_id),
                    FOREIGN KEY (organization, session_id) REFERENCES sessions (organization, id) ON DELETE CASCADE
                );

                CREATE TABLE api_keys (
                    id TEXT PRIMARY KEY,
                    organization TEXT NOT NULL,
                    name TEXT,
                    permissions TEXT NOT NULL,
                    key_hash BLOB NOT NULL UNIQUE,
                    display_prefix TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    revoked_at INTEGER
                );
                CREATE INDEX api_keys_by_organization ON api_keys (organization, created_at, id);
                """),
        Step(
            version: 2,
            sql: """
                CREATE TABLE command_replies (
                    key TEXT PRIMARY KEY,
                    status INTEGER NOT NULL,
                    body BLOB NOT NULL,
                    expires_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX command_replies_by_expiry ON command_replies (expires_at);
                """),
        // Ownership fenced by worker tenures: one lease row per worker (renewed once per interval,
        // whatever it owns) and one owner row per session naming (worker, epoch). Per-session
        // leases go; a fleet upgrades by stopping every worker of the old version first.
        Step(
            version: 3,
            sql: """
                DROP TABLE session_leases;

                CREATE TABLE worker_leases (
                    worker TEXT PRIMARY KEY,
                    epoch INTEGER NOT NULL,
                    registered_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL
                ) WITHOUT ROWID;

                CREATE TABLE session_owners (
                    organization TEXT NOT NULL,
                    session_id TEXT NOT NULL,
                    worker TEXT NOT NULL,
                    epoch INTEGER NOT NULL,
                    acquired_at INTEGER NOT NULL,
                    PRIMARY KEY (organization, session_id),
                    FOREIGN KEY (organization, session_id) REFERENCES sessions (organization, id) ON DELETE CASCADE
                );
                CREATE INDEX session_owners_by_worker ON session_owners (worker, epoch);
                """),
    ]

    static var latestVersion: Int64 { steps.last?.version ?? 0 }

    /// Brings the database to `latestVersion`; answers the version found before. Runs inside a
    /// write transaction the caller opened.
    static func migrate(_ connection: SQLiteConnection, now: Int64) throws -> Int64 {
        try connection.executeScript(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY,
                applied_at INTEGER NOT NULL
            )
            """)
        let current = try connection.query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations") { $0.integer(0) }.first ?? 0
        guard current <= latestVersion else {
            throw StoreError(.schemaTooNew, "the database has schema version \(current); this build knows up to \(latestVersion)")
        }
        for step in steps where step.version > current {
            try connection.executeScript(step.sql)
            try connection.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", [.integer(step.version), .integer(now)])
        }
        return current
    }
}
