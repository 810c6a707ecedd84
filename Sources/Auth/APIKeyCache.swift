import Crypto
import Foundation
import Synchronization

/// Resolved API keys, remembered for a short time so that a busy caller does not cost a store
/// lookup per command.
///
/// The bounds are what make it safe:
/// - An entry is trusted only for `lifetime` from the moment its lookup *started*, so a key revoked
///   in the store is refused by every worker at most `lifetime` (plus one lookup) later. A clock
///   that went backwards makes an entry untrusted, never longer-lived.
/// - Only answers are remembered, never failures: when an entry is stale the store is asked again,
///   and if that fails the caller is refused (503), whatever the cache held.
/// - Unknown keys are not remembered, so a key is usable the moment it is created.
/// - At most `capacity` keys; when full, stale entries go first, then everything.
///
/// Entries are keyed by the SHA-256 of the key, so the cache holds no key material.
final class APIKeyCache: Sendable {
    private struct Entry {
        var key: ResolvedAPIKey
        var resolvedAt: Date
    }

    private let entries = Mutex<[SHA256.Digest: Entry]>([:])
    private let lifetime: TimeInterval
    let capacity: Int

    init(lifetime: Duration, capacity: Int) {
        self.lifetime = lifetime.timeInterval
        self.capacity = max(0, capacity)
    }

    /// Whether entries are kept at all (a zero lifetime or capacity turns the cache off).
    var isEnabled: Bool { lifetime > 0 && capacity > 0 }

    static func digest(_ key: String) -> SHA256.Digest {
        var key = key
        return key.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
    }

    /// The key as resolved within the last `lifetime` before `now`, if any.
    func fresh(_ digest: SHA256.Digest, now: Date) -> ResolvedAPIKey? {
        guard isEnabled else { return nil }
        return entries.withLock { entries in
            guard let entry = entries[digest] else { return nil }
            guard isFresh(entry, now: now) else {
                entries[digest] = nil
                return nil
            }
            return entry.key
        }
    }

    /// Remembers what a lookup that started at `resolvedAt` found.
    func insert(_ key: ResolvedAPIKey, for digest: SHA256.Digest, resolvedAt: Date) {
        guard isEnabled else { return }
        entries.withLock { entries in
            if entries[digest] == nil, entries.count >= capacity {
                entries = entries.filter { isFresh($0.value, now: resolvedAt) }
                if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            }
            // A slower lookup that started earlier must not replace a newer answer.
            if let existing = entries[digest], existing.resolvedAt > resolvedAt { return }
            entries[digest] = Entry(key: key, resolvedAt: resolvedAt)
        }
    }

    /// Forgets a key (its lookup failed or found nothing).
    func remove(_ digest: SHA256.Digest) {
        guard isEnabled else { return }
        _ = entries.withLock { $0.removeValue(forKey: digest) }
    }

    var count: Int { entries.withLock { $0.count } }

    private func isFresh(_ entry: Entry, now: Date) -> Bool {
        let age = now.timeIntervalSince(entry.resolvedAt)
        return age >= 0 && age < lifetime
    }
}
