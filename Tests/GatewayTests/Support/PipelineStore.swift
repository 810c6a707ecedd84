import Store

/// The store of broker-free pipeline tests: in memory, with the same behaviour as SQLite (the store
/// test suite runs on both).
enum PipelineStore {
    static func make() async throws -> any WalinkStore { MemoryStore() }
}
