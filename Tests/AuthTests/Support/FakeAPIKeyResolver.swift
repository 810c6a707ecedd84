import Auth
import Synchronization

/// An in-memory key store standing in for the real one; counts lookups, can fail them all, and
/// can change keys (revoke them) while in use.
final class FakeAPIKeyResolver: APIKeyResolver {
    struct Down: Error, CustomStringConvertible {
        var description: String { "store unavailable" }
    }

    private let state: Mutex<(keys: [String: ResolvedAPIKey], lookups: Int, down: Bool)>

    init(_ keys: [String: ResolvedAPIKey]) {
        state = Mutex((keys, 0, false))
    }

    var lookups: Int { state.withLock { $0.lookups } }

    func goDown() {
        state.withLock { $0.down = true }
    }

    func comeBack() {
        state.withLock { $0.down = false }
    }

    /// Replaces what the store holds for `key` (nil deletes it).
    func set(_ key: String, to record: ResolvedAPIKey?) {
        state.withLock { $0.keys[key] = record }
    }

    func resolve(_ key: String) async throws -> ResolvedAPIKey? {
        let (record, down) = state.withLock { state in
            state.lookups += 1
            return (state.keys[key], state.down)
        }
        if down { throw Down() }
        return record
    }
}
