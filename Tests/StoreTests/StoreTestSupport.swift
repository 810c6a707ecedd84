import Crypto
import Foundation
import Synchronization

@testable import Store

/// A clock tests move by hand.
final class TestClock: StoreClock {
    private let current: Mutex<Date>

    init(_ start: Date = Date(timeIntervalSince1970: 1_700_000_000)) {
        current = Mutex(start)
    }

    var now: Date { current.withLock { $0 } }

    func advance(_ duration: Duration) {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }
}

/// A unique directory under the system temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("walink-store-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    var databasePath: String { url.appendingPathComponent("walink.db").path }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// Runs `body` with a fresh database path, removing the directory afterwards.
func withTemporaryDatabase<T>(_ body: (String) async throws -> T) async throws -> T {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    return try await body(directory.databasePath)
}

/// Runs `body` with a store on a fresh database (fixed key, test clock), closing it afterwards.
func withStore<T>(clock: TestClock = TestClock(), key: StoreKey = testKey, _ body: (SQLiteStore, String) async throws -> T) async throws -> T {
    try await withTemporaryDatabase { path in
        let store = try await SQLiteStore.open(path: path, key: .key(key), clock: clock)
        do {
            let result = try await body(store, path)
            await store.close()
            return result
        } catch {
            await store.close()
            throw error
        }
    }
}

let testKeyBytes = Data((0..<32).map { UInt8($0 * 7 + 3) })
let testKey = try! StoreKey(SymmetricKey(data: testKeyBytes))

/// The bytes of the database and its WAL, as an attacker with the files would see them.
func databaseFileBytes(_ path: String) -> Data {
    var bytes = Data()
    for suffix in ["", "-wal", "-journal"] {
        if let data = FileManager.default.contents(atPath: path + suffix) { bytes.append(data) }
    }
    return bytes
}

extension Data {
    func contains(bytes needle: Data) -> Bool { range(of: needle) != nil }
}

/// A sample identity as pair-success would report it.
let sampleIdentity = SessionIdentity(
    jid: "628123456789:12@s.whatsapp.net",
    lid: "123456789012345:12@lid",
    deviceID: 12,
    pushName: "Ana",
    phone: "628123456789",
    platform: "android",
    businessName: nil
)
