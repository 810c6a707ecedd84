import Auth
import Synchronization

/// An in-memory key store standing in for the real one; counts lookups and can fail them all.
final class FakeAPIKeyResolver: APIKeyResolver {
    struct Down: Error, CustomStringConvertible {
        var description: String { "store unavailable" }
    }

    private let keys: [String: ResolvedAPIKey]
    private let state = Mutex((lookups: 0, down: false))

    init(_ keys: [String: ResolvedAPIKey]) {
        self.keys = keys
    }

    var lookups: Int { state.withLock { $0.lookups } }

    func goDown() {
        state.withLock { $0.down = true }
    }

    func resolve(_ key: String) async throws -> ResolvedAPIKey? {
        let down = state.withLock { state in
            state.lookups += 1
            return state.down
        }
        if down { throw Down() }
        return keys[key]
    }
}
