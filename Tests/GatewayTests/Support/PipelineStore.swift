import Foundation
import Store

/// The store of broker-free pipeline tests.
enum PipelineStore {
    static func make() async throws -> any WalinkStore {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("walink-pipeline-\(UUID().uuidString).db").path
        return try await SQLiteStore.open(path: path, key: .key(.random()))
    }
}
