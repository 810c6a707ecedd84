import Crypto
import Foundation
import Testing

@testable import Store

@Suite struct ConfigurationTests {
    @Test func defaultsFromAnEmptyEnvironment() throws {
        let configuration = try StoreConfiguration(environment: [:])
        #expect(configuration.location == .sqlite(path: "walink.db"))
        guard case .file(nil) = configuration.key else {
            Issue.record("expected the default key file")
            return
        }
        let emptyKey = try StoreConfiguration(environment: ["WALINK_STORE": "", "WALINK_STORE_KEY": ""])
        #expect(emptyKey.location == .sqlite(path: "walink.db"))
    }

    @Test(arguments: [
        ("sqlite:walink.db", "walink.db"),
        ("sqlite:data/walink.db", "data/walink.db"),
        ("sqlite:/var/lib/walink/walink.db", "/var/lib/walink/walink.db"),
        ("sqlite:///var/lib/walink/walink.db", "/var/lib/walink/walink.db"),
        ("sqlite:///tmp/with%20space.db", "/tmp/with space.db"),
    ])
    func sqliteURLs(url: String, path: String) throws {
        #expect(try StoreLocation(url: url) == .sqlite(path: path))
    }

    @Test(arguments: ["", "walink.db", "sqlite:", "sqlite://host/db", "sqlite:///", "sqlite:dir/", "sqlite::memory:", "mysql://x", "SQLITE:x.db"])
    func invalidURLs(url: String) {
        #expect(throws: StoreError(.invalidConfiguration)) { try StoreLocation(url: url) }
    }

    @Test func postgresURLs() throws {
        let full = try PostgresSettings(url: "postgres://walink:hun%40ter2@db.internal:6543/fleet?sslmode=verify-full&sslrootcert=/etc/ca.pem")
        #expect(full.host == "db.internal")
        #expect(full.port == 6543)
        #expect(full.user == "walink")
        #expect(full.password == "hun@ter2")
        #expect(full.database == "fleet")
        #expect(full.tlsMode == .verifyFull)
        #expect(full.rootCertificatePath == "/etc/ca.pem")
        #expect(full.socketPath == nil)

        let defaults = try PostgresSettings(url: "postgresql://walink@db/walink")
        #expect(defaults.port == 5432)
        #expect(defaults.password == nil)
        #expect(defaults.tlsMode == .prefer, "libpq's default")

        let socket = try PostgresSettings(url: "postgres://walink@/walink?host=/run/postgresql&sslmode=disable")
        #expect(socket.socketPath == "/run/postgresql/.s.PGSQL.5432")
        for mode in PostgresSettings.TLSMode.allCases {
            #expect(try PostgresSettings(url: "postgres://u@h/d?sslmode=\(mode.rawValue)").tlsMode == mode)
        }
    }

    @Test(arguments: [
        "postgres://h/db", "postgres://u@h/", "postgres://u@h/a/b", "postgres://u@h/d?sslmode=verify-ca", "postgres://u@h/d?sslmode=allow",
        "postgres://u@h/d?host=relative", "postgres://u@h/d?application_name=x", "postgres://u@h:99999/d", "postgres://u@h/d?sslrootcert=",
    ])
    func invalidPostgresURLs(url: String) {
        #expect(throws: StoreError(.invalidConfiguration)) { try PostgresSettings(url: url) }
    }

    /// A PostgreSQL configuration needs a key (no key file beside a shared database), and nothing
    /// printed about it shows the password.
    @Test func postgresNeedsAKeyAndNeverPrintsItsPassword() throws {
        let url = "postgres://walink:hunter2@db.internal:5432/walink"
        do {
            _ = try StoreConfiguration(environment: ["WALINK_STORE": url])
            Issue.record("a PostgreSQL store without a key must be refused")
        } catch {
            #expect(error.code == .invalidConfiguration)
            #expect(!error.description.contains("hunter2"))
        }
        let configuration = try StoreConfiguration(environment: [
            "WALINK_STORE": url, "WALINK_STORE_KEY_FILE": "/etc/walink/key", "WALINK_STORE_TIMEOUT": "2.5",
        ])
        #expect(configuration.timeout == .milliseconds(2500))
        guard case .postgres(let settings) = configuration.location else {
            Issue.record("expected a PostgreSQL location")
            return
        }
        for text in [String(describing: settings), String(reflecting: settings), "\(configuration.location)", String(reflecting: configuration)] {
            #expect(!text.contains("hunter2"), "\(text)")
        }
        #expect(throws: StoreError(.invalidConfiguration)) {
            try StoreConfiguration(environment: ["WALINK_STORE": url, "WALINK_STORE_KEY_FILE": "/k", "WALINK_STORE_TIMEOUT": "soon"])
        }
    }

    @Test func keysInHexAndBase64() throws {
        let hex = testKeyBytes.map { String(format: "%02x", $0) }.joined()
        let base64 = testKeyBytes.base64EncodedString()
        let urlSafe = base64.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let sealer = CredentialSealer(storeKey: testKey)
        let check = try sealer.makeKeyCheck()
        for text in [hex, hex.uppercased(), base64, urlSafe, " \(base64)\n"] {
            let configuration = try StoreConfiguration(environment: ["WALINK_STORE_KEY": text])
            guard case .key(let key) = configuration.key else {
                Issue.record("expected a configured key")
                continue
            }
            #expect(CredentialSealer(storeKey: key).verifyKeyCheck(check))
        }
    }

    @Test(arguments: [
        "short", String(repeating: "ab", count: 31), Data(count: 31).base64EncodedString(), Data(count: 33).base64EncodedString(),
        String(repeating: "zz", count: 32),
    ])
    func badKeysAreRefusedWithoutEchoingThem(text: String) {
        do {
            _ = try StoreConfiguration(environment: ["WALINK_STORE_KEY": text])
            Issue.record("a malformed key must be refused")
        } catch {
            #expect(error.code == .invalidConfiguration)
            #expect(!error.description.contains(text))
        }
    }

    @Test func keyNeverPrints() throws {
        let key = testKey
        for text in [String(describing: key), String(reflecting: key), "\(key)", String(describing: StoreKeySource.key(key))] {
            #expect(!text.contains(testKeyBytes.base64EncodedString()))
            #expect(!text.contains(testKeyBytes.map { String(format: "%02x", $0) }.joined()))
        }
        var dumped = ""
        dump(key, to: &dumped)
        #expect(!dumped.contains(testKeyBytes.base64EncodedString()))
        #expect(!dumped.contains("symmetricKey"), "the mirror hides the key's storage")
        #expect(dumped.contains("redacted"))
    }
}

@Suite struct MigrationTests {
    @Test func openingTwiceMigratesOnce() async throws {
        try await withTemporaryDatabase { path in
            let first = try await SQLiteStore.open(path: path, key: .key(testKey))
            _ = try await first.createSession(organization: "org-a", id: "kept", name: nil)
            await first.close()

            let second = try await SQLiteStore.open(path: path, key: .key(testKey))
            let versions = try await second.perform(writing: false) { connection in
                try connection.query("SELECT version FROM schema_migrations ORDER BY version") { $0.integer(0) }
            }
            #expect(versions == SQLiteMigrations.steps.map(\.version))
            #expect(try await second.session(organization: "org-a", id: "kept") != nil)
            let settings = try await second.perform(writing: false) { connection in
                (
                    try connection.query("PRAGMA journal_mode") { $0.text(0) }.first,
                    try connection.query("PRAGMA foreign_keys") { $0.integer(0) }.first
                )
            }
            #expect(settings.0 == "wal")
            #expect(settings.1 == 1)
            await second.close()
        }
    }

    @Test func newerSchemaIsRefused() async throws {
        try await withTemporaryDatabase { path in
            let store = try await SQLiteStore.open(path: path, key: .key(testKey))
            try await store.perform(writing: true) { connection in
                try connection.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)")
            }
            await store.close()
            await #expect(throws: StoreError(.schemaTooNew)) { try await SQLiteStore.open(path: path, key: .key(testKey)) }
        }
    }

    @Test func notADatabaseIsAClearError() async throws {
        try await withTemporaryDatabase { path in
            try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: path))
            await #expect(throws: StoreError(.database)) { try await SQLiteStore.open(path: path, key: .key(testKey)) }
        }
    }
}

@Suite struct TimestampTests {
    @Test func millisecondsSurviveTheRoundTripThroughDate() {
        let samples: [Int64] =
            Array(0...2000) + [1_700_000_000_000, 1_795_594_908_872, 4_102_444_800_000] + (0..<2000).map { 1_700_000_000_000 + $0 * 7919 }
        for milliseconds in samples {
            #expect(Date(storeMilliseconds: milliseconds).storeMilliseconds == milliseconds)
        }
    }
}

@Suite struct SortableIDTests {
    @Test func encodingMatchesTheULIDLayout() {
        #expect(SortableIDGenerator.encode(milliseconds: 0, randomHigh: 0, randomLow: 0) == String(repeating: "0", count: 26))
        #expect(
            SortableIDGenerator.encode(milliseconds: 0xFFFF_FFFF_FFFF, randomHigh: .max, randomLow: .max) == "7" + String(repeating: "Z", count: 25))
        // Time 1 and random 1 land in the last character of each part.
        #expect(SortableIDGenerator.encode(milliseconds: 1, randomHigh: 0, randomLow: 1) == "0000000001" + "000000000000000" + "1")
        // The bit that straddles the two random words: bit 64 is bit 4 of the 13th random digit from the right.
        #expect(
            SortableIDGenerator.encode(milliseconds: 0, randomHigh: 1, randomLow: 0) == "0000000000" + "000" + "G" + String(repeating: "0", count: 12)
        )
        // 1_469_918_176_385 ms is the ULID specification's example time, 01ARYZ6S41.
        #expect(SortableIDGenerator.encode(milliseconds: 1_469_918_176_385, randomHigh: 0, randomLow: 0).prefix(10) == "01ARYZ6S41")
    }

    @Test func monotonicWithinAMillisecondAndWhenTheClockStepsBack() {
        let generator = SortableIDGenerator()
        let start = Date(timeIntervalSince1970: 1_700_000_000)
        var ids = (0..<1000).map { _ in generator.next(at: start) }
        ids.append(generator.next(at: start.addingTimeInterval(-10)))
        ids.append(generator.next(at: start.addingTimeInterval(1)))
        #expect(ids == ids.sorted())
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.count == 26 })
    }
}
